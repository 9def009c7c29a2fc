/*
 * gate.c - the access map's stages for one worker's sessions (in the
 * order of policy/stage.h) and the limit table all workers share (see
 * gate.h).
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

#define LIMIT_STRIPES       64     /* locks of the shared table: one per block of slots */
#define LIMIT_STRIPE_SLOTS  128    /* slots per block (a power of two): 8192 addresses in all */
#define LIMIT_PROBE         8
#define RATE_BUCKETS        6      /* the ClientRate window in six buckets (10 s each) */
#define RATE_BUCKET_US      ((uint64_t)POL_CLIENT_RATE_WINDOW_S * 1000000 / RATE_BUCKETS)

static const char *const pol_action_names[POL_ACTION_COUNT] = {
	"continue", "ok", "relay", "discard", "reject",
};

/*
 * One client address under a limit: its open sessions (every worker's),
 * Limit:'s token bucket and ClientRate's window of attempts.
 */
struct gate_slot {
	uint8_t used, family;
	uint8_t a[16];
	uint32_t conns;           /* sessions open now, on any worker */
	uint64_t milli_tokens;    /* Limit: rate bucket, in thousandths of a connection */
	uint64_t refill_us;
	uint64_t rate_bucket;     /* ClientRate: the newest bucket (now / RATE_BUCKET_US) */
	uint32_t hits[RATE_BUCKETS]; /* ClientRate: attempts per bucket, rate_bucket's last */
};

/*
 * The limit table of the process, shared by every worker's gate, so that
 * an address has one count whichever workers its connections land on
 * (RSS hashes the 4-tuple: one client's connections spread over the
 * workers). It is the only thing the workers share: a connection from an
 * address under a limit takes one of 64 stripe locks for a hash probe and
 * a few increments (tens of ns, beside a TLS handshake's hundreds of µs),
 * and so does its end. With smtpd_client_connection_count_limit (default
 * 50) every connection is under a limit; only where it is 0 and no entry
 * applies does a connection not touch the table. Allocated at the first
 * limit that applies, freed with the last gate.
 */
struct limit_table {
	struct {
		uint8_t lock;
		uint8_t pad[63];  /* one cache line per lock */
	} stripe[LIMIT_STRIPES];
	struct gate_slot slot[LIMIT_STRIPES * LIMIT_STRIPE_SLOTS];
};
static struct limit_table *limit_tab;
static unsigned limit_gates;       /* gates alive: the last one frees the table */

/* The shared table, allocated at first use; NULL when out of memory. */
static struct limit_table *limit_table(void)
{
	struct limit_table *t = __atomic_load_n(&limit_tab, __ATOMIC_ACQUIRE), *none = NULL;

