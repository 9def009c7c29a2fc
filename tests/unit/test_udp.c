/*
 * test_udp.c - UDP in our stack (dataplane/net/udp.c) on the test stack of
 * tests/unit/tcp_harness.h (EAL without hugepages, one interface, frames
 * captured): datagrams out over IPv4 and IPv6 with their headers and
 * checksums (judged by the harness's own checksum), datagrams in delivered
 * only from the socket's peer address and port with a valid checksum (zero
 * allowed over IPv4 only), short ones dropped, the timer, the socket bound,
 * random ports, and the drop counters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <rte_mbuf.h>

#include "tcp_harness.h"
#include "dataplane/net/udp.h"
#include "t.h"

static struct rte_mempool *pool;
static struct net_ctx *ctx;
static uint8_t frame[2048];
static size_t frame_len;
static unsigned nframes;

static void xmit(struct net_ctx *c, struct net_if *ifp, struct rte_mbuf *m)
{
	(void)c;
	(void)ifp;
	if (m == NULL)
		return;
	frame_len = rte_pktmbuf_pkt_len(m);
	memcpy(frame, rte_pktmbuf_mtod(m, void *), frame_len);
	nframes++;
	rte_pktmbuf_free(m);
}

static uint8_t got[2048];
static size_t got_len;
static int ninput, ntimeout;

static void on_input(struct udp_sock *u, const uint8_t *d, size_t n)
{
	(void)u;
	memcpy(got, d, n);
	got_len = n;
	ninput++;
}

static void on_timeout(struct udp_sock *u)
{
	(void)u;
	ntimeout++;
}

static const struct udp_ops ops = { on_input, on_timeout };

/*
 * Inject a datagram from src:sport to our address:dport. csum: 1 right,
 * 0 zero (none), -1 wrong; ulen_extra grows the UDP length field past the packet.
 */
static void inject(uint8_t family, const uint8_t *src, uint16_t sport, uint16_t dport, const char *payload,
		   int csum, unsigned ulen_extra)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	size_t plen = strlen(payload), iplen = family == NET_AF_INET ? 20 : 40, n = 14 + iplen + 8 + plen;
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)n), *ip = p + 14, *u = ip + iplen;
	const uint8_t *dst = family == NET_AF_INET ? our_ip4 : our_ip6;

	memset(p, 0, n);
	memcpy(p, our_mac, 6);
	memcpy(p + 6, peer_mac, 6);
	put16(p + 12, family == NET_AF_INET ? 0x0800 : 0x86dd);
	if (family == NET_AF_INET) {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(20 + 8 + plen));
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		put16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
	} else {
		put32(ip, 6u << 28);
		put16(ip + 4, (uint16_t)(8 + plen));
		ip[6] = 17;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
	}
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + plen + ulen_extra));
	memcpy(u + 8, payload, plen);
	if (csum != 0) {
		uint16_t c = l4_csum(family, src, dst, 17, u, (unsigned)(8 + plen));

		put16(u + 6, (uint16_t)((c ? c : 0xffff) ^ (csum < 0 ? 0x0101 : 0)));
	}
	net_input(ctx, &ctx->ifs[0], m);
}

static uint64_t drops(enum net_drop d) { return ctx->st.drops[d]; }

TEST(out_and_in_v4)
{
	struct net_addr peer = addr_of(NET_AF_INET, peer_ip4);
	struct udp_sock *u = udp_connect(ctx, 0, NET_AF_INET, &peer, 53, &ops, NULL);
	const struct net_tuple *t;
	const uint8_t *ip = frame + 14, *h = frame + 34;
	uint8_t other[4] = { 198, 18, 0, 77 };

	CHECK(u != NULL);
	t = udp_tuple(u);
	CHECK(t->lport >= 1024);
	CHECK_EQ(t->rport, 53);
	CHECK_EQ(udp_sock_count(ctx), 1);
	nframes = 0;
	CHECK_EQ(udp_send(u, "query", 5), 0);
	net_flush(ctx);
	CHECK_EQ(nframes, 1);
	CHECK_EQ(frame_len, 14 + 20 + 8 + 5);
	CHECK_EQ(ip[9], 17);
	CHECK(memcmp(ip + 12, our_ip4, 4) == 0 && memcmp(ip + 16, peer_ip4, 4) == 0);
	CHECK_EQ(fold(sum16(ip, 20, 0)), 0xffff);                      /* IPv4 header checksum */
	CHECK_EQ(get16(h), t->lport);
	CHECK_EQ(get16(h + 2), 53);
	CHECK_EQ(get16(h + 4), 13);
	CHECK(get16(h + 6) != 0);
	CHECK_EQ(l4_csum(NET_AF_INET, our_ip4, peer_ip4, 17, h, 13), 0);   /* UDP checksum */
	CHECK(memcmp(h + 8, "query", 5) == 0);
	ninput = 0;
	inject(NET_AF_INET, peer_ip4, 53, t->lport, "answer", 1, 0);
	CHECK_EQ(ninput, 1);
	CHECK_EQ(got_len, 6);
	CHECK(memcmp(got, "answer", 6) == 0);
	inject(NET_AF_INET, peer_ip4, 53, t->lport, "zero", 0, 0);       /* no checksum: allowed over IPv4 */
	CHECK_EQ(ninput, 2);
	uint64_t c0 = drops(NET_DROP_udp_csum), n0 = drops(NET_DROP_udp_no_socket), s0 = drops(NET_DROP_udp_short);
	inject(NET_AF_INET, peer_ip4, 53, t->lport, "bad", -1, 0);
	CHECK_EQ(drops(NET_DROP_udp_csum), c0 + 1);
	inject(NET_AF_INET, peer_ip4, 54, t->lport, "port", 1, 0);       /* another source port */
	inject(NET_AF_INET, other, 53, t->lport, "addr", 1, 0);          /* another source address */
	inject(NET_AF_INET, peer_ip4, 53, (uint16_t)(t->lport ^ 1), "lport", 1, 0);
	CHECK_EQ(drops(NET_DROP_udp_no_socket), n0 + 3);
	inject(NET_AF_INET, peer_ip4, 53, t->lport, "long", 1, 10);      /* UDP length past the packet */
	CHECK_EQ(drops(NET_DROP_udp_short), s0 + 1);
	CHECK_EQ(ninput, 2);
	CHECK_EQ(udp_send(u, frame, UDP_PAYLOAD_MAX + 1), -EMSGSIZE);
	/* the timer */
	ntimeout = 0;
	udp_set_timeout(u, 100);
	ctx->now_us += 99000;
	net_timers(ctx);
	CHECK_EQ(ntimeout, 0);
	ctx->now_us += 2000;
	net_timers(ctx);
	CHECK_EQ(ntimeout, 1);
	ctx->now_us += 200000;
	net_timers(ctx);
	CHECK_EQ(ntimeout, 1);                                           /* once */
	/* closed: the port is no one's */
	uint16_t lp = t->lport;
	udp_close(u);
	CHECK_EQ(udp_sock_count(ctx), 0);
	inject(NET_AF_INET, peer_ip4, 53, lp, "late", 1, 0);
	CHECK_EQ(drops(NET_DROP_udp_no_socket), n0 + 4);
	CHECK_EQ(ninput, 2);
}

