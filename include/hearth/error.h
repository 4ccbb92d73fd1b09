/* hearth error codes: every libhearth function returns 0 (HEARTH_OK) or a
 * negative code below. Parsers additionally hand back a static, human-readable
 * reason string that already carries the NIP-01 machine-readable prefix
 * ("invalid: ...", "error: ..."), so it can go on the wire unchanged. */
#ifndef HEARTH_ERROR_H
#define HEARTH_ERROR_H

enum hearth_err {
    HEARTH_OK = 0,
    HEARTH_EINVAL = -1,   /* malformed input */
    HEARTH_ENOMEM = -2,   /* allocation failed */
    HEARTH_ETOOBIG = -3,  /* input exceeds a documented bound */
    HEARTH_EBADID = -4,   /* event id does not match its content */
    HEARTH_EBADSIG = -5,  /* signature does not verify */
    HEARTH_ECRYPTO = -6,  /* decryption / MAC / key failure */
    HEARTH_EIO = -7,      /* file or socket error; see errno */
    HEARTH_ENOTFOUND = -8,
    HEARTH_EPERM = -9,    /* e.g. key file readable by others */
    HEARTH_ECANCELED = -10, /* stopped on request (job cancelled) */
    HEARTH_ETIMEDOUT = -11, /* a time limit passed */
    HEARTH_EBUSY = -12      /* a bounded queue or pool is full */
};

/* Short description of an error code; never NULL. */
const char *hearth_strerror(int err);

#endif
