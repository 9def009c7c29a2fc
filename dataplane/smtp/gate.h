/*
 * gate.h - the access map's stages as one worker's sessions meet them
 * (sendmail's access map, policy/policy.h), in the order of the stage
 * driver (policy/stage.h) that `mxctl policy test` walks too: at connect,
 * Connect:, then Limit: (connections and connection rate per client
 * address, this worker's share), then Srv_Features; at MAIL and RCPT,
 * From:/To: with Require_TLS, TLS_Clt and the certificate. The gate
 * builds what the map may know of a session (struct pol_client), counts
 * every decision by the tag of the entry that decided and its action,
 * logs refusals in Postfix's words, and keeps the Limit: table (a bounded
 * open-addressing table of client addresses, allocated at the first
 * Limit: match).
 */
#ifndef MX_GATE_H
#define MX_GATE_H

#include <stdint.h>
#include <stdio.h>
#include "policy/policy.h"
#include "policy/stage.h"

struct smtp_stats;
struct gate_slot;
struct sess;

/* One worker's gate. */
struct gate {
	const struct pol_snapshot *pol;  /* the access map, NULL = none (published with a release store) */
	struct net_ctx *ctx;             /* the clock and the number of workers (Limit: shares) */
	struct smtp_stats *st;           /* policy_*, limit_*, reject_530_require_tls */
	struct gate_slot *limits;        /* the Limit: table, NULL until needed */
	uint64_t decisions[POL_TAG_COUNT][POL_ACTION_COUNT];  /* by tag and action */
};

void gate_init(struct gate *g, struct net_ctx *ctx, const struct pol_snapshot *pol, struct smtp_stats *st);
void gate_free(struct gate *g);
/* Publish a new access map (service lcore); the caller waits an RCU grace period before freeing the old. */
void gate_set_policy(struct gate *g, const struct pol_snapshot *pol);
/* The access map in force now (NULL: none); valid until the worker's next poll. */
const struct pol_snapshot *gate_policy(const struct gate *g);

/*
 * The connect stages for a new session: 0 to go on (Srv_Features set the
 * session's engine settings, Limit: counts it: gate_release() at its
 * end), or 1 with the refusal (Connect: REJECT/ERROR, or 421 4.7.0 over
 * a Limit: entry) logged and in *refusal for the session to send.
 */
int gate_sess_connect(struct sess *s, struct pol_result *refusal);
/* The session counted under a Limit: entry ended (slot may be NULL). */
void gate_release(struct gate_slot *slot);
/* The MAIL or RCPT stage for arg: 1 when refused (logged and answered), 0 to go on (DISCARD marks the transaction). */
int gate_sess_stage(struct sess *s, enum pol_stage st, const char *arg);

/* mxgate_smtp_policy_decisions_total{lcore,tag,action} lines (only those that happened). */
void gate_print_labelled(FILE *f, const struct gate *g, unsigned lcore);

#endif
