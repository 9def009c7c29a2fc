/*
 * gate.h - the access map's stages as one worker's sessions meet them
 * (sendmail's access map, policy/policy.h): at connect, Connect:, then
 * Limit: (connections and connection rate per client address, this
 * worker's share), then Srv_Features; at MAIL and RCPT, From:/To: with
 * Require_TLS and TLS_Clt. The gate counts every decision by the tag of
 * the entry that decided and its action, and keeps the Limit: table (a
 * bounded open-addressing table of client addresses, allocated at the
 * first Limit: match). The session builds the struct pol_client, logs in
 * Postfix's words and answers the client.
 */
#ifndef MX_GATE_H
#define MX_GATE_H

#include <stdint.h>
#include <stdio.h>
#include "net/net.h"
#include "policy/policy.h"

struct smtp_stats;
struct gate_slot;

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

/* What the connect stage decided. */
enum gate_verdict {
	GATE_PASS = 0,            /* go on (with features, when has_features) */
	GATE_REJECT,              /* Connect: REJECT / ERROR: answer r */
	GATE_LIMITED,             /* over a Limit: entry: 421 4.7.0 why */
};

struct gate_conn {
	struct pol_result r;      /* GATE_REJECT: the refusal */
	const char *why;          /* GATE_LIMITED: the text of the 421 */
	struct gate_slot *slot;   /* GATE_PASS: the session counted under Limit: (gate_release() it), or NULL */
	int has_features;         /* GATE_PASS: a Srv_Features entry matched: f */
	struct pol_features f;
};

/* The connect stage for a new session of pc under the map pol (not NULL). */
enum gate_verdict gate_connect(struct gate *g, const struct pol_snapshot *pol, const struct pol_client *pc,
			       struct gate_conn *out);
/* The session counted under a Limit: entry ended (slot may be NULL). */
void gate_release(struct gate_slot *slot);

/* The MAIL (rcpt 0) or RCPT stage for arg: the decision, counted (POL_REJECT: answer it, POL_DISCARD: drop). */
struct pol_result gate_mail_rcpt(struct gate *g, const struct pol_snapshot *pol, const struct pol_client *pc,
				 int rcpt, const char *arg);

/* mxgate_smtp_policy_decisions_total{lcore,tag,action} lines (only those that happened). */
void gate_print_labelled(FILE *f, const struct gate *g, unsigned lcore);

#endif
