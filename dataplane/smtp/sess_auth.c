/*
 * sess_auth.c - SMTP AUTH seen from a session (sess.h): the engine's AUTH
 * event becomes a request to the service lcore (auth.h), whose verdict
 * becomes the session's 235, 535 or 454, logged as Postfix logs it. The
 * worker (worker.c) takes the verdicts off the ring and pumps the session.
 * The engine (smtp_proto.c) counts a 535 toward the session's
 * SMTP_AUTH_FAILS_MAX; a 454 (every path below: busy, limited, in flight)
 * made no check, so it counts as an error toward max_errors instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/smtp/sess.h"
#include "dataplane/smtp/auth.h"
#include "dataplane/smtp/slog.h"

/* No check to be had (queue full, out of memory): 454, counted. */
static void auth_busy(struct sess *s)
{
	s->w->st.auth_busy++;
	smtp_proto_answerf(&s->p, 454, "4.7.0", "Temporary authentication failure");
}

/*
 * Refused without a check because the client's source (its IPv4 address,
 * its IPv6 /64) or its /48 already has checks in flight (auth.h): 454,
 * counted and logged as the failure limit is. Anything else: auth_busy().
 */
static void auth_refuse(struct sess *s, int why)
{
	switch (why) {
	case AUTH_INFLIGHT:
		s->w->st.auth_inflight++;
		slog(s->key, "warning: %s: SASL %s authentication refused: another authentication in progress "
		     "from this client", s->namaddr, s->sasl_method);
		smtp_proto_answerf(&s->p, 454, "4.7.0",
				   "Temporary authentication failure: another authentication in progress");
		break;
	case AUTH_INFLIGHT_NET:
		s->w->st.auth_inflight++;
		slog(s->key, "warning: %s: SASL %s authentication refused: too many authentications in progress "
		     "from this /48", s->namaddr, s->sasl_method);
		smtp_proto_answerf(&s->p, 454, "4.7.0", "Temporary authentication failure: "
				   "too many authentications in progress from your network");
		break;
	default:
		auth_busy(s);
		break;
	}
}

/* Hand the credentials to the service lcore; the answer comes in smtp_worker_poll(). */
void sess_auth_ask(struct sess *s, const struct smtp_evinfo *ei)
{
	struct smtp_worker *w = s->w;
	const struct net_tuple *t = tcp_tuple(s->c);
	struct auth_req *r = w->auth != NULL ? calloc(1, sizeof(*r)) : NULL;
	int why = AUTH_BUSY;

	if (r != NULL) {
		r->owner = s;
		r->family = t->family == NET_AF_INET ? 4 : 6;
		memcpy(r->addr, t->raddr.a, 16);
		snprintf(r->user, sizeof(r->user), "%s", ei->arg);
		r->must_fail = ei->auth_malformed != 0;
		r->pass_len = ei->len <= sizeof(r->pass) ? ei->len : sizeof(r->pass);
		memcpy(r->pass, ei->data, r->pass_len);
		snprintf(s->sasl_method, sizeof(s->sasl_method), "%s", ei->params);
		why = auth_submit(w->auth, tcp_worker(w->ctx), r);
		if (why == 0) {
			s->areq = r;
			return;
		}
		memset(r, 0, sizeof(*r));
		free(r);
	}
	auth_refuse(s, why);
}

/* The service lcore's verdict on a session's AUTH: the answer, queued. */
void sess_auth_answer(struct sess *s, const struct auth_req *r)
{
	struct smtp_worker *w = s->w;

	s->areq = NULL;
	switch (r->result) {
	case AUTH_OK:
		free(s->login);
		s->login = strdup(r->user);
		if (s->login == NULL) {
			auth_busy(s);
			break;
		}
		w->st.auth_success++;       /* logged on the client= line, as Postfix does */
		sess_relay_forget(s);       /* the next MAIL's backend hears XCLIENT LOGIN= */
		smtp_proto_answerf(&s->p, 235, "2.7.0", "Authentication successful");
		break;
	case AUTH_FAIL:
		w->st.auth_failed++;
		slog(s->key, "warning: %s: SASL %s authentication failed: authentication failure", s->namaddr,
		     s->sasl_method);
		smtp_proto_answerf(&s->p, 535, "5.7.8", "Error: authentication failed: authentication failure");
		break;
	case AUTH_LIMITED:
		w->st.auth_limited++;
		slog(s->key, "warning: %s: SASL %s authentication refused: too many failures", s->namaddr,
		     s->sasl_method);
		smtp_proto_answerf(&s->p, 454, "4.7.0", "Temporary authentication failure: too many failures");
		break;
	default:
		auth_refuse(s, r->result);
		break;
	}
}