	if (t != NULL)
		return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if (!__atomic_compare_exchange_n(&limit_tab, &none, t, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		free(t);          /* another worker was first */
		t = none;
	}
	return t;
}

/* Take a stripe's lock (held for a probe and a few increments). */
static void stripe_lock(struct limit_table *t, unsigned i)
{
	while (__atomic_test_and_set(&t->stripe[i].lock, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&t->stripe[i].lock, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

/* Drop a stripe's lock. */
static void stripe_unlock(struct limit_table *t, unsigned i)
{
	__atomic_clear(&t->stripe[i].lock, __ATOMIC_RELEASE);
}

/* A worker's gate with the map in force at start (NULL: none). */
void gate_init(struct gate *g, struct net_ctx *ctx, const struct pol_snapshot *pol, struct smtp_stats *st)
{
	memset(g, 0, sizeof(*g));
	g->ctx = ctx;
	g->pol = pol;
	g->st = st;
	g->shares_limits = 1;
	__atomic_add_fetch(&limit_gates, 1, __ATOMIC_ACQ_REL);
}

/* The last gate frees the limit table (every session has ended). */
void gate_free(struct gate *g)
{
	if (!g->shares_limits)
		return;
	g->shares_limits = 0;
	if (__atomic_sub_fetch(&limit_gates, 1, __ATOMIC_ACQ_REL) == 0) {
		free(limit_tab);
		__atomic_store_n(&limit_tab, NULL, __ATOMIC_RELEASE);
	}
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

/* The hash of an address: its stripe and where its probe starts. */
static unsigned limit_hash(const struct pol_addr *a)
{
	uint32_t h = 2166136261u;
	unsigned i, n = a->family == 4 ? 4 : 16;

	for (i = 0; i < n; i++)
		h = (h ^ a->a[i]) * 16777619u;
	return h;
}

/* ClientRate's attempts in the window ending now (buckets older than it emptied). */
static uint32_t rate_window(struct gate_slot *e, uint64_t now)
{
	uint64_t b = now / RATE_BUCKET_US;
	uint32_t sum = 0;
	unsigned i;

	/* a worker's clock may lag another's by its start-up skew: never go back */
	if (b > e->rate_bucket) {
		for (i = 0; i < RATE_BUCKETS && e->rate_bucket + 1 + i <= b; i++)
			e->hits[(e->rate_bucket + 1 + i) % RATE_BUCKETS] = 0;
		e->rate_bucket = b;
	}
	for (i = 0; i < RATE_BUCKETS; i++)
		sum += e->hits[i];
	return sum;
}

/*
 * The counting slot of a client address in stripe `st` (locked); NULL
 * when the stripe has no room: a slot is taken over only when nobody is
 * connected from its address, preferring one whose ClientRate window is
 * over.
 */
static struct gate_slot *limit_slot(struct limit_table *t, unsigned st, unsigned h, const struct pol_addr *a,
				    uint64_t now)
{
	unsigned i, n = a->family == 4 ? 4 : 16;
	struct gate_slot *e, *take = NULL;
	int rank = 0, r;          /* of take: 3 free, 2 idle with an empty window, 1 idle */

	for (i = 0; i < LIMIT_PROBE; i++) {
		e = &t->slot[st * LIMIT_STRIPE_SLOTS + ((h + i) & (LIMIT_STRIPE_SLOTS - 1))];
		if (e->used && e->family == a->family && memcmp(e->a, a->a, n) == 0)
			return e;
		r = !e->used ? 3 : e->conns ? 0 : rate_window(e, now) == 0 ? 2 : 1;
		if (r > rank) {
			rank = r;
			take = e;
		}
	}
	if (take != NULL) {
		memset(take, 0, sizeof(*take));
		take->used = 1;
		take->family = a->family;
		memcpy(take->a, a->a, n);
		take->rate_bucket = now / RATE_BUCKET_US;
	}
	return take;
}

/*
 * The limits of a new session from addr (policy.h struct pol_limits; an
 * IPv6 address counted by its first v6_prefix bits), in sendmail's order:
 * ClientRate (every attempt counted, this one too), ClientConn, then
 * Limit:'s conn and rate. Returns 0 to go on (*slot:
 * where the session is counted, or NULL), or the tag that refused with
 * the refusal's enhanced code and text in *enh and *why.
 */
static int limit_check(struct gate *g, const struct pol_limits *lim, const struct pol_addr *addr,
		       unsigned v6_prefix, struct gate_slot **slot, const char **enh, const char **why)
{
	struct limit_table *t;
	struct gate_slot *e;
	struct pol_addr key = *addr, *a = &key;
	uint64_t cap, now = tcp_now_us(g->ctx);
	unsigned h, st, i;
	int refused = 0;

	if (lim->conn == 0 && lim->rate == 0 && lim->client_rate == 0 && lim->client_conn == 0)
		return 0;
	/* an IPv6 client is its prefix: one end site's /64 holds 2^64 addresses to rotate through */
	if (key.family == 6 && v6_prefix < 128) {
		for (i = v6_prefix / 8 + (v6_prefix % 8 != 0); i < 16; i++)
			key.a[i] = 0;
		if (v6_prefix % 8)
			key.a[v6_prefix / 8] &= (uint8_t)(0xff << (8 - v6_prefix % 8));
	}
	if ((t = limit_table()) == NULL) {
		g->st->limit_table_full++;
		return 0;
	}
	h = limit_hash(a);
	st = (h >> 16) % LIMIT_STRIPES;
	stripe_lock(t, st);
	e = limit_slot(t, st, h, a, now);
	if (e == NULL) {
		stripe_unlock(t, st);
		g->st->limit_table_full++;   /* let the client in uncounted rather than refuse strangers' neighbours */
		return 0;
	}
	if (lim->client_rate) {
		rate_window(e, now);      /* moves the window to now */
		e->hits[e->rate_bucket % RATE_BUCKETS]++;
		if (rate_window(e, now) > lim->client_rate) {
			refused = POL_TAG_CLIENTRATE;
			*enh = "4.3.2";
			*why = POL_CLIENT_RATE_TEXT;
		}
	}
	if (lim->rate) {
		cap = (uint64_t)lim->rate * 1000;
		if (e->refill_us == 0)
			e->milli_tokens = cap;
		else if (now > e->refill_us)
			e->milli_tokens += (now - e->refill_us) * lim->rate / ((uint64_t)lim->per_s * 1000);
		if (e->milli_tokens > cap)
			e->milli_tokens = cap;
		if (now > e->refill_us)
			e->refill_us = now;
	}
	if (!refused && lim->client_conn && e->conns >= lim->client_conn) {
		refused = POL_TAG_CLIENTCONN;
		*enh = "4.3.2";
		*why = POL_CLIENT_CONN_TEXT;
	} else if (!refused && lim->conn && e->conns >= lim->conn) {
		refused = POL_TAG_LIMIT;
		*enh = "4.7.0";
		*why = POL_LIMIT_CONN_TEXT;
	} else if (!refused && lim->rate && e->milli_tokens < 1000) {
		refused = POL_TAG_LIMIT;
		*enh = "4.7.0";
		*why = POL_LIMIT_RATE_TEXT;
	}
	if (!refused) {
		if (lim->rate)
			e->milli_tokens -= 1000;
		e->conns++;
		*slot = e;
	}
	stripe_unlock(t, st);
	return refused;
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
	if (strcmp(stage, "RCPT") == 0)
		slog(s->key, "%s: reject: %s from %s: %d %s <%s>: %s; from=<%s> to=<%s> proto=%s helo=<%s>",
		     sess_qid(s), stage, s->namaddr, r->code, r->enh, who, r->text, tx_from(&s->tx), who,
		     sess_proto(s), s->p.helo);
	else
		slog(s->key, "%s: reject: %s from %s: %d %s <%s>: %s; from=<%s> proto=%s helo=<%s>", sess_qid(s),
		     stage, s->namaddr, r->code, r->enh, who, r->text, tx_from(&s->tx), sess_proto(s), s->p.helo);
	smtp_proto_answerf(&s->p, r->code, r->enh, "<%s>: %s", who, r->text);
}

/*
 * A new session meets the connect stages in the driver's order (Connect:,
 * ClientRate:/ClientConn:/Limit:, Srv_Features, GreetPause): 0 to go on
 * (Srv_Features applied to the session, s->greet_pause_ms the map's pause
 * or -1), or 1 with the refusal, logged, in *refusal.
 */
int gate_sess_connect(struct sess *s, struct pol_result *refusal)
{
	struct gate *g = &s->w->gate;
	const struct pol_snapshot *pol = gate_policy(g);
	enum pol_stage next = POL_STAGE_CONNECT;
	struct pol_stage_out o;
	struct pol_client pc;
	const char *why = NULL, *enh = NULL;
	unsigned v6_prefix = s->w->cfg->smtpd_client_ipv6_prefix_length;
	char dn1[8], dn2[8];
	int tag;

	s->greet_pause_ms = -1;
	pol_client_of(s, &pc, dn1, dn2, sizeof(dn1));
	if (pol == NULL) {             /* no map: only the configured ClientConn default */
		struct pol_limits lim = { .client_conn = s->w->cfg->smtpd_client_connection_count_limit };

		if ((tag = limit_check(g, &lim, &pc.addr, v6_prefix, &s->lim, &enh, &why)) != 0)
			goto limited;
		return 0;
	}
	while (pol_walk_connect(&next, pol, &pc, &o, NULL)) {
		switch (o.stage) {
		case POL_STAGE_CONNECT:
			gate_count(g, &o.r);
			s->connect_ok = o.r.action == POL_OK || o.r.action == POL_RELAY;
			if (o.r.action == POL_REJECT) {
				g->st->policy_connect_rejects++;
				*refusal = o.r;
				goto refused;
			}
			break;
		case POL_STAGE_LIMIT:
			if (!o.lim.client_conn_found)    /* no ClientConn: entry: the configured default */
				o.lim.client_conn = s->w->cfg->smtpd_client_connection_count_limit;
			if ((tag = limit_check(g, &o.lim, &pc.addr, v6_prefix, &s->lim, &enh, &why)) != 0)
				goto limited;
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
		case POL_STAGE_GREETPAUSE:
			if (!o.found)
				break;
			g->decisions[POL_TAG_GREETPAUSE][POL_OK]++;
			s->greet_pause_ms = (int)o.pause_ms;
			break;
		default:
			break;
		}
	}
	return 0;
limited:
	if (tag == POL_TAG_CLIENTRATE)
		g->st->client_rate_refused++;
	else if (tag == POL_TAG_CLIENTCONN)
		g->st->client_conn_refused++;
	else
		g->st->limit_refused++;
	g->decisions[tag][POL_REJECT]++;
	memset(refusal, 0, sizeof(*refusal));
	refusal->tag = tag;
	refusal->action = POL_REJECT;
	refusal->code = 421;
	snprintf(refusal->enh, sizeof(refusal->enh), "%s", enh);
	snprintf(refusal->text, sizeof(refusal->text), "%s", why);
refused:
	slog(s->key, "NOQUEUE: reject: CONNECT from %s: %d %s %s; proto=SMTP", s->namaddr, refusal->code,
	     refusal->enh, refusal->text);
	return 1;
}

/* A session counted under a limit ended. */
void gate_release(struct gate_slot *slot)
{
	struct limit_table *t = __atomic_load_n(&limit_tab, __ATOMIC_ACQUIRE);
	unsigned st;

	if (slot == NULL || t == NULL)
		return;
	st = (unsigned)(slot - t->slot) / LIMIT_STRIPE_SLOTS;
	stripe_lock(t, st);
	slot->conns--;
	stripe_unlock(t, st);
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
	if (o.r.action == POL_DISCARD) {
		if (!s->tx.discard)
			slog(s->key, "%s: discard: %s from %s: <%s>: %s triggers DISCARD action; from=<%s>%s%s%s "
			     "proto=%s helo=<%s>", sess_qid(s), pol_stage_names[st], s->namaddr, arg,
			     st == POL_STAGE_RCPT ? "Recipient address" : "Sender address", tx_from(&s->tx),
			     st == POL_STAGE_RCPT ? " to=<" : "", st == POL_STAGE_RCPT ? arg : "",
			     st == POL_STAGE_RCPT ? ">" : "", sess_proto(s), s->p.helo);
		s->tx.discard = 1;
	}
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
