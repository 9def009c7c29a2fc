/*
 * gate.h - the access map's stages as one worker's sessions meet them
 * (sendmail's access map, policy/policy.h), in the order of the stage
 * driver (policy/stage.h) that `mxctl policy test` walks too: at connect,
 * Connect:, then the per-address limits (sendmail's ClientRate: and
 * ClientConn:, mxgate's Limit:), then Srv_Features, then GreetPause (the
 * pause before the banner); at MAIL and RCPT, From:/To: with
 * Require_TLS, TLS_Clt and the certificate. The gate builds what the map
 * may know of a session (struct pol_client), counts every decision by the
 * tag of the entry that decided and its action, logs refusals in
 * Postfix's words, and keeps the limit table.
 *
 * The limit table counts each client address once for the whole process:
 * RSS spreads one client's connections over the workers, and "ClientConn:
 * 10.1.2.3 4" means four open connections, not four per worker. It is a
 * bounded open-addressing table (8192 addresses in 64 stripes, each
 * under its own spin lock), the one structure the workers share; only
 * connections from an address under a limit touch it (at connect and at
 * their end). An address that finds no room is let in uncounted, and
 * counted (limit_table_full).
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
	int shares_limits;               /* holds a reference to the process's limit table (gate.c) */
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
 * session's engine settings, a limit counts it: gate_release() at its
 * end, s->greet_pause_ms is GreetPause's pause or -1 when no entry
 * applies), or 1 with the refusal (Connect: REJECT/ERROR, 421 4.3.2 over
 * ClientRate: or ClientConn:, 421 4.7.0 over Limit:) logged and in
 * *refusal for the session to send.
 */
int gate_sess_connect(struct sess *s, struct pol_result *refusal);
/* The session counted under a limit ended (slot may be NULL). */
void gate_release(struct gate_slot *slot);
/* The MAIL or RCPT stage for arg: 1 when refused (logged and answered), 0 to go on (DISCARD marks the transaction). */
int gate_sess_stage(struct sess *s, enum pol_stage st, const char *arg);

/* mxgate_smtp_policy_decisions_total{lcore,tag,action} lines (only those that happened). */
void gate_print_labelled(FILE *f, const struct gate *g, unsigned lcore);

#endif
