/*
 * test_dns.c - dataplane/dns without DPDK: the messages (a query from
 * c-ares read back, replies judged: ID, question, RCODE, TTLs, lengths,
 * compression loops), reverse names, host-name checks, the cache (TTL,
 * negative answers, LRU bound), and the resolver and the connect-time
 * checks over an in-memory UDP and TCP (defined here) with a clock the
 * test moves: random ID and port per try, replies for another ID or
 * question ignored, timeouts and retries over the servers, SERVFAIL moving
 * on, truncation going to TCP, the in-flight bound, forward confirmation
 * (verified, forged, temporary), DNSBL weights, filters and allowlists.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dns/dns.h"
#include "dataplane/net/udp.h"
#include "dataplane/net/tcp_app.h"
#include "common/config.h"
#include "tests/unit/t.h"

/* ---- an in-memory UDP and TCP (what resolver.c calls) ---- */

struct net_ctx { uint64_t now_us; };
static struct net_ctx CTX = { 1000000000ull };

#define NSOCK 64
struct udp_sock {
	int used;
	const struct udp_ops *ops;
	void *app;
	struct net_tuple t;
	uint64_t due;
	uint8_t sent[1500];
	size_t sent_len;
	unsigned nsent;
};
static struct udp_sock socks[NSOCK];
static unsigned udp_opened, rnd_seq = 12345;
static int tcp_connects;

int udp_init(struct net_ctx *ctx, unsigned max) { (void)ctx; (void)max; return 0; }
uint16_t udp_random16(struct net_ctx *ctx)
{
	(void)ctx;
	rnd_seq = rnd_seq * 1103515245u + 12345u;
	return (uint16_t)(rnd_seq >> 16);
}
struct udp_sock *udp_connect(struct net_ctx *ctx, unsigned ifidx, uint8_t family, const struct net_addr *raddr,
			     uint16_t rport, const struct udp_ops *ops, void *app)
{
	unsigned i;

	(void)ifidx;
	for (i = 0; i < NSOCK; i++)
		if (!socks[i].used) {
			memset(&socks[i], 0, sizeof(socks[i]));
			socks[i].used = 1;
			socks[i].ops = ops;
			socks[i].app = app;
			socks[i].t.family = family;
			socks[i].t.raddr = *raddr;
			socks[i].t.rport = rport;
			socks[i].t.lport = (uint16_t)(1024 + udp_random16(ctx) % 64000);
			udp_opened++;
			return &socks[i];
		}
	errno = EMFILE;
	return NULL;
}
int udp_send(struct udp_sock *u, const void *buf, size_t len)
{
	memcpy(u->sent, buf, len);
	u->sent_len = len;
	u->nsent++;
	return 0;
}
void udp_close(struct udp_sock *u) { u->used = 0; }
void udp_set_timeout(struct udp_sock *u, unsigned ms) { u->due = ms ? CTX.now_us + ms * 1000ull : 0; }
void *udp_app(const struct udp_sock *u) { return u->app; }
const struct net_tuple *udp_tuple(const struct udp_sock *u) { return &u->t; }
unsigned udp_sock_count(const struct net_ctx *ctx)
{
	unsigned i, n = 0;

	(void)ctx;
	for (i = 0; i < NSOCK; i++)
		n += socks[i].used;
	return n;
}

/* TCP: a connect is counted and refused (the lab tests the real fallback). */
struct tcp_conn *tcp_connect(struct net_ctx *ctx, unsigned ifidx, uint8_t family, const struct net_addr *raddr,
			     uint16_t rport, const struct tcp_app_ops *ops, void *app)
{
	(void)ctx, (void)ifidx, (void)family, (void)raddr, (void)rport, (void)ops, (void)app;
	tcp_connects++;
	errno = ENOMEM;
	return NULL;
}
void tcp_set_app(struct tcp_conn *c, const struct tcp_app_ops *ops, void *app) { (void)c, (void)ops, (void)app; }
void *tcp_app(const struct tcp_conn *c) { (void)c; return NULL; }
void tcp_abort(struct tcp_conn *c) { (void)c; }
void tcp_set_timeout(struct tcp_conn *c, unsigned ms) { (void)c, (void)ms; }
size_t tcp_send(struct tcp_conn *c, const void *b, size_t n) { (void)c, (void)b; return n; }
size_t tcp_recv(struct tcp_conn *c, void *b, size_t n) { (void)c, (void)b, (void)n; return 0; }
size_t tcp_readable(const struct tcp_conn *c) { (void)c; return 0; }
uint64_t tcp_now_us(const struct net_ctx *ctx) { return ctx->now_us; }
unsigned tcp_worker(const struct net_ctx *ctx) { (void)ctx; return 0; }
unsigned tcp_if_of_role(const struct net_ctx *ctx, unsigned role) { (void)ctx, (void)role; return 1; }

