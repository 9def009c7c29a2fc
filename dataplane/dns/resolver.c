/*
 * resolver.c - one worker's DNS queries (dns.h). Each try goes to the
 * next server of dns_servers in turn, from a new UDP socket on a random
 * port with a new random ID, and waits dns_timeout_ms; dns_retries tries
 * follow the first. A reply counts only when it comes from the server's
 * address and port to the socket's (udp.c) and dns_msg_reply() finds it
 * answers this query (ID, question); anything else is counted and
 * ignored, so a forger must guess port and ID within one try. A
 * truncated reply is asked again over TCP (two length bytes, RFC 1035
 * 4.2.2; RFC 7766) to the same server, with a new ID. SERVFAIL and
 * REFUSED move on to the next server while tries remain. At most
 * dns_max_inflight queries at once (each holds one socket or one TCP
 * connection); beyond that a lookup gets DNS_TEMP at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dns/dns_var.h"
#include "dataplane/net/udp.h"
#include "dataplane/net/tcp_app.h"

struct dns_query {
	struct dns_resolver *r;
	struct dns_query *next_free;
	int used;
	char name[DNS_NAME_MAX + 1];
	uint16_t type, id;
	unsigned tries, server;
	struct udp_sock *u;
	struct tcp_conn *tc;
	uint8_t *tbuf;                 /* TCP reply being read (length-prefixed) */
	size_t tlen;
	dns_cb *cb;
	void *arg;
};

static const struct udp_ops q_udp_ops;
static const struct tcp_app_ops q_tcp_ops;

struct dns_resolver *dns_resolver_new(struct net_ctx *ctx, const struct mx_config *cfg, char *err, size_t errlen)
{
	struct dns_resolver *r = calloc(1, sizeof(*r));
	unsigned i;
	int rc;

	if (r == NULL || (r->q = calloc(cfg->dns_max_inflight, sizeof(*r->q))) == NULL ||
	    (cfg->dns_cache_size && (r->cache = dns_cache_new(cfg->dns_cache_size)) == NULL)) {
		snprintf(err, errlen, "out of memory for the DNS resolver");
		dns_resolver_free(r);
		return NULL;
	}
	rc = udp_init(ctx, cfg->dns_max_inflight);
	if (rc < 0 && rc != -EEXIST) {
		snprintf(err, errlen, "cannot start UDP: %s", strerror(-rc));
		dns_resolver_free(r);
		return NULL;
	}
	r->ctx = ctx;
	r->cfg = cfg;
	r->ifidx = tcp_if_of_role(ctx, CFG_ROLE_INSIDE);
	for (i = cfg->dns_max_inflight; i-- > 0;) {
		r->q[i].r = r;
		r->q[i].next_free = r->free_q;
		r->free_q = &r->q[i];
	}
	r->next_server = tcp_worker(ctx) % cfg->ndns_servers;
	return r;
}

/*
 * A reloaded configuration (SIGHUP, on the worker): the resolver reads it
 * from now on. Its DNS keys need a restart, so cfg_merge() gave cfg the
 * running values: the server list and the query table's size do not change.
 */
void dns_resolver_set_config(struct dns_resolver *r, const struct mx_config *cfg)
{
	r->cfg = cfg;
}

/* Let go of a query's socket or connection. */
static void q_release_io(struct dns_query *q)
{
	if (q->u) {
		udp_close(q->u);
		q->u = NULL;
	}
	if (q->tc) {
		tcp_set_app(q->tc, NULL, NULL);
		tcp_abort(q->tc);
		q->tc = NULL;
	}
	free(q->tbuf);
	q->tbuf = NULL;
	q->tlen = 0;
}

void dns_resolver_free(struct dns_resolver *r)
{
	unsigned i;

	if (r == NULL)
		return;
	for (i = 0; r->q && r->cfg && i < r->cfg->dns_max_inflight; i++)
		if (r->q[i].used)
			q_release_io(&r->q[i]);
	free(r->q);
	dns_cache_free(r->cache);
	free(r);
}

