/*
 * stage.h - the access map's stages in one SMTP session, in their order,
 * in one place. mxgate's sessions (dataplane/smtp/gate.c) and `mxctl
 * policy test` (tools/mxctl/pol.c) both walk them through this driver, so
 * what the tool shows is what the appliance does.
 *
 *   at connect, in this order (pol_walk_connect()):
 *     POL_STAGE_CONNECT   Connect: (check_relay); a refusal ends the walk
 *     POL_STAGE_LIMIT     ClientRate:, ClientConn: (sendmail's RateControl and
 *                         ConnControl, run at the end of check_relay) and
 *                         Limit: the entries that apply; the caller counts
 *                         (mxgate refuses a client over one: 421)
 *     POL_STAGE_FEATURES  Srv_Features (S, A, V/v, l/L)
 *     POL_STAGE_GREETPAUSE GreetPause: the pause before the banner (sendmail's
 *                         greet_pause, asked just before the greeting)
 *   after STARTTLS: no stage. {verify}, {cipher_bits} and the certificate
 *     only feed MAIL and RCPT (sendmail's tls_client runs at MAIL).
 *   after AUTH: no stage. A successful AUTH feeds RCPT's relaying.
 *   at each MAIL: POL_STAGE_MAIL   Require_TLS, TLS_Clt (with its CN, CS:
 *                                  and CI: extensions), then From:
 *   at each RCPT: POL_STAGE_RCPT   To:, then relaying: To: RELAY,
 *                                  CERTISSUER/CERTSUBJECT, AUTH, Connect: RELAY
 *
 * libc only, no allocation; the stages themselves are policy.h's.
 */
#ifndef MX_POLICY_STAGE_H
#define MX_POLICY_STAGE_H

#include "policy/policy.h"

enum pol_stage {
	POL_STAGE_CONNECT = 0,
	POL_STAGE_LIMIT,
	POL_STAGE_FEATURES,
	POL_STAGE_GREETPAUSE,
	POL_STAGE_MAIL,                 /* the first stage that is not run at connect */
	POL_STAGE_RCPT,
	POL_STAGE_COUNT
};
/* "Connect", "Limit", "Srv_Features", "GreetPause", "MAIL", "RCPT" */
extern const char *const pol_stage_names[POL_STAGE_COUNT];

/* What one stage found. */
struct pol_stage_out {
	enum pol_stage stage;
	struct pol_result r;            /* CONNECT, MAIL, RCPT: the decision */
	int found;                      /* LIMIT, FEATURES, GREETPAUSE: an entry applies */
	struct pol_limits lim;          /* LIMIT */
	struct pol_features f;          /* FEATURES */
	unsigned pause_ms;              /* GREETPAUSE: the pause, 0 = none */
};

/*
 * Run one stage for client c under the map s (NULL: none). arg is MAIL's
 * reverse path or RCPT's forward path (unused by the others). t may be
 * NULL. Returns 1 when the stage refuses (o->r.action == POL_REJECT).
 */
int pol_stage_run(enum pol_stage st, const struct pol_snapshot *s, const struct pol_client *c,
		  const char *arg, struct pol_stage_out *o, struct pol_trace *t);

/*
 * The connect stages, one per call, in their order. Start with *next =
 * POL_STAGE_CONNECT; each call runs *next into *o and returns 1, or
 * returns 0 once the walk is over (after GreetPause, or after Connect:
 * refused). A caller that refuses the session itself (Limit:) stops
 * calling.
 */
int pol_walk_connect(enum pol_stage *next, const struct pol_snapshot *s, const struct pol_client *c,
		     struct pol_stage_out *o, struct pol_trace *t);

#endif
