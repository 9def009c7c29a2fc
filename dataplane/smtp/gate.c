/*
 * gate.c - the access map's stages for one worker's sessions (in the
 * order of policy/stage.h) and the Limit: table (see gate.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/smtp/sess.h"
#include "dataplane/smtp/slog.h"
#include "crypto/tls.h"
#include "dataplane/net/tcp_app.h"
#include "dataplane/dns/dns.h"

/* the session's name status goes to the map as ${client_resolve} */
_Static_assert((int)DNS_NAME_OK == (int)POL_RESOLVE_OK && (int)DNS_NAME_FAIL == (int)POL_RESOLVE_FAIL &&
	       (int)DNS_NAME_FORGED == (int)POL_RESOLVE_FORGED && (int)DNS_NAME_TEMP == (int)POL_RESOLVE_TEMP,
	       "resolve codes");

#define LIMIT_SLOTS    8192     /* clients counted per worker for Limit: (power of two) */
#define LIMIT_PROBE    8

static const char *const pol_action_names[POL_ACTION_COUNT] = {
	"continue", "ok", "relay", "discard", "reject",
};

/* One client address under a Limit: entry: open sessions and a token bucket. */
struct gate_slot {
	uint8_t used, family;
	uint8_t a[16];
	uint32_t conns;           /* sessions open now on this worker */
	uint64_t milli_tokens;    /* rate bucket, in thousandths of a connection */
	uint64_t refill_us;
};

/* A worker's gate with the map in force at start (NULL: none). */
void gate_init(struct gate *g, struct net_ctx *ctx, const struct pol_snapshot *pol, struct smtp_stats *st)
{
	memset(g, 0, sizeof(*g));
	g->ctx = ctx;
	g->pol = pol;
	g->st = st;
}

/* Free the Limit: table. */
void gate_free(struct gate *g)
{
	free(g->limits);
	g->limits = NULL;
}

/* Publish a new access map to this worker (service lcore). */
void gate_set_policy(struct gate *g, const struct pol_snapshot *pol)
{
	__atomic_store_n(&g->pol, pol, __ATOMIC_RELEASE);
}

/* The access map in force now. */
const struct pol_snapshot *gate_policy(const struct gate *g)
{
	return __atomic_load_n(&g->pol, __ATOMIC_ACQUIRE);
}

/* Count a decision under the tag of the entry that made it. */
static void gate_count(struct gate *g, const struct pol_result *r)
{
	if (r->action != POL_CONTINUE && r->tag >= 0 && r->tag < POL_TAG_COUNT && r->action < POL_ACTION_COUNT)
		g->decisions[r->tag][r->action]++;
}

/* The counting slot of a client address; NULL when the table has no room. */
static struct gate_slot *limit_slot(struct gate *g, const struct pol_addr *a)
{
	uint32_t h = 2166136261u;
	unsigned i, n = a->family == 4 ? 4 : 16;
	struct gate_slot *e, *free_slot = NULL;

	if (g->limits == NULL && (g->limits = calloc(LIMIT_SLOTS, sizeof(*g->limits))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		h = (h ^ a->a[i]) * 16777619u;
	for (i = 0; i < LIMIT_PROBE; i++) {
		e = &g->limits[(h + i) & (LIMIT_SLOTS - 1)];
		if (e->used && e->family == a->family && memcmp(e->a, a->a, n) == 0)
			return e;
		/* free, or a client with nothing open (its bucket refills anyway) */
		if (free_slot == NULL && (!e->used || e->conns == 0))
			free_slot = e;
	}
	if (free_slot != NULL) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->used = 1;
		free_slot->family = a->family;
		memcpy(free_slot->a, a->a, n);
		free_slot->refill_us = 0;
	}
	return free_slot;
}

/*
 * Limit: (conn=N, rate=N/period) for a new session from a: this worker's
 * share is ceil(N / workers) (policy.h). Returns 0 to go on (*slot: where
 * the session is counted, or NULL), or 1 with the refusal text in *why.
 */
static int limit_check(struct gate *g, const struct pol_limits *lim, const struct pol_addr *a,
		       struct gate_slot **slot, const char **why)
{
	struct gate_slot *e;
	unsigned nw = tcp_nworkers(g->ctx) ? tcp_nworkers(g->ctx) : 1;
	uint64_t conn_share, rate_share, cap, now = tcp_now_us(g->ctx);