/* The query is over: free its slot, cache the result, then tell its owner (who may look up more). */
static void q_finish(struct dns_query *q, struct dns_result *res)
{
	struct dns_resolver *r = q->r;
	dns_cb *cb = q->cb;
	void *arg = q->arg;

	q_release_io(q);
	dns_cache_put(r->cache, q->name, res, r->ctx ? tcp_now_us(r->ctx) : 0);
	q->used = 0;
	q->cb = NULL;
	q->next_free = r->free_q;
	r->free_q = q;
	r->inflight--;
	r->st.results[res->status]++;
	if (cb)
		cb(arg, res);
}

/* DNS_TEMP for the query. */
static void q_fail(struct dns_query *q)
{
	struct dns_result res;

	memset(&res, 0, sizeof(res));
	res.status = DNS_TEMP;
	res.type = q->type;
	q_finish(q, &res);
}

static const struct cfg_backend *q_server(const struct dns_query *q)
{
	return &q->r->cfg->dns_servers[q->server % q->r->cfg->ndns_servers];
}

/* One more try over UDP, or DNS_TEMP when none remain. */
static void q_try(struct dns_query *q)
{
	struct dns_resolver *r = q->r;
	uint8_t msg[DNS_NAME_MAX + 32];
	const struct cfg_backend *s;
	struct net_addr a;
	int len;

	q_release_io(q);
	while (q->tries <= r->cfg->dns_retries) {
		q->tries++;
		q->server = r->next_server++;
		s = q_server(q);
		memset(&a, 0, sizeof(a));
		memcpy(a.a, s->addr, s->family == 4 ? 4 : 16);
		q->u = udp_connect(r->ctx, r->ifidx, s->family == 4 ? NET_AF_INET : NET_AF_INET6, &a, s->port,
				   &q_udp_ops, q);
		if (q->u == NULL)
			continue;
		q->id = udp_random16(r->ctx);
		len = dns_msg_query(q->name, q->type, q->id, msg, sizeof(msg));
		if (len < 0 || udp_send(q->u, msg, (size_t)len) != 0) {
			udp_close(q->u);
			q->u = NULL;
			continue;
		}
		r->st.udp_queries++;
		udp_set_timeout(q->u, r->cfg->dns_timeout_ms);
		return;
	}
	q_fail(q);
}

/* A reply (over either transport) judged: finished, retried, or ignored (1: keep waiting). */
static int q_reply(struct dns_query *q, const uint8_t *buf, size_t len, int over_tcp)
{
	struct dns_resolver *r = q->r;
	struct dns_result res;

	switch (dns_msg_reply(buf, len, q->id, q->name, q->type, &res)) {
	case DNS_REPLY_MISMATCH:
		r->st.mismatched++;
		return 1;
	case DNS_REPLY_MALFORMED:
		r->st.malformed++;
		return 1;
	case DNS_REPLY_TRUNCATED: {
		const struct cfg_backend *s = q_server(q);
		struct net_addr a;

		if (over_tcp) {
			r->st.malformed++;
			q_try(q);
			return 0;
		}
		q_release_io(q);
		memset(&a, 0, sizeof(a));
		memcpy(a.a, s->addr, s->family == 4 ? 4 : 16);
		q->tc = tcp_connect(r->ctx, r->ifidx, s->family == 4 ? NET_AF_INET : NET_AF_INET6, &a, s->port,
				    &q_tcp_ops, q);
		if (q->tc == NULL) {
			q_try(q);
			return 0;
		}
		r->st.tcp_queries++;
		tcp_set_timeout(q->tc, r->cfg->dns_timeout_ms);
		return 0;
	}
	case DNS_REPLY_DONE:
		break;
	}
	if (res.status == DNS_TEMP && q->tries <= r->cfg->dns_retries) {
		q_try(q);                 /* SERVFAIL, REFUSED: the next server */
		return 0;
	}
	q_finish(q, &res);
	return 0;
}

static void q_udp_input(struct udp_sock *u, const uint8_t *data, size_t len)
{
	q_reply(udp_app(u), data, len, 0);
}