/* The open socket with a query waiting (the most recent), or NULL. */
static struct udp_sock *pending(void)
{
	int i;

	for (i = NSOCK - 1; i >= 0; i--)
		if (socks[i].used && socks[i].nsent)
			return &socks[i];
	return NULL;
}

/* Move the clock and fire the UDP timers due. */
static void advance_ms(unsigned ms)
{
	unsigned i;

	CTX.now_us += ms * 1000ull;
	for (i = 0; i < NSOCK; i++)
		if (socks[i].used && socks[i].due && socks[i].due <= CTX.now_us) {
			socks[i].due = 0;
			socks[i].ops->timeout(&socks[i]);
		}
}

/* ---- replies built from the query ---- */

static size_t wname(uint8_t *p, const char *n)
{
	size_t o = 0;

	while (*n) {
		const char *d = strchr(n, '.');
		size_t l = d ? (size_t)(d - n) : strlen(n);

		p[o++] = (uint8_t)l;
		memcpy(p + o, n, l);
		o += l;
		n += l + (d ? 1 : 0);
	}
	p[o++] = 0;
	return o;
}

static size_t put_rr(uint8_t *p, uint16_t type, uint32_t ttl, const void *rd, size_t rdlen)
{
	p[0] = 0xc0;                       /* the question's name */
	p[1] = 12;
	p[2] = (uint8_t)(type >> 8);
	p[3] = (uint8_t)type;
	p[4] = 0;
	p[5] = 1;
	p[6] = (uint8_t)(ttl >> 24);
	p[7] = (uint8_t)(ttl >> 16);
	p[8] = (uint8_t)(ttl >> 8);
	p[9] = (uint8_t)ttl;
	p[10] = (uint8_t)(rdlen >> 8);
	p[11] = (uint8_t)rdlen;
	memcpy(p + 12, rd, rdlen);
	return 12 + rdlen;
}

struct reply {
	uint8_t b[1500];
	size_t len;
};

/* Start a reply to query q: header with QR, RA and rcode, the question copied. */
static void reply_begin(struct reply *r, const uint8_t *q, size_t qlen, unsigned rcode)
{
	memcpy(r->b, q, qlen);
	r->len = qlen;
	r->b[2] = 0x81;                    /* QR, RD */
	r->b[3] = (uint8_t)(0x80 | rcode); /* RA */
}

static void reply_answer(struct reply *r, uint16_t type, uint32_t ttl, const void *rd, size_t rdlen)
{
	r->len += put_rr(r->b + r->len, type, ttl, rd, rdlen);
	r->b[7]++;
}

static void reply_ptr(struct reply *r, uint32_t ttl, const char *name)
{
	uint8_t rd[300];

	reply_answer(r, DNS_T_PTR, ttl, rd, wname(rd, name));
}

static void reply_soa(struct reply *r, uint32_t ttl, uint32_t minimum)
{
	uint8_t rd[200];
	size_t n = wname(rd, "ns.example");

	n += wname(rd + n, "hostmaster.example");
	memset(rd + n, 0, 16);
	rd[n + 16] = (uint8_t)(minimum >> 24);
	rd[n + 17] = (uint8_t)(minimum >> 16);
	rd[n + 18] = (uint8_t)(minimum >> 8);
	rd[n + 19] = (uint8_t)minimum;
	r->len += put_rr(r->b + r->len, 6, ttl, rd, n + 20);
	r->b[9]++;
}

