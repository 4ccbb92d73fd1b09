/* Event kinds hearth emits or accepts. The hearth microstandard kinds were
 * checked against the NIPs README kind table and the NIP-90 job-kind range
 * (see docs/protocol.md, "Kind numbers"). */
#ifndef HEARTH_KINDS_H
#define HEARTH_KINDS_H

#define HEARTH_KIND_METADATA        0u
#define HEARTH_KIND_DELETION        5u      /* NIP-09 */
#define HEARTH_KIND_RELAY_LIST      10002u  /* NIP-65 */
#define HEARTH_KIND_AUTH            22242u  /* NIP-42 */
#define HEARTH_KIND_HANDLER_INFO    31990u  /* NIP-89 announcement */
#define HEARTH_KIND_HANDLER_REC     31989u  /* NIP-89 recommendation */

/* NIP-90 data vending machines */
#define HEARTH_KIND_JOB_MIN         5000u
#define HEARTH_KIND_JOB_MAX         5999u
#define HEARTH_KIND_RESULT_OFFSET   1000u   /* result = request + 1000 */
#define HEARTH_KIND_JOB_FEEDBACK    7000u
#define HEARTH_KIND_JOB_POW         5970u   /* NIP-13 event PoW delegation */

/* hearth microstandard */
#define HEARTH_KIND_OFFER           31907u  /* addressable: one per (job kind, backend) */
#define HEARTH_KIND_METERING_NOTE   7441u   /* regular, provider-signed */
#define HEARTH_KIND_RECEIPT         7442u   /* regular, customer-signed */

#endif
