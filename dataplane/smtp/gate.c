/*
 * gate.c - the access map's stages for one worker's sessions and the
 * Limit: table (see gate.h).
 */
#include <stdlib.h>
#include <string.h>

#include "dataplane/smtp/gate.h"
#include "dataplane/smtp/smtp_stats.h"
#include "dataplane/net/tcp_app.h"

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
 * Limit: (conn=N, rate=N/period) for a new session: this worker's share is
 * ceil(N / workers) (policy.h). Returns 0 to go on (*slot: where the
 * session is counted, or NULL), or 1 with the refusal text in *why.
 */
static int limit_check(struct gate *g, const struct pol_snapshot *pol, const struct pol_client *pc,
		       struct gate_slot **slot, const char **why)
{
	struct pol_limits lim;
	struct gate_slot *e;
	unsigned nw = tcp_nworkers(g->ctx) ? tcp_nworkers(g->ctx) : 1;
	uint64_t conn_share, rate_share, cap, now = tcp_now_us(g->ctx);

	if (!pol_limit(pol, pc, &lim, NULL) || (lim.conn == 0 && lim.rate == 0))
		return 0;
	e = limit_slot(g, &pc->addr);
	if (e == NULL) {
		g->st->limit_table_full++;   /* let the client in uncounted rather than refuse strangers' neighbours */
		return 0;
	}
	conn_share = lim.conn ? (lim.conn + nw - 1) / nw : 0;
	rate_share = lim.rate ? (lim.rate + nw - 1) / nw : 0;
	if (rate_share) {
		cap = rate_share * 1000;
		if (e->refill_us == 0)
			e->milli_tokens = cap;
		else
			e->milli_tokens += (now - e->refill_us) * rate_share / ((uint64_t)lim.per_s * 1000);
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

/* Connect:, Limit:, Srv_Features for a new session. */
enum gate_verdict gate_connect(struct gate *g, const struct pol_snapshot *pol, const struct pol_client *pc,
			       struct gate_conn *out)
{
	memset(out, 0, sizeof(*out));
	out->r = pol_check_connect(pol, pc, NULL);
	gate_count(g, &out->r);
	if (out->r.action == POL_REJECT) {
		g->st->policy_connect_rejects++;
		return GATE_REJECT;
	}
	if (limit_check(g, pol, pc, &out->slot, &out->why)) {
		g->st->limit_refused++;
		g->decisions[POL_TAG_LIMIT][POL_REJECT]++;
		return GATE_LIMITED;
	}
	if (pol_srv_features(pol, pc, &out->f, NULL)) {
		g->decisions[POL_TAG_SRV_FEATURES][POL_OK]++;
		out->has_features = 1;
	}
	return GATE_PASS;
}

/* A session counted under Limit: ended. */
void gate_release(struct gate_slot *slot)
{
	if (slot != NULL)
		slot->conns--;
}

/* From: / To: (with Require_TLS and TLS_Clt) for a MAIL or RCPT. */
struct pol_result gate_mail_rcpt(struct gate *g, const struct pol_snapshot *pol, const struct pol_client *pc,
				 int rcpt, const char *arg)
{
	struct pol_result r = rcpt ? pol_check_rcpt(pol, pc, arg, NULL) : pol_check_mail(pol, pc, arg, NULL);

	gate_count(g, &r);
	if (r.action == POL_REJECT) {
		if (r.code == 530)
			g->st->reject_530_require_tls++;
		if (rcpt)
			g->st->policy_rcpt_rejects++;
		else
			g->st->policy_mail_rejects++;
	}
	return r;
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