/* Deliver a reply on the socket (as our UDP does once address and ports matched). */
static void deliver(struct udp_sock *u, const struct reply *r)
{
	u->ops->input(u, r->b, r->len);
}

static uint16_t qid(const struct udp_sock *u) { return (uint16_t)(u->sent[0] << 8 | u->sent[1]); }

/* ---- messages ---- */

TEST(msg_query_and_reply)
{
	uint8_t q[300];
	struct dns_result res;
	struct reply r;
	int n = dns_msg_query("client1.lab.example", DNS_T_A, 0xbeef, q, sizeof(q));
	const uint8_t a1[4] = { 198, 18, 0, 1 }, a2[4] = { 198, 18, 0, 9 };

	CHECK(n > 12);
	CHECK_EQ(q[0] << 8 | q[1], 0xbeef);
	CHECK_EQ(q[2] & 0x01, 1);          /* RD */
	CHECK_EQ(q[5], 1);                 /* one question */
	CHECK_EQ(dns_msg_query("x.example", DNS_T_A, 1, q, 5), -1);   /* does not fit */
	n = dns_msg_query("client1.lab.example", DNS_T_A, 0xbeef, q, sizeof(q));
	reply_begin(&r, q, (size_t)n, 0);
	reply_answer(&r, DNS_T_A, 300, a1, 4);
	reply_answer(&r, DNS_T_A, 60, a2, 4);
	CHECK_EQ(dns_msg_reply(r.b, r.len, 0xbeef, "client1.lab.example", DNS_T_A, &res), DNS_REPLY_DONE);
	CHECK_EQ(res.status, DNS_OK);
	CHECK_EQ(res.n, 2);
	CHECK_EQ(res.ttl, 60);             /* the smallest */
	CHECK(memcmp(res.u.addr[1].a, a2, 4) == 0);
	/* the question compared without case and trailing dot */
	CHECK_EQ(dns_msg_reply(r.b, r.len, 0xbeef, "CLIENT1.lab.example.", DNS_T_A, &res), DNS_REPLY_DONE);
	/* another ID, another name, another type: not ours */
	CHECK_EQ(dns_msg_reply(r.b, r.len, 0xbeee, "client1.lab.example", DNS_T_A, &res), DNS_REPLY_MISMATCH);
	CHECK_EQ(dns_msg_reply(r.b, r.len, 0xbeef, "client2.lab.example", DNS_T_A, &res), DNS_REPLY_MISMATCH);
	CHECK_EQ(dns_msg_reply(r.b, r.len, 0xbeef, "client1.lab.example", DNS_T_AAAA, &res), DNS_REPLY_MISMATCH);
	/* a query (QR clear) is not a reply */
	CHECK_EQ(dns_msg_reply(q, (size_t)n, 0xbeef, "client1.lab.example", DNS_T_A, &res), DNS_REPLY_MISMATCH);
	/* every length: any cut of the reply is malformed or a mismatch, never read past */
	for (size_t cut = 0; cut < r.len; cut++) {
		uint8_t *c = malloc(cut ? cut : 1);
		enum dns_reply o;

		memcpy(c, r.b, cut);
		o = dns_msg_reply(c, cut, 0xbeef, "client1.lab.example", DNS_T_A, &res);
		CHECK(o == DNS_REPLY_MALFORMED || o == DNS_REPLY_MISMATCH);
		free(c);
	}
	/* rdlength beyond the message */
	r.b[r.len - 5] = 0x40;
	CHECK_EQ(dns_msg_reply(r.b, r.len, 0xbeef, "client1.lab.example", DNS_T_A, &res), DNS_REPLY_MALFORMED);
}