static void q_udp_timeout(struct udp_sock *u)
{
	struct dns_query *q = udp_app(u);

	q->r->st.timeouts++;
	q_try(q);
}

static const struct udp_ops q_udp_ops = {
	.input = q_udp_input,
	.timeout = q_udp_timeout,
};

/* ---- TCP (truncated answers) ---- */

static void q_tcp_connected(struct tcp_conn *c, int err)
{
	struct dns_query *q = tcp_app(c);
	uint8_t msg[DNS_NAME_MAX + 32];
	int len;

	if (err != 0)
		return;               /* closed() follows */
	q->id = udp_random16(q->r->ctx);
	len = dns_msg_query(q->name, q->type, q->id, msg + 2, sizeof(msg) - 2);
	if (len < 0) {
		q_fail(q);
		return;
	}
	msg[0] = (uint8_t)(len >> 8);
	msg[1] = (uint8_t)len;
	if (tcp_send(c, msg, (size_t)len + 2) != (size_t)len + 2)
		q_fail(q);
}

static void q_tcp_readable(struct tcp_conn *c)
{
	struct dns_query *q = tcp_app(c);
	size_t need, n;

	for (;;) {
		if (q->tbuf == NULL) {
			uint8_t lb[2];

			if (tcp_readable(c) < 2)
				return;
			tcp_recv(c, lb, 2);
			need = (size_t)lb[0] << 8 | lb[1];
			if (need < 12 || (q->tbuf = malloc(need + 2)) == NULL) {
				q_fail(q);
				return;
			}
			q->tbuf[0] = lb[0];
			q->tbuf[1] = lb[1];
			q->tlen = 0;
		}
		need = (size_t)q->tbuf[0] << 8 | q->tbuf[1];
		n = tcp_recv(c, q->tbuf + 2 + q->tlen, need - q->tlen);
		q->tlen += n;
		if (q->tlen < need)
			return;
		if (q_reply(q, q->tbuf + 2, need, 1) == 0)
			return;           /* finished or retried: q may be reused */
		free(q->tbuf);        /* ignored: read the next message on the stream */
		q->tbuf = NULL;
	}
}

static void q_tcp_closed(struct tcp_conn *c, enum tcp_end why)
{
	struct dns_query *q = tcp_app(c);

	(void)why;
	if (q == NULL)
		return;
	q->tc = NULL;             /* the stack frees it */
	q_try(q);
}

static void q_tcp_timeout(struct tcp_conn *c)
{
	struct dns_query *q = tcp_app(c);

	q->r->st.timeouts++;
	q_try(q);
}

static void q_tcp_peer_closed(struct tcp_conn *c)
{
	struct dns_query *q = tcp_app(c);

	q_try(q);
}

static const struct tcp_app_ops q_tcp_ops = {
	.connected = q_tcp_connected,
	.readable = q_tcp_readable,
	.peer_closed = q_tcp_peer_closed,
	.closed = q_tcp_closed,
	.timeout = q_tcp_timeout,
};

/* ---- the API ---- */

struct dns_query *dns_lookup(struct dns_resolver *r, const char *name, uint16_t type, dns_cb *cb, void *arg)
{
	struct dns_result res;
	struct dns_query *q;
	size_t len = strlen(name);

	if (dns_cache_get(r->cache, name, type, tcp_now_us(r->ctx), &res)) {
		r->st.results[res.status]++;
		cb(arg, &res);
		return NULL;
	}
	memset(&res, 0, sizeof(res));
	res.type = type;
	res.status = DNS_TEMP;
	q = r->free_q;
	if (len == 0 || len > DNS_NAME_MAX || q == NULL) {
		if (q == NULL)
			r->st.busy++;
		r->st.results[DNS_TEMP]++;
		cb(arg, &res);
		return NULL;
	}
	r->free_q = q->next_free;
	r->inflight++;
	memset(q, 0, sizeof(*q));
	q->r = r;
	q->used = 1;
	memcpy(q->name, name, len + 1);
	q->type = type;
	q->cb = cb;
	q->arg = arg;
	q_try(q);
	return q->used && q->cb == cb && q->arg == arg ? q : NULL;
}