TEST(v6)
{
	struct net_addr peer = addr_of(NET_AF_INET6, peer_ip6);
	struct udp_sock *u = udp_connect(ctx, 0, NET_AF_INET6, &peer, 5353, &ops, NULL);
	const uint8_t *h = frame + 14 + 40;
	uint16_t lp = udp_tuple(u)->lport;

	nframes = 0;
	CHECK_EQ(udp_send(u, "six", 3), 0);
	net_flush(ctx);
	CHECK_EQ(nframes, 1);
	CHECK_EQ(get16(frame + 12), 0x86dd);
	CHECK_EQ(frame[14 + 6], 17);
	CHECK_EQ(get16(h + 2), 5353);
	CHECK_EQ(l4_csum(NET_AF_INET6, our_ip6, peer_ip6, 17, h, 11), 0);
	ninput = 0;
	uint64_t c0 = drops(NET_DROP_udp_csum);
	inject(NET_AF_INET6, peer_ip6, 5353, lp, "none", 0, 0);          /* zero checksum: never over IPv6 */
	CHECK_EQ(drops(NET_DROP_udp_csum), c0 + 1);
	CHECK_EQ(ninput, 0);
	inject(NET_AF_INET6, peer_ip6, 5353, lp, "good", 1, 0);
	CHECK_EQ(ninput, 1);
	CHECK(memcmp(got, "good", 4) == 0);
	udp_close(u);
}

TEST(bound_and_ports)
{
	struct net_addr peer = addr_of(NET_AF_INET, peer_ip4);
	struct udp_sock *s[4];
	unsigned i, same = 0;

	for (i = 0; i < 4; i++)
		CHECK((s[i] = udp_connect(ctx, 0, NET_AF_INET, &peer, 53, &ops, NULL)) != NULL);
	errno = 0;
	CHECK(udp_connect(ctx, 0, NET_AF_INET, &peer, 53, &ops, NULL) == NULL);
	CHECK_EQ(errno, EMFILE);
	for (i = 1; i < 4; i++)
		same += udp_tuple(s[i])->lport == udp_tuple(s[0])->lport;
	CHECK_EQ(same, 0);                                               /* one port per socket */
	for (i = 0; i < 4; i++)
		udp_close(s[i]);
	/* many opens and closes: ports spread (random), never below 1024 */
	unsigned lo = 65535, hi = 0;
	for (i = 0; i < 200; i++) {
		struct udp_sock *u = udp_connect(ctx, 0, NET_AF_INET, &peer, 53, &ops, NULL);
		uint16_t p = udp_tuple(u)->lport;

		lo = p < lo ? p : lo;
		hi = p > hi ? p : hi;
		udp_close(u);
	}
	CHECK(lo >= 1024);
	CHECK(hi - lo > 30000);
	CHECK_EQ(udp_init(ctx, 4), -EEXIST);
}

int main(void)
{
	struct tcp_params tp = { .max_conns = 16, .syn_backlog = 16, .rcvbuf = 65536, .sndbuf = 65536,
				 .timewait_max = 16, .timewait_ms = 1000 };

	pool = harness_eal("test_udp", 128, 1024);
	if (pool == NULL || (ctx = harness_stack(pool, xmit, &tp)) == NULL || udp_init(ctx, 4) != 0) {
		fprintf(stderr, "EAL, pool or stack set-up failed\n");
		return 1;
	}
	RUN(out_and_in_v4);
	RUN(v6);
	RUN(bound_and_ports);
	net_ctx_free(ctx);
	return t_done("test_udp");
}