TEST(msg_negative_and_errors)
{
	uint8_t q[300];
	struct dns_result res;
	struct reply r;
	int n = dns_msg_query("9.0.18.198.in-addr.arpa", DNS_T_PTR, 7, q, sizeof(q));

	reply_begin(&r, q, (size_t)n, 3);
	reply_soa(&r, 3600, 60);
	CHECK_EQ(dns_msg_reply(r.b, r.len, 7, "9.0.18.198.in-addr.arpa", DNS_T_PTR, &res), DNS_REPLY_DONE);
	CHECK_EQ(res.status, DNS_NXDOMAIN);
	CHECK_EQ(res.ttl, 60);             /* min(SOA TTL, SOA MINIMUM), RFC 2308 */
	CHECK_EQ(res.n, 0);
	reply_begin(&r, q, (size_t)n, 3);
	CHECK_EQ(dns_msg_reply(r.b, r.len, 7, "9.0.18.198.in-addr.arpa", DNS_T_PTR, &res), DNS_REPLY_DONE);
	CHECK_EQ(res.ttl, DNS_NEG_TTL_DEFAULT);
	reply_begin(&r, q, (size_t)n, 0);  /* NOERROR, no answer: NODATA */
	reply_soa(&r, 30, 600);
	CHECK_EQ(dns_msg_reply(r.b, r.len, 7, "9.0.18.198.in-addr.arpa", DNS_T_PTR, &res), DNS_REPLY_DONE);
	CHECK_EQ(res.status, DNS_NODATA);
	CHECK_EQ(res.ttl, 30);
	reply_begin(&r, q, (size_t)n, 2);  /* SERVFAIL */
	CHECK_EQ(dns_msg_reply(r.b, r.len, 7, "9.0.18.198.in-addr.arpa", DNS_T_PTR, &res), DNS_REPLY_DONE);
	CHECK_EQ(res.status, DNS_TEMP);
	reply_begin(&r, q, (size_t)n, 0);
	r.b[2] |= 0x02;                    /* TC */
	CHECK_EQ(dns_msg_reply(r.b, r.len, 7, "9.0.18.198.in-addr.arpa", DNS_T_PTR, &res), DNS_REPLY_TRUNCATED);
	/* a compression loop: the answer's owner points at itself */
	reply_begin(&r, q, (size_t)n, 0);
	r.b[r.len] = 0xc0;
	r.b[r.len + 1] = (uint8_t)r.len;
	memset(r.b + r.len + 2, 0, 10);
	r.b[r.len + 3] = DNS_T_PTR;
	r.b[r.len + 5] = 1;
	r.len += 12;
	r.b[7] = 1;
	CHECK_EQ(dns_msg_reply(r.b, r.len, 7, "9.0.18.198.in-addr.arpa", DNS_T_PTR, &res), DNS_REPLY_MALFORMED);
	/* PTR names */
	reply_begin(&r, q, (size_t)n, 0);
	reply_ptr(&r, 120, "a.lab.example");
	reply_ptr(&r, 90, "b.lab.example");
	CHECK_EQ(dns_msg_reply(r.b, r.len, 7, "9.0.18.198.in-addr.arpa", DNS_T_PTR, &res), DNS_REPLY_DONE);
	CHECK_EQ(res.status, DNS_OK);
	CHECK_EQ(res.n, 2);
	CHECK_EQ(res.ttl, 90);
	CHECK(strcmp(res.u.name[0], "a.lab.example") == 0 || strcmp(res.u.name[1], "a.lab.example") == 0);
}

