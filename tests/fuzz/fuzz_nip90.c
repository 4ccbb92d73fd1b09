/* NIP-90: any bytes that parse as an event go through the request and
 * reply parsers with fixed keys (the seeds are signed and encrypted with
 * the same test keys, so the encrypted paths are reached). Nothing may
 * crash or leak; an accepted request must hold its bounds, and the result
 * and feedback built for it must parse back for its customer. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/keys.h"
#include "hearth/nip90.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 0x11.. is the customer of the seeds, 0x22.. their provider */
static void keys(uint8_t csk[32], uint8_t cpk[32], uint8_t psk[32])
{
    memset(csk, 0x11, 32);
    memset(psk, 0x22, 32);
    if (hearth_key_pubkey(csk, cpk) != HEARTH_OK)
        abort();
}

static void check_bounds(const hearth_job_request *r)
{
    if (r->ninputs > HEARTH_NIP90_MAX_INPUTS ||
        r->nparams > HEARTH_NIP90_MAX_PARAMS ||
        r->nrelays > HEARTH_NIP90_MAX_RELAYS ||
        r->nproviders > HEARTH_NIP90_MAX_PROVIDERS ||
        r->nroute > HEARTH_NIP90_MAX_ROUTE || !r->json)
        abort();
    for (size_t i = 0; i < r->ninputs; i++)
        if (r->inputs[i].len > HEARTH_NIP90_MAX_INPUT ||
            !r->inputs[i].type || !r->inputs[i].marker)
            abort();
    if (r->enc != HEARTH_NIP90_PLAIN && r->nproviders != 1)
        abort();
}

/* What a provider would send back must read back for the customer. */
static void answer(const hearth_job_request *r, const uint8_t psk[32],
                   const uint8_t csk[32], const uint8_t cpk[32])
{
    int readable = r->enc == HEARTH_NIP90_PLAIN ||
                   !memcmp(r->customer, cpk, 32);
    hearth_event *ev = NULL;
    if (hearth_nip90_result_build(r, "out", 3, 7, "lnbc1", psk, 1, &ev) !=
        HEARTH_OK)
        abort();
    if (hearth_event_sign(ev, psk) != HEARTH_OK)
        abort();
    hearth_job_reply *rep = NULL;
    int rc = hearth_nip90_reply_parse(ev, csk, &rep, NULL);
    if (readable && (rc != HEARTH_OK || rep->content_len != 3 ||
                     rep->amount_msat != 7))
        abort();
    hearth_job_reply_free(rep);
    hearth_event_free(ev);

    hearth_nip90_feedback fb = {HEARTH_NIP90_PROCESSING, "50%", 50, 0, NULL,
                                NULL, 0};
    if (hearth_nip90_feedback_build(r, &fb, psk, 1, &ev) != HEARTH_OK ||
        hearth_event_sign(ev, psk) != HEARTH_OK)
        abort();
    rep = NULL;
    rc = hearth_nip90_reply_parse(ev, csk, &rep, NULL);
    if (readable && (rc != HEARTH_OK || rep->percent != 50 ||
                     rep->status != HEARTH_NIP90_PROCESSING))
        abort();
    hearth_job_reply_free(rep);
    hearth_event_free(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t csk[32], cpk[32], psk[32];
    keys(csk, cpk, psk);
    hearth_event *ev = NULL;
    if (hearth_event_parse((const char *)data, size, 0, &ev, NULL) !=
        HEARTH_OK)
        return 0;
    hearth_job_request *r = NULL;
    const char *why = NULL;
    int rc = hearth_nip90_request_parse(ev, psk, &r, &why);
    if ((rc == HEARTH_OK) != (r != NULL) || (rc != HEARTH_OK && !why))
        abort();
    if (r) {
        check_bounds(r);
        answer(r, psk, csk, cpk);
    }
    hearth_job_request_free(r);

    hearth_job_reply *rep = NULL;
    why = NULL;
    rc = hearth_nip90_reply_parse(ev, csk, &rep, &why);
    if ((rc == HEARTH_OK) != (rep != NULL) || (rc != HEARTH_OK && !why))
        abort();
    if (rep && (!rep->content || !rep->info || !rep->bolt11))
        abort();
    hearth_job_reply_free(rep);
    hearth_event_free(ev);
    return 0;
}