void dns_detach(struct dns_query *q)
{
	if (q != NULL)
		q->cb = NULL;
}

uint64_t dns_now_us(const struct dns_resolver *r)
{
	return tcp_now_us(r->ctx);
}

unsigned dns_inflight(const struct dns_resolver *r)
{
	return r->inflight;
}

/* ---- counters ---- */

void dns_print_labelled(FILE *f, const struct dns_resolver *r, unsigned lcore)
{
	const struct dns_stats *st;
	unsigned i;

	if (r == NULL)
		return;
	st = &r->st;
	fprintf(f, "mxgate_dns_queries_total{lcore=\"%u\",transport=\"udp\"} %llu\n", lcore,
		(unsigned long long)st->udp_queries);
	fprintf(f, "mxgate_dns_queries_total{lcore=\"%u\",transport=\"tcp\"} %llu\n", lcore,
		(unsigned long long)st->tcp_queries);
	fprintf(f, "mxgate_dns_timeouts_total{lcore=\"%u\"} %llu\n", lcore, (unsigned long long)st->timeouts);
	fprintf(f, "mxgate_dns_replies_ignored_total{lcore=\"%u\",reason=\"mismatch\"} %llu\n", lcore,
		(unsigned long long)st->mismatched);
	fprintf(f, "mxgate_dns_replies_ignored_total{lcore=\"%u\",reason=\"malformed\"} %llu\n", lcore,
		(unsigned long long)st->malformed);
	fprintf(f, "mxgate_dns_busy_total{lcore=\"%u\"} %llu\n", lcore, (unsigned long long)st->busy);
	for (i = 0; i < DNS_STATUS_COUNT; i++)
		fprintf(f, "mxgate_dns_lookups_total{lcore=\"%u\",result=\"%s\"} %llu\n", lcore, dns_status_names[i],
			(unsigned long long)st->results[i]);
	if (r->cache) {
		const struct dns_cache_stats *cs = dns_cache_stats(r->cache);

		fprintf(f, "mxgate_dns_cache_total{lcore=\"%u\",event=\"hit\"} %llu\n", lcore,
			(unsigned long long)cs->hits);
		fprintf(f, "mxgate_dns_cache_total{lcore=\"%u\",event=\"miss\"} %llu\n", lcore,
			(unsigned long long)cs->misses);
		fprintf(f, "mxgate_dns_cache_total{lcore=\"%u\",event=\"evicted\"} %llu\n", lcore,
			(unsigned long long)cs->evictions);
		fprintf(f, "mxgate_dns_cache_total{lcore=\"%u\",event=\"expired\"} %llu\n", lcore,
			(unsigned long long)cs->expired);
		fprintf(f, "mxgate_dns_cache_entries{lcore=\"%u\"} %llu\n", lcore, (unsigned long long)cs->entries);
		fprintf(f, "mxgate_dns_cache_bytes{lcore=\"%u\"} %llu\n", lcore, (unsigned long long)cs->bytes);
	}
	for (i = 1; i < DNS_NAME_STATUS_COUNT; i++)
		fprintf(f, "mxgate_dns_client_names_total{lcore=\"%u\",status=\"%s\"} %llu\n", lcore,
			dns_name_status_names[i], (unsigned long long)st->names[i]);
	for (i = 0; i < r->cfg->ndnsbl_sites; i++) {
		static const char *const what[3] = { "listed", "unlisted", "error" };

		for (unsigned k = 0; k < 3; k++)
			fprintf(f, "mxgate_dnsbl_lookups_total{lcore=\"%u\",site=\"%s\",result=\"%s\"} %llu\n", lcore,
				r->cfg->dnsbl_sites[i].domain, what[k], (unsigned long long)st->dnsbl[i][k]);
	}
	if (r->cfg->ndnsbl_sites)
		fprintf(f, "mxgate_dnsbl_blocked_total{lcore=\"%u\"} %llu\n", lcore,
			(unsigned long long)st->dnsbl_blocked);
}