	if (lim->conn == 0 && lim->rate == 0)
		return 0;
	e = limit_slot(g, a);
	if (e == NULL) {
		g->st->limit_table_full++;   /* let the client in uncounted rather than refuse strangers' neighbours */
		return 0;
	}
	conn_share = lim->conn ? (lim->conn + nw - 1) / nw : 0;
	rate_share = lim->rate ? (lim->rate + nw - 1) / nw : 0;
	if (rate_share) {
		cap = rate_share * 1000;
		if (e->refill_us == 0)
			e->milli_tokens = cap;
		else
			e->milli_tokens += (now - e->refill_us) * rate_share / ((uint64_t)lim->per_s * 1000);
		if (e->milli_tokens > cap)
			e->milli_tokens = cap;
		e->refill_us = now;
	}
	if (conn_share && e->conns >= conn_share) {
		*why = POL_LIMIT_CONN_TEXT;
		return 1;
	}
	if (rate_share && e->milli_tokens < 1000) {
		*why = POL_LIMIT_RATE_TEXT;
		return 1;
	}
	if (rate_share)
		e->milli_tokens -= 1000;
	e->conns++;
	*slot = e;
	return 0;
}

/* What the access map may know of this session. */
static void pol_client_of(const struct sess *s, struct pol_client *pc, char *issuer, char *subject,
			  size_t dnlen)
{
	const struct net_tuple *t = s->c ? tcp_tuple(s->c) : NULL;

	memset(pc, 0, sizeof(*pc));
	if (t != NULL) {
		pc->addr.family = t->family == NET_AF_INET ? 4 : 6;
		memcpy(pc->addr.a, t->raddr.a, 16);
	}
	pc->name = s->name;
	pc->resolve = s->name_status;
	pc->helo = s->p.helo;
	pc->auth = s->p.authenticated;
	pc->tls = s->tls_up;
	pc->verify = s->tls_up ? s->mac.verify : "NONE";
	pc->cipher_bits = s->tls_up ? s->mac.cipher_bits : 0;
	if (s->cert != NULL) {
		/* the macros are quoted already; the map wants them as they are */
		snprintf(issuer, dnlen, "%s", s->cert->cert_issuer);
		snprintf(subject, dnlen, "%s", s->cert->cert_subject);
		pc->cert_issuer = issuer;
		pc->cert_subject = subject;
		pc->cn_subject = s->cert->cn_subject;
	}
}

/* Answer an owed MAIL/RCPT with a policy refusal and log it as Postfix does. */
static void pol_refuse(struct sess *s, const struct pol_result *r, const char *stage, const char *who)
{
	slog(s->w->cfg->hostname, "NOQUEUE: reject: %s from %s[%s]: %d %s <%s>: %s; from=<%s> proto=%s helo=<%s>",
	     stage, sess_name(s), s->addr, r->code, r->enh, who, r->text, tx_from(&s->tx), s->p.ehlo ? "ESMTP" : "SMTP",
	     s->p.helo);
	smtp_proto_answerf(&s->p, r->code, r->enh, "<%s>: %s", who, r->text);
}

/*
 * A new session meets the connect stages in the driver's order (Connect:,
 * Limit:, Srv_Features): 0 to go on (Srv_Features applied to the
 * session), or 1 with the refusal, logged, in *refusal.
 */
int gate_sess_connect(struct sess *s, struct pol_result *refusal)
{
	struct gate *g = &s->w->gate;
	const struct pol_snapshot *pol = gate_policy(g);
	enum pol_stage next = POL_STAGE_CONNECT;
	struct pol_stage_out o;
	struct pol_client pc;
	const char *why = NULL;
	char dn1[8], dn2[8];

	if (pol == NULL)
		return 0;
	pol_client_of(s, &pc, dn1, dn2, sizeof(dn1));
	while (pol_walk_connect(&next, pol, &pc, &o, NULL)) {
		switch (o.stage) {
		case POL_STAGE_CONNECT:
			gate_count(g, &o.r);
			if (o.r.action == POL_REJECT) {
				g->st->policy_connect_rejects++;
				*refusal = o.r;
				goto refused;
			}
			break;
		case POL_STAGE_LIMIT:
			if (o.found && limit_check(g, &o.lim, &pc.addr, &s->lim, &why)) {
				g->st->limit_refused++;
				g->decisions[POL_TAG_LIMIT][POL_REJECT]++;
				memset(refusal, 0, sizeof(*refusal));
				refusal->action = POL_REJECT;
				refusal->code = 421;
				snprintf(refusal->enh, sizeof(refusal->enh), "4.7.0");
				snprintf(refusal->text, sizeof(refusal->text), "%s", why);
				goto refused;
			}
			break;
		case POL_STAGE_FEATURES:
			if (!o.found)
				break;
			g->decisions[POL_TAG_SRV_FEATURES][POL_OK]++;
			if (o.f.off & POL_SF_STARTTLS)
				s->pcfg.tls_available = 0;                        /* S: no STARTTLS */
			s->no_auth = (o.f.off & POL_SF_AUTH) != 0;                /* A: no AUTH */
			s->no_client_cert = (o.f.off & POL_SF_VERIFY) != 0;       /* V: no certificate asked */
			s->ask_client_cert = (o.f.on & POL_SF_VERIFY) != 0;       /* v: asked, even if not by default */
			if (o.f.on & POL_SF_AUTH_REQUIRED)
				s->pcfg.auth_required = 1;                        /* l: AUTH before MAIL */
			else if (o.f.off & POL_SF_AUTH_REQUIRED)
				s->pcfg.auth_required = 0;                        /* L: not even on 587 */
			break;
		default:
			break;
		}
	}
	return 0;
refused:
	slog(s->w->cfg->hostname, "NOQUEUE: reject: CONNECT from %s[%s]: %d %s %s; proto=SMTP", sess_name(s), s->addr,
	     refusal->code, refusal->enh, refusal->text);
	return 1;
}

/* A session counted under Limit: ended. */
void gate_release(struct gate_slot *slot)
{
	if (slot != NULL)
		slot->conns--;
}

/*
 * The MAIL or RCPT stage (st) of a session for arg, counted: 1 when the
 * access map refused (logged as Postfix does, and answered), else 0 (a
 * DISCARD marks the transaction).
 */
int gate_sess_stage(struct sess *s, enum pol_stage st, const char *arg)
{
	struct gate *g = &s->w->gate;
	const struct pol_snapshot *pol = gate_policy(g);
	struct pol_stage_out o;
	struct pol_client pc;
	char issuer[512], subject[512];

	if (pol == NULL)
		return 0;
	pol_client_of(s, &pc, issuer, subject, sizeof(issuer));
	pol_stage_run(st, pol, &pc, arg, &o, NULL);
	gate_count(g, &o.r);
	if (o.r.action == POL_DISCARD)
		s->tx.discard = 1;
	if (o.r.action != POL_REJECT)
		return 0;
	if (o.r.code == 530)
		g->st->reject_530_require_tls++;
	if (st == POL_STAGE_RCPT)
		g->st->policy_rcpt_rejects++;
	else
		g->st->policy_mail_rejects++;
	pol_refuse(s, &o.r, pol_stage_names[st], arg);
	return 1;
}

/* The decision counters in Prometheus text. */
void gate_print_labelled(FILE *f, const struct gate *g, unsigned lcore)
{
	unsigned t, a;

	for (t = 0; t < POL_TAG_COUNT; t++)
		for (a = POL_CONTINUE + 1; a < POL_ACTION_COUNT; a++)
			if (g->decisions[t][a])
				fprintf(f, "mxgate_smtp_policy_decisions_total{lcore=\"%u\",tag=\"%s\",action=\"%s\"} %llu\n",
					lcore, pol_tag_names[t], pol_action_names[a],
					(unsigned long long)g->decisions[t][a]);
}
