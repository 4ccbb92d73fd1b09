/* Discovery write policy shared by hearth relay and the strfry plugin. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/nip13.h"
#include "hearth/policy.h"
#include "tap.h"

static hearth_event *ev_of(uint32_t kind, int64_t at)
{
    hearth_event *ev = NULL;
    uint8_t sk[32];
    hearth_key_generate(sk);
    CHECK(hearth_event_new(kind, at, "x", 1, &ev) == 0);
    CHECK(hearth_event_sign(ev, sk) == 0);
    return ev;
}

static int accepts(const hearth_policy *p, uint32_t kind, const char **why)
{
    hearth_event *ev = ev_of(kind, 1000);
    int rc = hearth_policy_check(p, ev, 1000, why);
    hearth_event_free(ev);
    return rc == HEARTH_OK;
}

int main(void)
{
    hearth_policy p;
    const char *why = NULL;
    hearth_policy_init(&p);
    CHECK(accepts(&p, 1, &why)); /* open relay: anything */

    p.discovery = 1;
    CHECK(!accepts(&p, 1, &why));
    CHECK(why && !strncmp(why, "blocked: ", 9));
    CHECK(accepts(&p, HEARTH_KIND_OFFER, &why));
    CHECK(accepts(&p, HEARTH_KIND_HANDLER_INFO, &why));
    CHECK(accepts(&p, HEARTH_KIND_JOB_FEEDBACK, &why));
    CHECK(accepts(&p, 5100, &why) && accepts(&p, 6100, &why));
    CHECK(!accepts(&p, 4999, &why) && !accepts(&p, 7001, &why));

    CHECK(hearth_policy_parse_kinds(&p, "5970,5100-5102", &why) == 0);
    CHECK(p.njob_kinds == 4);
    CHECK(accepts(&p, 5970, &why) && accepts(&p, 6970, &why));
    CHECK(accepts(&p, 5101, &why) && accepts(&p, 6102, &why));
    CHECK(!accepts(&p, 5103, &why) && !accepts(&p, 6103, &why));
    CHECK(!accepts(&p, 5000, &why));
    CHECK(hearth_policy_parse_kinds(&p, "4000", &why) == HEARTH_EINVAL);
    CHECK(hearth_policy_parse_kinds(&p, "5100-5000", &why) == HEARTH_EINVAL);
    CHECK(hearth_policy_parse_kinds(&p, "5100,x", &why) == HEARTH_EINVAL);

    /* future timestamps */
    hearth_event *ev = ev_of(HEARTH_KIND_OFFER, 1000 + 15 * 60 + 1);
    CHECK(hearth_policy_check(&p, ev, 1000, &why) == HEARTH_EPERM);
    CHECK(!strcmp(why, "invalid: created_at is too far in the future"));
    hearth_event_free(ev);

    /* per-kind PoW: an unmined offer fails, a mined one passes */
    CHECK(hearth_policy_parse_pow(&p, "31907:8,*:0", &why) == 0);
    CHECK(p.npow == 1 && p.default_pow == 0);
    ev = NULL;
    uint8_t sk[32];
    hearth_key_generate(sk);
    CHECK(hearth_event_new(HEARTH_KIND_OFFER, 1000, "", 0, &ev) == 0);
    CHECK(hearth_key_pubkey(sk, ev->pubkey) == 0);
    ev->has |= HEARTH_EV_HAS_PUBKEY;
    uint64_t tries;
    CHECK(hearth_nip13_mine(ev, 8, 0, &tries) == 0);
    CHECK(hearth_event_sign(ev, sk) == 0);
    CHECK(hearth_policy_check(&p, ev, 1000, &why) == HEARTH_OK);
    /* the committed target counts, not luck: demand more than committed */
    CHECK(hearth_policy_parse_pow(&p, "31907:9", &why) == 0);
    CHECK(hearth_policy_check(&p, ev, 1000, &why) == HEARTH_EPERM);
    CHECK(!strncmp(why, "pow: ", 5));
    hearth_event_free(ev);
    CHECK(hearth_policy_parse_pow(&p, "31907", &why) == HEARTH_EINVAL);
    CHECK(hearth_policy_parse_pow(&p, "1:300", &why) == HEARTH_EINVAL);
    return tap_done();
}
