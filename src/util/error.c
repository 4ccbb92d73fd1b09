#include "hearth/error.h"

const char *hearth_strerror(int err)
{
    switch (err) {
    case HEARTH_OK: return "ok";
    case HEARTH_EINVAL: return "invalid input";
    case HEARTH_ENOMEM: return "out of memory";
    case HEARTH_ETOOBIG: return "input too large";
    case HEARTH_EBADID: return "event id does not match its content";
    case HEARTH_EBADSIG: return "bad signature";
    case HEARTH_ECRYPTO: return "cryptographic failure";
    case HEARTH_EIO: return "i/o error";
    case HEARTH_ENOTFOUND: return "not found";
    case HEARTH_EPERM: return "permission problem";
    case HEARTH_ECANCELED: return "cancelled";
    case HEARTH_ETIMEDOUT: return "timed out";
    case HEARTH_EBUSY: return "busy";
    }
    return "unknown error";
}
