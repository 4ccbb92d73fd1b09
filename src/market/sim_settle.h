/* Settlement in the market simulator (docs/simulator.md "Settlement"):
 * each provider's book per customer, admission by the real
 * hearth_credit_decide, Lightning prepayment, periodic settlement,
 * verification and receipts, and reputation by the real
 * hearth_rep_compute. Internal to src/market/sim*.c: sim.c calls it at
 * dispatch, delivery and failure of every attempt. */
#ifndef HEARTH_SIM_SETTLE_H
#define HEARTH_SIM_SETTLE_H

#include "hearth/reputation.h"
#include "hearth/sim.h"

enum { CHEAT_NONE, CHEAT_TAMPER, CHEAT_OVERCHARGE };
enum { CUST_HONEST, CUST_DEADBEAT, CUST_DISPUTER };
enum { RAIL_NONE, RAIL_CREDIT, RAIL_PREPAID, RAIL_REFUSED };
/* what the customer made of a delivered result */
enum { SS_ACCEPTED, SS_TAMPER_CAUGHT, SS_OVERCHARGE_CAUGHT };

/* one attempt's settlement, kept in the attempt */
struct ss_job {
    uint8_t rail, cheat;
    uint64_t quote, bill;   /* the selection's price; what is charged */
};

typedef struct sim_settle sim_settle;

int ss_new(const hearth_sim_config *c, hearth_sim_result *r,
           sim_settle **out);
void ss_free(sim_settle *ss);
/* a new provider identity (numbered as sim.c numbers them); h decides,
 * by hash, whether it cheats, so the world's random stream is untouched */
int ss_add_ident(sim_settle *ss, const uint8_t pubkey[32], uint64_t h);
int ss_customer_type(const sim_settle *ss, uint32_t cust);
int ss_dishonest(const sim_settle *ss, uint32_t ident);
/* admission at the provider; j->rail says how it went */
int ss_admit(sim_settle *ss, uint32_t ident, uint32_t cust, uint64_t quote,
             uint64_t max_price, double now, struct ss_job *j);
/* a result reached the customer: book it, verify it, write the receipt */
int ss_deliver(sim_settle *ss, uint32_t ident, uint32_t cust,
               const struct ss_job *j, double now, size_t phase);
/* the attempt ended without a result: release what admission held */
void ss_fail(sim_settle *ss, uint32_t ident, uint32_t cust,
             const struct ss_job *j, double now);
/* an honest customer settles every balance it owes */
void ss_pay(sim_settle *ss, uint32_t cust, double now);
/* scores as customer cust computes them from every receipt so far */
int ss_reputation(sim_settle *ss, uint32_t cust, hearth_rep_result *out);
/* end of the run: final settlement, totals, warm-up */
void ss_finish(sim_settle *ss, double now);

#endif