TEST(names)
{
	struct net_addr a = { { 198, 18, 0, 1 } }, a6 = { { 0x20, 0x01, 0, 2, [15] = 1 } };
	char b[128];

	CHECK_EQ(dns_reverse_name(NET_AF_INET, &a, NULL, b, sizeof(b)), 0);
	CHECK_STR(b, "1.0.18.198.in-addr.arpa");
	CHECK_EQ(dns_reverse_name(NET_AF_INET, &a, "bl.example", b, sizeof(b)), 0);
	CHECK_STR(b, "1.0.18.198.bl.example");
	CHECK_EQ(dns_reverse_name(NET_AF_INET6, &a6, NULL, b, sizeof(b)), 0);
	CHECK_STR(b, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.2.ip6.arpa");
	CHECK_EQ(dns_reverse_name(NET_AF_INET, &a, "bl.example", b, 10), -1);
	CHECK(dns_valid_hostname("client1.lab.example"));
	CHECK(dns_valid_hostname("a_b.example"));
	CHECK(!dns_valid_hostname("198.18.0.1"));        /* an address is not a name */
	CHECK(!dns_valid_hostname("2001:2::1"));
	CHECK(!dns_valid_hostname("host.123"));          /* numeric last label */
	CHECK(!dns_valid_hostname("bad..example"));
	CHECK(!dns_valid_hostname("-a.example"));
	CHECK(!dns_valid_hostname("a-.example"));
	CHECK(!dns_valid_hostname("sp ace.example"));
	CHECK(!dns_valid_hostname(""));
}

/* ---- cache ---- */

TEST(cache)
{
	struct dns_cache *c = dns_cache_new(2);
	struct dns_result r, o;
	uint64_t t = 1000000;

	memset(&r, 0, sizeof(r));
	r.type = DNS_T_A;
	r.status = DNS_OK;
	r.n = 1;
	r.ttl = 10;
	r.u.addr[0].a[0] = 7;
	dns_cache_put(c, "a.example", &r, t);
	CHECK_EQ(dns_cache_get(c, "A.EXAMPLE", DNS_T_A, t + 1000000, &o), 1);
	CHECK_EQ(o.u.addr[0].a[0], 7);
	CHECK_EQ(o.ttl, 9);
	CHECK_EQ(dns_cache_get(c, "a.example", DNS_T_AAAA, t, &o), 0);   /* the type is part of the key */
	CHECK_EQ(dns_cache_get(c, "a.example", DNS_T_A, t + 10000000, &o), 0);   /* expired */
	CHECK_EQ(dns_cache_stats(c)->expired, 1);
	/* negative answers are kept; DNS_TEMP and TTL 0 never */
	r.status = DNS_NXDOMAIN;
	r.n = 0;
	dns_cache_put(c, "nx.example", &r, t);
	CHECK_EQ(dns_cache_get(c, "nx.example", DNS_T_A, t, &o), 1);
	CHECK_EQ(o.status, DNS_NXDOMAIN);
	r.status = DNS_TEMP;
	dns_cache_put(c, "temp.example", &r, t);
	CHECK_EQ(dns_cache_get(c, "temp.example", DNS_T_A, t, &o), 0);
	r.status = DNS_OK;
	r.n = 1;
	r.ttl = 0;
	dns_cache_put(c, "zero.example", &r, t);
	CHECK_EQ(dns_cache_get(c, "zero.example", DNS_T_A, t, &o), 0);
	/* bound 2: the least recently used goes */
	r.ttl = 100;
	dns_cache_put(c, "b.example", &r, t);      /* nx.example and b.example */
	CHECK_EQ(dns_cache_get(c, "nx.example", DNS_T_A, t, &o), 1);   /* nx used last */
	dns_cache_put(c, "c.example", &r, t);      /* evicts b.example */
	CHECK_EQ(dns_cache_get(c, "b.example", DNS_T_A, t, &o), 0);
	CHECK_EQ(dns_cache_get(c, "nx.example", DNS_T_A, t, &o), 1);
	CHECK_EQ(dns_cache_get(c, "c.example", DNS_T_A, t, &o), 1);
	CHECK_EQ(dns_cache_stats(c)->entries, 2);
	CHECK_EQ(dns_cache_stats(c)->evictions, 1);
	/* PTR names round trip */
	memset(&r, 0, sizeof(r));
	r.type = DNS_T_PTR;
	r.status = DNS_OK;
	r.n = 2;
	r.ttl = 50;
	strcpy(r.u.name[0], "one.example");
	strcpy(r.u.name[1], "two.example");
	dns_cache_put(c, "1.0.0.10.in-addr.arpa", &r, t);
	CHECK_EQ(dns_cache_get(c, "1.0.0.10.in-addr.arpa", DNS_T_PTR, t, &o), 1);
	CHECK_EQ(o.n, 2);
	CHECK_STR(o.u.name[1], "two.example");
	dns_cache_free(c);
}

/* ---- resolver and checks ---- */

static struct mx_config CFG;
static struct dns_result last;
static int ncb;

static void cb(void *arg, const struct dns_result *r)
{
	(void)arg;
	last = *r;
	ncb++;
}

static struct dns_resolver *resolver(unsigned nservers, unsigned inflight)
{
	char err[128];
	unsigned i;

	memset(&CFG, 0, sizeof(CFG));
	CFG.ndns_servers = nservers;
	for (i = 0; i < nservers; i++) {
		CFG.dns_servers[i].family = 4;
		CFG.dns_servers[i].addr[0] = 198;
		CFG.dns_servers[i].addr[1] = 18;
		CFG.dns_servers[i].addr[2] = 1;
		CFG.dns_servers[i].addr[3] = (uint8_t)(1 + i);
		CFG.dns_servers[i].port = 53;
	}
	CFG.dns_timeout_ms = 1000;
	CFG.dns_retries = 2;
	CFG.dns_max_inflight = inflight;
	CFG.dns_cache_size = 100;
	CFG.dnsbl_threshold = 1;
	memset(socks, 0, sizeof(socks));
	return dns_resolver_new(&CTX, &CFG, err, sizeof(err));
}

TEST(resolver_udp)
{
	struct dns_resolver *r = resolver(2, 4);
	struct udp_sock *u, *u2;
	struct dns_query *q;
	struct reply rep;
	uint16_t id1, port1;
	uint8_t srv1;
	const uint8_t a1[4] = { 198, 18, 0, 1 };

	ncb = 0;
	q = dns_lookup(r, "client1.lab.example", DNS_T_A, cb, NULL);
	CHECK(q != NULL);
	u = pending();
	CHECK(u != NULL);
	CHECK_EQ(u->t.rport, 53);
	CHECK_EQ(dns_inflight(r), 1);
	id1 = qid(u);
	port1 = u->t.lport;
	srv1 = u->t.raddr.a[3];
	/* a reply with another ID is ignored; so is one for another question */
	reply_begin(&rep, u->sent, u->sent_len, 0);
	reply_answer(&rep, DNS_T_A, 300, a1, 4);
	rep.b[1] ^= 1;
	deliver(u, &rep);
	CHECK_EQ(ncb, 0);
	/* no answer in time: a new try on the other server, new port and ID */
	advance_ms(1000);
	CHECK_EQ(ncb, 0);
	u2 = pending();
	CHECK(u2 != NULL);
	CHECK(u2->t.raddr.a[3] != srv1);       /* the other server */
	CHECK(qid(u2) != id1);
	CHECK(u2->t.lport != port1);
	reply_begin(&rep, u2->sent, u2->sent_len, 0);
	reply_answer(&rep, DNS_T_A, 300, a1, 4);
	deliver(u2, &rep);
	CHECK_EQ(ncb, 1);
	CHECK_EQ(last.status, DNS_OK);
	CHECK_EQ(dns_inflight(r), 0);
	CHECK_EQ(udp_sock_count(&CTX), 0);
	/* the cache answers the second time, at once */
	q = dns_lookup(r, "client1.lab.example", DNS_T_A, cb, NULL);
	CHECK(q == NULL);
	CHECK_EQ(ncb, 2);
	CHECK_EQ(last.status, DNS_OK);
	/* three tries without an answer: DNS_TEMP */
	dns_lookup(r, "slow.example", DNS_T_A, cb, NULL);
	advance_ms(1000);
	advance_ms(1000);
	CHECK_EQ(ncb, 2);
	advance_ms(1000);
	CHECK_EQ(ncb, 3);
	CHECK_EQ(last.status, DNS_TEMP);
	/* SERVFAIL moves on to the next server; NXDOMAIN is an answer */
	dns_lookup(r, "nx.example", DNS_T_A, cb, NULL);
	u = pending();
	reply_begin(&rep, u->sent, u->sent_len, 2);
	deliver(u, &rep);
	CHECK_EQ(ncb, 3);
	u = pending();
	CHECK(u != NULL);
	reply_begin(&rep, u->sent, u->sent_len, 3);
	deliver(u, &rep);
	CHECK_EQ(ncb, 4);
	CHECK_EQ(last.status, DNS_NXDOMAIN);
	/* truncated: asked again over TCP (refused here, so the next UDP try follows) */
	tcp_connects = 0;
	dns_lookup(r, "big.example", DNS_T_A, cb, NULL);
	u = pending();
	reply_begin(&rep, u->sent, u->sent_len, 0);
	rep.b[2] |= 0x02;
	deliver(u, &rep);
	CHECK_EQ(tcp_connects, 1);
	CHECK(pending() != NULL);
	/* a detached query's answer only fills the cache */
	q = dns_lookup(r, "detached.example", DNS_T_A, cb, NULL);
	dns_detach(q);
	u = pending();
	reply_begin(&rep, u->sent, u->sent_len, 0);
	reply_answer(&rep, DNS_T_A, 300, a1, 4);
	deliver(u, &rep);
	CHECK_EQ(ncb, 4);
	CHECK(dns_lookup(r, "detached.example", DNS_T_A, cb, NULL) == NULL);
	CHECK_EQ(ncb, 5);
	dns_resolver_free(r);
}

TEST(resolver_bound)
{
	struct dns_resolver *r = resolver(1, 2);

	ncb = 0;
	CHECK(dns_lookup(r, "a.example", DNS_T_A, cb, NULL) != NULL);
	CHECK(dns_lookup(r, "b.example", DNS_T_A, cb, NULL) != NULL);
	CHECK(dns_lookup(r, "c.example", DNS_T_A, cb, NULL) == NULL);   /* over the bound */
	CHECK_EQ(ncb, 1);
	CHECK_EQ(last.status, DNS_TEMP);
	dns_resolver_free(r);
	CHECK_EQ(udp_sock_count(&CTX), 0);
}

/* Answer every waiting query from a tiny zone until none waits. */
static void serve(void)
{
	struct udp_sock *u;
	int guard = 0;

	while ((u = pending()) != NULL && guard++ < 50) {
		struct reply rep;
		char qn[300];
		uint8_t *p = u->sent + 12, a[4] = { 198, 18, 0, 0 }, lo[4] = { 127, 0, 0, 2 }, wl[4] = { 127, 0, 5, 1 };
		uint8_t far[4] = { 127, 0, 0, 50 };
		size_t o = 0;
		uint16_t type;

		while (*p) {
			memcpy(qn + o, p + 1, *p);
			o += *p;
			qn[o++] = '.';
			p += *p + 1;
		}
		qn[o ? o - 1 : 0] = '\0';
		type = (uint16_t)(p[1] << 8 | p[2]);
		reply_begin(&rep, u->sent, u->sent_len, 0);
		if (type == DNS_T_PTR && strcmp(qn, "1.0.18.198.in-addr.arpa") == 0)
			reply_ptr(&rep, 300, "good.example");
		else if (type == DNS_T_PTR && strcmp(qn, "2.0.18.198.in-addr.arpa") == 0)
			reply_ptr(&rep, 300, "forged.example");
		else if (type == DNS_T_PTR && strcmp(qn, "3.0.18.198.in-addr.arpa") == 0)
			reply_ptr(&rep, 300, "198.18.0.3");
		else if (type == DNS_T_A && strcmp(qn, "good.example") == 0)
			a[3] = 1, reply_answer(&rep, DNS_T_A, 300, a, 4);
		else if (type == DNS_T_A && strcmp(qn, "forged.example") == 0)
			a[3] = 99, reply_answer(&rep, DNS_T_A, 300, a, 4);
		else if (strcmp(qn, "1.0.18.198.bl.example") == 0 || strcmp(qn, "2.0.18.198.bl.example") == 0)
			reply_answer(&rep, DNS_T_A, 300, lo, 4);
		else if (strcmp(qn, "3.0.18.198.bl.example") == 0)
			reply_answer(&rep, DNS_T_A, 300, far, 4);
		else if (strcmp(qn, "2.0.18.198.wl.example") == 0)
			reply_answer(&rep, DNS_T_A, 300, wl, 4);
		else if (strcmp(qn, "4.0.18.198.in-addr.arpa") == 0)
			rep.b[3] = 0x82;       /* SERVFAIL, every time */
		else
			rep.b[3] = 0x83;       /* NXDOMAIN */
		deliver(u, &rep);
	}
}

static int ndone;
static void done(void *arg) { (void)arg; ndone++; }

TEST(checks)
{
	struct dns_resolver *r = resolver(1, 16);
	struct net_addr a = { { 198, 18, 0, 1 } };
	struct dns_check *k;
	const char *site;

	CFG.ndnsbl_sites = 2;
	strcpy(CFG.dnsbl_sites[0].domain, "bl.example");
	CFG.dnsbl_sites[0].weight = 2;
	CFG.dnsbl_sites[0].has_filter = 1;       /* 127.0.0.[2..11] */
	CFG.dnsbl_sites[0].filter[0][127 / 8] = 1 << (127 % 8);
	CFG.dnsbl_sites[0].filter[1][0] = 1;
	CFG.dnsbl_sites[0].filter[2][0] = 1;
	for (unsigned v = 2; v <= 11; v++)
		CFG.dnsbl_sites[0].filter[3][v / 8] |= (uint8_t)(1u << (v % 8));
	strcpy(CFG.dnsbl_sites[1].domain, "wl.example");
	CFG.dnsbl_sites[1].weight = -5;
	CFG.dnsbl_threshold = 2;
	/* verified name, listed: blocked using bl.example */
	ndone = 0;
	k = dns_check_start(r, NET_AF_INET, &a, done, NULL);
	CHECK(dns_check_pending(k) > 0);
	serve();
	CHECK_EQ(ndone, 1);
	CHECK_EQ(dns_check_pending(k), 0);
	CHECK_STR(dns_check_name(k), "good.example");
	CHECK_EQ(dns_check_name_status(k), DNS_NAME_OK);
	CHECK_EQ(dns_check_score(k, &site), 2);
	CHECK_STR(site, "bl.example");
	CHECK_STR(dns_check_verdict(k), "bl.example");
	dns_check_free(k);
	/* again: everything from the cache, no done() call inside start */
	k = dns_check_start(r, NET_AF_INET, &a, done, NULL);
	CHECK_EQ(dns_check_pending(k), 0);
	CHECK_EQ(ndone, 1);
	CHECK_STR(dns_check_name(k), "good.example");
	dns_check_free(k);
	/* forged (forward lookup without the address), listed but allowlisted: score -3 */
	a.a[3] = 2;
	k = dns_check_start(r, NET_AF_INET, &a, done, NULL);
	serve();
	CHECK(dns_check_name(k) == NULL);
	CHECK_EQ(dns_check_name_status(k), DNS_NAME_FORGED);
	CHECK_EQ(dns_check_score(k, NULL), -3);
	CHECK(dns_check_verdict(k) == NULL);
	dns_check_free(k);
	/* a PTR that is an address: forged; a reply outside the filter: not listed */
	a.a[3] = 3;
	k = dns_check_start(r, NET_AF_INET, &a, done, NULL);
	serve();
	CHECK_EQ(dns_check_name_status(k), DNS_NAME_FORGED);
	CHECK_EQ(dns_check_score(k, NULL), 0);
	dns_check_free(k);
	/* SERVFAIL on every try: TEMP; no PTR at all: FAIL */
	a.a[3] = 4;
	k = dns_check_start(r, NET_AF_INET, &a, done, NULL);
	serve();
	CHECK_EQ(dns_check_name_status(k), DNS_NAME_TEMP);
	dns_check_free(k);
	a.a[3] = 5;
	k = dns_check_start(r, NET_AF_INET, &a, done, NULL);
	serve();
	CHECK_EQ(dns_check_name_status(k), DNS_NAME_FAIL);
	dns_check_free(k);
	/* stopped while waiting (the banner could wait no longer): TEMP, nothing calls back */
	a.a[3] = 6;
	ndone = 0;
	k = dns_check_start(r, NET_AF_INET, &a, done, NULL);
	CHECK(dns_check_pending(k) > 0);
	CHECK_EQ(dns_check_name_status(k), DNS_NAME_TEMP);
	dns_check_free(k);
	serve();
	CHECK_EQ(ndone, 0);
	dns_resolver_free(r);
}

int main(void)
{
	RUN(msg_query_and_reply);
	RUN(msg_negative_and_errors);
	RUN(names);
	RUN(cache);
	RUN(resolver_udp);
	RUN(resolver_bound);
	RUN(checks);
	return t_done("test_dns");
}
