/*
 * test_tcp.c - unit tests of the userspace TCP/IP stack (dataplane/net).
 *
 * A fake peer builds Ethernet + IPv4/IPv6 + TCP frames byte by byte (with
 * its own checksum code, independent of the stack's), feeds them to
 * net_input(), and checks the exact segments the stack answers with, which
 * a capturing xmit hook collects. Time is driven by hand through
 * ctx->now_us and net_timers(). No ports and no root: the EAL runs with
 * --no-huge --no-pci.
 *
 * Covered: the handshake and its options, ISNs (RFC 6528), sequence
 * wrap-around, duplicate and overlapping segments, RST and SYN handling
 * (RFC 5961), reassembly with SACK blocks, zero windows and persist probes,
 * simultaneous and passive close, TIME_WAIT and FIN_WAIT_2 bounds, RTO
 * with backoff and give-up, fast retransmit, SYN cookies, RSTs for closed
 * ports, malformed segments, PAWS, active open, the reassembly limit, path
 * MTU from ICMP, IPv6, ARP, ICMP echo, the timer wheel after a stall, and
 * the stats field table.
 *
 * Tests numbered 1-20 follow the stack's test plan; the others probe
 * corners found while writing them. A test that fails names a stack bug
 * (see the comment above it for the rule it checks).
 *
 * Every test gets a fresh stack (setup/teardown); teardown also checks
 * that no frame exceeded the MTU and every mbuf went back to the pool.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dataplane/stats.h"
#include "tcp_harness.h"
#include "t.h"

/* ---- the test network ---- */

#define OUR_PORT        25          /* the listener */
#define CLOSED_PORT     26          /* nobody listens here */
#define PEER_PORT       40000       /* first source port of the fake peer */
#define REMOTE_PORT     2525        /* port the stack connects to (active open) */
#define MSS_V4          (IF_MTU - 40)   /* what the stack advertises over IPv4 */
#define MSS_V6          (IF_MTU - 60)
#define PEER_MSS_V4     1460
#define PEER_MSS_V6     1440
#define PEER_WSCALE     7
#define WIN_FIELD_MAX   65535       /* largest window an unscaled field holds */
#define PEER_WIN        WIN_FIELD_MAX  /* window field the peer sends */
#define PEER_ISN        0x10000000u
#define PEER_TS0        1000        /* the peer's first TSval */
#define TS_OPT_LEN      12          /* NOP NOP TS */

/* stack parameters */
#define MAX_CONNS       64
#define SYN_BACKLOG     4
#define REASM_LIMIT     16384
#define REASM_TOTAL     65536
#define RCVBUF          65536
#define SNDBUF          65536
#define TIMEWAIT_MAX    8
#define TIMEWAIT_MS     1000
#define OUR_WSCALE      1           /* smallest shift with 65535 << s >= RCVBUF */

/* TCP constants (dataplane/net/tcp_var.h) the tests depend on */
#define DELACK_MS       40          /* TCP_DELACK_US */
#define RTO_INIT_MS     1000        /* TCP_RTO_INIT_US */
#define ISN_TICK_US     4           /* RFC 6528: the ISN clock ticks every 4 us */
#define WHEEL_LAP_MS    4096        /* WHEEL_SLOTS at 1 ms a slot */
#define FIN_WAIT2_MS    60000       /* TCP_FIN_WAIT2_US */
#define DATA_RETRIES    12          /* TCP_RETRIES */
#define SYN_RETRIES     5           /* TCP_SYN_RETRIES */
#define GIVE_UP_MS      600000      /* longer than any retry schedule */

#define POOL_MBUFS      8191
#define CAP_MAX         512         /* frames one step may capture */
#define STREAM_LEN      70000       /* the peer's byte stream (and our send data) */

/* TCP flags */
#define TF_FIN 0x01
#define TF_SYN 0x02
#define TF_RST 0x04
#define TF_PSH 0x08
#define TF_ACK 0x10

/* option sets the peer offers in its SYN */
#define O_MSS  0x1
#define O_WS   0x2
#define O_SACK 0x4
#define O_TS   0x8
#define O_ALL  (O_MSS | O_WS | O_SACK | O_TS)

#define ETH_HLEN   14
#define IP4_HLEN   20
#define IP6_HLEN   40
#define TCP_HLEN   20
#define ETH_IP4    0x0800
#define ETH_IP6    0x86dd
#define ETH_ARP    0x0806

static struct rte_mempool *pool;
static struct net_ctx *ctx;
static uint8_t stream[STREAM_LEN];      /* the bytes the peer (or we) send */

/* Fill the test byte stream with a pattern that does not repeat every 256 bytes. */
static void stream_init(void)
{
	unsigned i;

	for (i = 0; i < STREAM_LEN; i++)
		stream[i] = (uint8_t)(i * 7 + (i >> 8) * 13 + 1);
}

/* ---- capture of what the stack sends ---- */

static struct rte_mbuf *cap[CAP_MAX];
static unsigned ncap;

/* The stack's transmit hook: keep every frame (NULL is a flush: nothing to do). */
static void capture_xmit(struct net_ctx *c, struct net_if *ifp, struct rte_mbuf *m)
{
	(void)c;
	(void)ifp;
	if (m == NULL)
		return;
	if (ncap < CAP_MAX)
		cap[ncap++] = m;
	else
		rte_pktmbuf_free(m);
}

/* Free every captured frame. */
static void cap_clear(void)
{
	while (ncap > 0)
		rte_pktmbuf_free(cap[--ncap]);
}

/* A TCP segment the stack sent, parsed. */
struct seg_out {
	uint8_t family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	int has_mss, has_ws, sack_ok, has_ts;
	uint16_t mss;
	uint8_t ws;
	uint32_t tsval, tsecr;
	unsigned nsack;
	uint32_t sack[4][2];           /* left, right edges as sent */
	const uint8_t *data;           /* payload (valid until cap_clear) */
	unsigned len;
	int csum_ok;                   /* IPv4 header and TCP checksums verify */
	int opts_ok;                   /* options well formed */
};

/* Parse TCP options of a sent segment. */
static int parse_out_opts(const uint8_t *p, unsigned len, struct seg_out *s)
{
	while (len > 0) {
		unsigned k = p[0], l;

		if (k == 0)
			break;
		if (k == 1) {
			p++;
			len--;
			continue;
		}
		if (len < 2 || p[1] < 2 || p[1] > len)
			return -1;
		l = p[1];
		if (k == 2 && l == 4) {
			s->has_mss = 1;
			s->mss = get16(p + 2);
		} else if (k == 3 && l == 3) {
			s->has_ws = 1;
			s->ws = p[2];
		} else if (k == 4 && l == 2) {
			s->sack_ok = 1;
		} else if (k == 8 && l == 10) {
			s->has_ts = 1;
			s->tsval = get32(p + 2);
			s->tsecr = get32(p + 6);
		} else if (k == 5 && l >= 10 && (l - 2) % 8 == 0 && (l - 2) / 8 <= 4) {
			unsigned i;

			s->nsack = (l - 2) / 8;
			for (i = 0; i < s->nsack; i++) {
				s->sack[i][0] = get32(p + 2 + 8 * i);
				s->sack[i][1] = get32(p + 6 + 8 * i);
			}
		} else {
			return -1;
		}
		p += l;
		len -= l;
	}
	return 0;
}

/* Parse a captured frame as Ethernet + IP + TCP; 0 or -1 (not TCP / malformed). */
static int parse_seg(struct rte_mbuf *m, struct seg_out *s)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *), *ip, *th;
	unsigned flen = m->data_len, l3, l4len, hl;

	memset(s, 0, sizeof(*s));
	if (m->nb_segs != 1 || flen < ETH_HLEN + IP4_HLEN + TCP_HLEN ||
	    memcmp(f, peer_mac, 6) != 0 || memcmp(f + 6, our_mac, 6) != 0)
		return -1;
	ip = f + ETH_HLEN;
	if (get16(f + 12) == ETH_IP4) {
		if (ip[0] != 0x45 || ip[9] != IPPROTO_TCP || (unsigned)get16(ip + 2) + ETH_HLEN > flen)
			return -1;
		s->family = NET_AF_INET;
		l3 = IP4_HLEN;
		l4len = get16(ip + 2) - IP4_HLEN;
		memcpy(s->src, ip + 12, 4);
		memcpy(s->dst, ip + 16, 4);
		s->csum_ok = fold(sum16(ip, IP4_HLEN, 0)) == 0xffff;
	} else if (get16(f + 12) == ETH_IP6) {
		if ((ip[0] >> 4) != 6 || ip[6] != IPPROTO_TCP ||
		    ETH_HLEN + IP6_HLEN + (unsigned)get16(ip + 4) > flen)
			return -1;
		s->family = NET_AF_INET6;
		l3 = IP6_HLEN;
		l4len = get16(ip + 4);
		memcpy(s->src, ip + 8, 16);
		memcpy(s->dst, ip + 24, 16);
		s->csum_ok = 1;
	} else {
		return -1;
	}
	th = ip + l3;
	hl = (th[12] >> 4) * 4u;
	if (l4len < TCP_HLEN || hl < TCP_HLEN || hl > l4len)
		return -1;
	s->csum_ok = s->csum_ok && l4_csum(s->family, s->src, s->dst, IPPROTO_TCP, th, l4len) == 0;
	s->sport = get16(th);
	s->dport = get16(th + 2);
	s->seq = get32(th + 4);
	s->ack = get32(th + 8);
	s->flags = th[13];
	s->win = get16(th + 14);
	s->opts_ok = parse_out_opts(th + TCP_HLEN, hl - TCP_HLEN, s) == 0;
	s->data = th + hl;
	s->len = l4len - hl;
	return 0;
}

/* Parse the i-th captured frame. */
static int cap_seg(unsigned i, struct seg_out *s)
{
	if (i >= ncap) {
		memset(s, 0, sizeof(*s));
		return -1;
	}
	return parse_seg(cap[i], s);
}

/* Exactly one TCP segment was sent: parse it into s (zeroed otherwise). */
#define EXPECT_ONE(s) do { \
	CHECK_EQ(ncap, 1); \
	if (cap_seg(0, &(s)) == 0) { CHECK((s).csum_ok); CHECK((s).opts_ok); } \
	else CHECK(!"a TCP segment"); \
} while (0)

/* Nothing was sent. */
#define EXPECT_NONE() CHECK_EQ(ncap, 0)

/* The i-th SACK block of s is [l, r). */
#define CHECK_SACK(s, i, l, r) do { \
	CHECK_EQ((s).sack[i][0], (uint32_t)(l)); \
	CHECK_EQ((s).sack[i][1], (uint32_t)(r)); \
} while (0)

/* ---- the application ---- */

#define RX_MAX 70000

/* What one application instance saw. */
struct app {
	struct tcp_conn *c;
	int accepts, connected, connect_err, readables, writables, peer_closed, closed, timeouts;
	int why;                       /* enum tcp_end of the last closed() */
	int consume;                   /* readable() reads everything it can */
	int hold;                      /* readable() holds the ACK for a reply (tcp_hold_ack) */
	int delay;                     /* readable() delays the ACK for a relayed reply (tcp_delay_ack) */
	size_t rxlen;
	uint8_t rx[RX_MAX];
};

static struct app app, app2;           /* app: the listener's; app2: active opens */
static const struct tcp_app_ops app_ops;

/* accept(): attach the listener's app record to the new connection. */
static void on_accept(struct tcp_conn *c, void *arg)
{
	struct app *a = arg;

	a->accepts++;
	a->c = c;
	tcp_set_app(c, &app_ops, a);
}

/* connected(): record the result of an active open. */
static void on_connected(struct tcp_conn *c, int err)
{
	struct app *a = tcp_app(c);

	a->connected++;
	a->connect_err = err;
	a->c = c;
}

/* readable(): count, and read everything if the test says so. */
static void on_readable(struct tcp_conn *c)
{
	struct app *a = tcp_app(c);

	a->readables++;
	if (a->consume)
		a->rxlen += tcp_recv(c, a->rx + a->rxlen, sizeof(a->rx) - a->rxlen);
	if (a->hold)
		tcp_hold_ack(c);
	if (a->delay)
		tcp_delay_ack(c);
}

/* writable(): count. */
static void on_writable(struct tcp_conn *c)
{
	((struct app *)tcp_app(c))->writables++;
}

/* peer_closed(): count. */
static void on_peer_closed(struct tcp_conn *c)
{
	((struct app *)tcp_app(c))->peer_closed++;
}

/* closed(): count, remember why, forget the connection. */
static void on_closed(struct tcp_conn *c, enum tcp_end why)
{
	struct app *a = tcp_app(c);

	a->closed++;
	a->why = why;
	a->c = NULL;
}

/* timeout(): count. */
static void on_timeout(struct tcp_conn *c)
{
	((struct app *)tcp_app(c))->timeouts++;
}

static const struct tcp_app_ops app_ops = {
	.accept = on_accept, .connected = on_connected, .readable = on_readable,
	.writable = on_writable, .peer_closed = on_peer_closed, .closed = on_closed,
	.timeout = on_timeout,
};

/* ---- stack setup ---- */

/* A fresh stack with one interface, the peer's MACs known, a listener on OUR_PORT. */
static unsigned setup_quickacks;   /* quick-ACK segments for the next setup(); 0 = delay */

static void setup(void)
{
	struct tcp_params tp = {
		.quickacks = setup_quickacks,
		.max_conns = MAX_CONNS, .syn_backlog = SYN_BACKLOG,
		.reasm_limit = REASM_LIMIT, .reasm_total = REASM_TOTAL,
		.rcvbuf = RCVBUF, .sndbuf = SNDBUF,
		.timewait_max = TIMEWAIT_MAX, .timewait_ms = TIMEWAIT_MS,
		.secret = { 0x5e, 0xc7, 0x3e, 0x70, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 },
	};

	ctx = harness_stack(pool, capture_xmit, &tp);
	if (ctx == NULL) {
		fprintf(stderr, "stack set-up failed\n");
		exit(1);
	}
	memset(&app, 0, sizeof(app));
	memset(&app2, 0, sizeof(app2));
	app.consume = app2.consume = 1;
	tcp_listen(ctx, OUR_PORT, &app_ops, &app);
	cap_clear();
}

/* Free the stack and the captures; nothing oversized was sent, every mbuf is back in the pool. */
static void teardown(void)
{
	CHECK_EQ(ctx->st.drops[NET_DROP_tx_too_big], 0);   /* never a frame over the MTU */
	cap_clear();
	net_ctx_free(ctx);
	ctx = NULL;
	CHECK_EQ(rte_mempool_in_use_count(pool), 0);
}

/* Check a precondition; on failure end the test here. */
#define REQUIRE(cond) do { CHECK(cond); if (!(cond)) { teardown(); return; } } while (0)

/* Move the clock forward ms milliseconds, running the timers every millisecond. */
static void advance_ms(unsigned ms)
{
	while (ms-- > 0) {
		ctx->now_us += 1000;
		net_timers(ctx);
	}
}

/* Advance 1 ms at a time until something is sent; the ms it took, or -1 after limit_ms. */
static int run_until_output(unsigned limit_ms)
{
	unsigned ms;

	for (ms = 1; ms <= limit_ms; ms++) {
		ctx->now_us += 1000;
		net_timers(ctx);
		if (ncap > 0)
			return (int)ms;
	}
	return -1;
}

/* ---- the fake peer ---- */

struct peer {
	uint8_t family;
	uint8_t addr[16];              /* the peer's address */
	uint16_t port;                 /* the peer's port */
	uint16_t lport;                /* our port */
	uint32_t snd_nxt;              /* next sequence number the peer sends */
	uint32_t rcv_nxt;              /* next sequence number the peer expects from us */
	uint32_t our_isn;              /* our ISN, from the SYN-ACK */
	uint16_t win;                  /* window field the peer sends */
	int ts;                        /* the peer sends timestamps */
	uint32_t tsval;                /* the peer's timestamp clock */
	uint32_t ts_recent;            /* our last TSval, echoed */
};

/* A peer of a family on a port, with a first sequence number. */
static void peer_init(struct peer *p, uint8_t family, uint16_t port, uint32_t isn)
{
	memset(p, 0, sizeof(*p));
	p->family = family;
	memcpy(p->addr, family == NET_AF_INET ? peer_ip4 : peer_ip6, family == NET_AF_INET ? 4 : 16);
	p->port = port;
	p->lport = OUR_PORT;
	p->snd_nxt = isn;
	p->win = PEER_WIN;
	p->tsval = PEER_TS0;
}

/* Options of a segment the peer sends. */
struct topt {
	uint16_t mss;                  /* 0: none */
	int has_ws;
	uint8_t ws;
	int sack_ok;
	int has_ts;
	uint32_t tsval, tsecr;
	unsigned nsack;
	uint32_t sack[4][2];
	const uint8_t *raw;            /* appended verbatim (malformed options) */
	unsigned raw_len;
};

/* Encode options, padded to a multiple of 4; returns their length. */
static unsigned opts_encode(const struct topt *o, uint8_t *p)
{
	unsigned n = 0, i;

	if (o == NULL)
		return 0;
	if (o->mss) {
		p[n++] = 2;
		p[n++] = 4;
		put16(p + n, o->mss);
		n += 2;
	}
	if (o->has_ws) {
		p[n++] = 1;
		p[n++] = 3;
		p[n++] = 3;
		p[n++] = o->ws;
	}
	if (o->sack_ok) {
		p[n++] = 1;
		p[n++] = 1;
		p[n++] = 4;
		p[n++] = 2;
	}
	if (o->has_ts) {
		p[n++] = 1;
		p[n++] = 1;
		p[n++] = 8;
		p[n++] = 10;
		put32(p + n, o->tsval);
		put32(p + n + 4, o->tsecr);
		n += 8;
	}
	if (o->nsack) {
		p[n++] = 1;
		p[n++] = 1;
		p[n++] = 5;
		p[n++] = (uint8_t)(2 + 8 * o->nsack);
		for (i = 0; i < o->nsack; i++, n += 8) {
			put32(p + n, o->sack[i][0]);
			put32(p + n + 4, o->sack[i][1]);
		}
	}
	if (o->raw) {
		memcpy(p + n, o->raw, o->raw_len);
		n += o->raw_len;
	}
	while (n % 4)
		p[n++] = 0;
	return n;
}

/* Recompute the checksum of a TCP segment the peer sends. */
static void seg_csum_fix(const struct peer *p, uint8_t *seg, unsigned len)
{
	put16(seg + 16, 0);
	put16(seg + 16, l4_csum(p->family, p->addr, p->family == NET_AF_INET ? our_ip4 : our_ip6,
				IPPROTO_TCP, seg, len));
}

/* Write a TCP segment from the peer into buf; returns its length. */
static unsigned tcp_build(uint8_t *buf, const struct peer *p, uint8_t flags, uint32_t seq,
			  uint32_t ack, uint16_t win, const struct topt *o, const void *data,
			  unsigned len)
{
	unsigned hl = TCP_HLEN + opts_encode(o, buf + TCP_HLEN);

	put16(buf, p->port);
	put16(buf + 2, p->lport);
	put32(buf + 4, seq);
	put32(buf + 8, ack);
	buf[12] = (uint8_t)((hl / 4) << 4);
	buf[13] = flags;
	put16(buf + 14, win);
	put16(buf + 18, 0);
	if (len > 0)
		memcpy(buf + hl, data, len);
	seg_csum_fix(p, buf, hl + len);
	return hl + len;
}

/* A frame from the peer's MAC to ours with room for an IP packet; returns the IP header. */
static uint8_t *frame_alloc(struct rte_mbuf **mp, const uint8_t *dmac, uint16_t type, unsigned l3len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *f;

	if (m == NULL) {
		fprintf(stderr, "mbuf pool empty\n");
		exit(1);
	}
	f = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(ETH_HLEN + l3len));
	memcpy(f, dmac, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, type);
	*mp = m;
	return f + ETH_HLEN;
}

/* Wrap an L4 payload in IP (from the peer to us) and Ethernet and hand it to the stack. */
static void inject_l4(const struct peer *p, uint8_t proto, const uint8_t *l4, unsigned l4len)
{
	struct rte_mbuf *m;
	uint8_t *ip;

	if (p->family == NET_AF_INET) {
		ip = frame_alloc(&m, our_mac, ETH_IP4, IP4_HLEN + l4len);
		memset(ip, 0, IP4_HLEN);
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(IP4_HLEN + l4len));
		put16(ip + 6, 0x4000);             /* DF */
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, p->addr, 4);
		memcpy(ip + 16, our_ip4, 4);
		put16(ip + 10, (uint16_t)~fold(sum16(ip, IP4_HLEN, 0)));
		memcpy(ip + IP4_HLEN, l4, l4len);
	} else {
		ip = frame_alloc(&m, our_mac, ETH_IP6, IP6_HLEN + l4len);
		memset(ip, 0, IP6_HLEN);
		put32(ip, 6u << 28);
		put16(ip + 4, (uint16_t)l4len);
		ip[6] = proto;
		ip[7] = 64;
		memcpy(ip + 8, p->addr, 16);
		memcpy(ip + 24, our_ip6, 16);
		memcpy(ip + IP6_HLEN, l4, l4len);
	}
	net_input(ctx, &ctx->ifs[0], m);
}

/* The peer sends one segment with explicit fields (the capture is cleared first). */
static void peer_raw(struct peer *p, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
		     const struct topt *o, const void *data, unsigned len)
{
	uint8_t buf[TCP_HLEN + 40 + IF_MTU];

	if (len > IF_MTU) {
		fprintf(stderr, "test bug: %u payload bytes do not fit a frame\n", len);
		exit(1);
	}
	cap_clear();
	inject_l4(p, IPPROTO_TCP, buf, tcp_build(buf, p, flags, seq, ack, win, o, data, len));
}

/* Timestamp option of the peer's next segment, if it uses timestamps. */
static struct topt peer_ts_opt(const struct peer *p)
{
	struct topt o;

	memset(&o, 0, sizeof(o));
	if (p->ts) {
		o.has_ts = 1;
		o.tsval = p->tsval;
		o.tsecr = p->ts_recent;
	}
	return o;
}

/* The peer sends at snd_nxt, acking what it has from us; advances snd_nxt. */
static void peer_send(struct peer *p, uint8_t flags, const void *data, unsigned len)
{
	struct topt o = peer_ts_opt(p);

	peer_raw(p, flags, p->snd_nxt, (flags & TF_ACK) ? p->rcv_nxt : 0, p->win, &o, data, len);
	p->snd_nxt += len + !!(flags & TF_SYN) + !!(flags & TF_FIN);
}

/* The peer sends stream[off, off+len) at base + off with ACK (snd_nxt untouched). */
static void peer_data_at(struct peer *p, uint32_t base, unsigned off, unsigned len)
{
	struct topt o = peer_ts_opt(p);

	peer_raw(p, TF_ACK, base + off, p->rcv_nxt, p->win, &o, stream + off, len);
}

/* The SYN options for an option set. */
static struct topt syn_opts(const struct peer *p, unsigned optmask)
{
	struct topt o;

	memset(&o, 0, sizeof(o));
	if (optmask & O_MSS)
		o.mss = p->family == NET_AF_INET ? PEER_MSS_V4 : PEER_MSS_V6;
	if (optmask & O_WS) {
		o.has_ws = 1;
		o.ws = PEER_WSCALE;
	}
	o.sack_ok = !!(optmask & O_SACK);
	if (optmask & O_TS) {
		o.has_ts = 1;
		o.tsval = p->tsval;
	}
	return o;
}

/* The peer's ACK of our SYN-ACK to its SYN: our ISN (and TSval) learned from it, timestamps if ts. */
static void peer_ack_synack(struct peer *p, const struct seg_out *synack, int ts)
{
	p->snd_nxt++;
	p->our_isn = synack->seq;
	p->rcv_nxt = synack->seq + 1;
	p->ts = ts;
	p->ts_recent = synack->tsval;
	peer_send(p, TF_ACK, NULL, 0);
}

/*
 * Passive open from p offering optmask; returns the accepted connection or
 * NULL. The SYN-ACK is left in *synack when it is not NULL.
 */
static struct tcp_conn *handshake_ex(struct peer *p, unsigned optmask, struct seg_out *synack)
{
	struct topt o = syn_opts(p, optmask);
	struct seg_out s;
	int accepts = app.accepts;

	peer_raw(p, TF_SYN, p->snd_nxt, 0, p->win, &o, NULL, 0);
	if (ncap != 1 || cap_seg(0, &s) != 0 || s.flags != (TF_SYN | TF_ACK))
		return NULL;
	if (synack)
		*synack = s;
	peer_ack_synack(p, &s, (optmask & O_TS) && s.has_ts);
	if (ncap != 0 || app.accepts != accepts + 1)
		return NULL;
	return app.c;
}

/* Passive open without keeping the SYN-ACK. */
static struct tcp_conn *handshake(struct peer *p, unsigned optmask)
{
	return handshake_ex(p, optmask, NULL);
}

/* A fresh stack (setup()) and a passive open from the IPv4 peer at PEER_PORT offering optmask. */
static struct tcp_conn *setup_conn(struct peer *p, unsigned optmask)
{
	setup();
	peer_init(p, NET_AF_INET, PEER_PORT, PEER_ISN);
	return handshake(p, optmask);
}

/* Flush a pending delayed ACK: the clock moves past the delayed-ACK timeout. */
static void flush_delack(void)
{
	cap_clear();
	advance_ms(DELACK_MS + 1);
}

/* ==== tests ==== */

/*
 * net_l4_csum against the harness's RFC 1071 sum (16-bit big-endian words):
 * every length up to 1,600 and 65,535 bytes, at every offset mod 8, random
 * contents and addresses, both families; a segment carrying the result
 * sums to 0, and one flipped bit is caught.
 */
TEST(l4_checksum)
{
	static uint8_t buf[65535 + 8];
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned bad = 0, checked = 0;

	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		buf[i] = (uint8_t)(seed >> 56);
	}
	for (unsigned len = 0; len <= 65535; len = len < 1600 ? len + 1 : len == 1600 ? 65535 : 65536) {
		for (unsigned off = 0; off < 8; off++) {
			uint8_t fam = (len + off) % 2 ? NET_AF_INET : NET_AF_INET6;
			uint8_t proto = off % 3 ? IPPROTO_TCP : IPPROTO_UDP;
			const uint8_t *src = buf + 3 * off + 1, *dst = buf + len % 997 + 40;
			struct net_addr s = addr_of(fam, src), d = addr_of(fam, dst);
			uint16_t want = rte_bswap16(l4_csum(fam, src, dst, proto, buf + off, len));
			uint16_t got = net_l4_csum(fam, &s, &d, proto, buf + off, len);

			if (proto == IPPROTO_UDP && want == 0)
				want = 0xffff;
			bad += got != want;
			checked++;
		}
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(checked, 1602 * 8);
	/* a TCP segment of odd length, its checksum in place, then one bit flipped */
	{
		uint8_t seg[333];
		struct net_addr s = addr_of(NET_AF_INET, peer_ip4), d = addr_of(NET_AF_INET, our_ip4);
		uint16_t c;

		memcpy(seg, buf + 5, sizeof(seg));
		seg[16] = seg[17] = 0;
		c = net_l4_csum(NET_AF_INET, &s, &d, IPPROTO_TCP, seg, sizeof(seg));
		memcpy(seg + 16, &c, 2);
		CHECK_EQ(net_l4_csum(NET_AF_INET, &s, &d, IPPROTO_TCP, seg, sizeof(seg)), 0);
		CHECK_EQ(l4_csum(NET_AF_INET, peer_ip4, our_ip4, IPPROTO_TCP, seg, sizeof(seg)), 0);
		seg[200] ^= 0x08;
		CHECK(net_l4_csum(NET_AF_INET, &s, &d, IPPROTO_TCP, seg, sizeof(seg)) != 0);
	}
}

/* 1. SYN with options -> SYN-ACK with ours; ACK establishes; ISNs per RFC 6528. */
TEST(handshake_and_isn)
{
	enum { NTUPLES = 3 };
	const uint32_t near = 0x10000;         /* ISNs of unrelated tuples are further apart */
	const unsigned later_ms = 4;
	struct peer p, q[NTUPLES];
	struct topt o;
	struct seg_out s;
	uint32_t isn[NTUPLES], isn_again;
	unsigned i;

	setup();
	peer_init(&p, NET_AF_INET, PEER_PORT + 1, PEER_ISN);
	o = syn_opts(&p, O_ALL);
	peer_raw(&p, TF_SYN, PEER_ISN, 0, PEER_WIN, &o, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_SYN | TF_ACK);
	CHECK_EQ(s.ack, PEER_ISN + 1);
	CHECK_EQ(s.sport, OUR_PORT);
	CHECK_EQ(s.dport, PEER_PORT + 1);
	CHECK(memcmp(s.src, our_ip4, 4) == 0 && memcmp(s.dst, peer_ip4, 4) == 0);
	CHECK_EQ(s.win, WIN_FIELD_MAX);           /* never scaled in a SYN */
	CHECK(s.has_mss);
	CHECK_EQ(s.mss, MSS_V4);
	CHECK(s.has_ws);
	CHECK_EQ(s.ws, OUR_WSCALE);
	CHECK(s.sack_ok);
	CHECK(s.has_ts);
	CHECK_EQ(s.tsecr, PEER_TS0);
	CHECK_EQ(s.len, 0);
	CHECK_EQ(tcp_conn_count(ctx), 1);
	CHECK_EQ(app.accepts, 0);

	peer_ack_synack(&p, &s, 1);
	EXPECT_NONE();
	CHECK_EQ(app.accepts, 1);
	REQUIRE(app.c != NULL);
	CHECK_STR(tcp_state_name(app.c), "ESTABLISHED");
	CHECK_EQ(ctx->st.tcp_passive_opens, 1);

	/* other tuples, same moment: unrelated ISNs */
	for (i = 0; i < NTUPLES; i++) {
		peer_init(&q[i], NET_AF_INET, PEER_PORT + 2 + i, PEER_ISN);
		o = syn_opts(&q[i], O_MSS);
		peer_raw(&q[i], TF_SYN, PEER_ISN, 0, PEER_WIN, &o, NULL, 0);
		EXPECT_ONE(s);
		isn[i] = s.seq;
	}
	CHECK(isn[0] != p.our_isn && isn[0] != isn[1] && isn[1] != isn[2] && isn[0] != isn[2]);
	for (i = 0; i + 1 < NTUPLES; i++) {
		uint32_t d = isn[i + 1] - isn[i];

		/* not a counter: neighbours are far apart, and not by a constant step */
		CHECK(d > near && d < 0u - near);
	}
	CHECK(isn[1] - isn[0] != isn[2] - isn[1]);

	/* same tuple later: the ISN moved by the 4 us clock only */
	peer_raw(&q[0], TF_RST, PEER_ISN + 1, 0, 0, NULL, NULL, 0);
	EXPECT_NONE();
	CHECK_EQ(tcp_conn_count(ctx), 3);
	advance_ms(later_ms);
	o = syn_opts(&q[0], O_MSS);
	peer_raw(&q[0], TF_SYN, PEER_ISN, 0, PEER_WIN, &o, NULL, 0);
	EXPECT_ONE(s);
	isn_again = s.seq;
	CHECK_EQ(isn_again - isn[0], later_ms * 1000 / ISN_TICK_US);
	teardown();
}

/* 2. The peer's sequence numbers wrap past 2^32 while data (and reordering) flows. */
TEST(sequence_wraparound)
{
	const uint32_t isn = 0xFFFFFFF0u, base = isn + 1;  /* data from 0xFFFFFFF1 */
	const unsigned seg = 10;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;

	setup();
	peer_init(&p, NET_AF_INET, PEER_PORT, isn);
	c = handshake(&p, O_MSS | O_SACK);
	REQUIRE(c != NULL);

	/* the segment straddling the wrap first: held, SACKed across the wrap */
	peer_data_at(&p, base, seg, seg);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, 0xFFFFFFF1u);
	CHECK_EQ(s.nsack, 1);
	CHECK_SACK(s, 0, 0xFFFFFFFBu, 0x00000005u);
	CHECK_EQ(app.rxlen, 0);

	/* the first fills the hole: everything up to past the wrap acknowledged */
	peer_data_at(&p, base, 0, seg);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, 0x00000005u);
	CHECK_EQ(s.nsack, 0);
	CHECK_EQ(s.seq, p.our_isn + 1);
	CHECK_EQ(app.rxlen, 2 * seg);

	/* the third after the wrap, in order: delayed ACK */
	peer_data_at(&p, base, 2 * seg, seg);
	EXPECT_NONE();
	flush_delack();
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, 0x0000000Fu);
	CHECK_EQ(app.rxlen, 3 * seg);
	CHECK(memcmp(app.rx, stream, 3 * seg) == 0);
	teardown();
}

/* setup_conn() with quickacks segments ACKed at once (the peer offers MSS only). */
static struct tcp_conn *setup_quick_conn(struct peer *p, unsigned quickacks)
{
	setup_quickacks = quickacks;
	setup();
	setup_quickacks = 0;
	peer_init(p, NET_AF_INET, PEER_PORT, PEER_ISN);
	return handshake(p, O_MSS);
}

/* Quick-ACK mode: the first segments, and those after a delayed ACK had to fire, are ACKed at once. */
TEST(quick_ack_mode)
{
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t base;
	unsigned i;

	c = setup_quick_conn(&p, 2);
	REQUIRE(c != NULL);
	base = p.snd_nxt;
	for (i = 0; i < 2; i++) {
		peer_data_at(&p, base, i * 10, 10);
		EXPECT_ONE(s);                  /* quick: no 40 ms wait */
		CHECK_EQ(s.ack, base + (i + 1) * 10);
	}
	peer_data_at(&p, base, 20, 10);
	EXPECT_NONE();                          /* quick-ACKs used up: delayed */
	flush_delack();
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, base + 30);
	cap_clear();
	peer_data_at(&p, base, 30, 10);
	EXPECT_ONE(s);                          /* the delayed ACK fired: quick again */
	CHECK_EQ(s.ack, base + 40);
	teardown();
}

/*
 * tcp_hold_ack(): the ACK owed to what was read waits for the reply sent
 * later in the same poll round and rides on it; without a reply it leaves
 * when the round ends (net_timers, the clock unmoved); a segment arriving
 * meanwhile, in order or not, is ACKed at once as usual.
 */
TEST(hold_ack_for_reply)
{
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t base;

	c = setup_quick_conn(&p, 16);
	REQUIRE(c != NULL);
	base = p.snd_nxt;
	app.hold = 1;
	/* the reply later in the round carries the ACK */
	peer_data_at(&p, base, 0, 10);
	EXPECT_NONE();
	CHECK_EQ(tcp_send(c, "reply", 5), 5);
	EXPECT_ONE(s);
	CHECK_EQ(s.len, 5);
	CHECK_EQ(s.flags & TF_ACK, TF_ACK);
	CHECK_EQ(s.ack, base + 10);
	cap_clear();
	net_timers(ctx);
	EXPECT_NONE();
	/* no reply: the ACK at the end of the round */
	peer_data_at(&p, base, 10, 10);
	EXPECT_NONE();
	net_timers(ctx);
	EXPECT_ONE(s);
	CHECK_EQ(s.len, 0);
	CHECK_EQ(s.ack, base + 20);
	/* a segment after the hold: ACKed at once, for both */
	peer_data_at(&p, base, 20, 10);
	EXPECT_NONE();
	app.hold = 0;
	peer_data_at(&p, base, 30, 10);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, base + 40);
	cap_clear();
	net_timers(ctx);
	EXPECT_NONE();
	/* out of order while held: the duplicate ACK at once */
	app.hold = 1;
	peer_data_at(&p, base, 40, 10);
	EXPECT_NONE();
	peer_data_at(&p, base, 60, 10);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, base + 50);
	cap_clear();
	net_timers(ctx);
	EXPECT_NONE();
	CHECK_EQ(app.rxlen, 50);
	teardown();
}

/*
 * tcp_delay_ack(): in quick-ACK mode, the ACK owed to a segment whose reply
 * waits on another connection becomes a delayed ACK: the reply carries it,
 * rounds later; without a reply it leaves after the delayed-ACK time (and
 * quick-ACK mode follows, as after any delayed ACK); a second segment before
 * the ACK, or one out of order, is ACKed at once; a segment read without a
 * delay asked is ACKed at once again.
 */
TEST(delay_ack_for_relay)
{
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t base;

	c = setup_quick_conn(&p, 16);
	REQUIRE(c != NULL);
	base = p.snd_nxt;
	app.delay = 1;
	/* the reply comes rounds later, within the delayed-ACK time, and carries the ACK */
	peer_data_at(&p, base, 0, 10);
	EXPECT_NONE();
	net_timers(ctx);
	advance_ms(DELACK_MS / 2);
	EXPECT_NONE();
	CHECK_EQ(tcp_send(c, "reply", 5), 5);
	EXPECT_ONE(s);
	CHECK_EQ(s.len, 5);
	CHECK_EQ(s.ack, base + 10);
	cap_clear();
	advance_ms(DELACK_MS + 1);
	EXPECT_NONE();                          /* nothing left owed */
	/* no reply: the ACK after the delayed-ACK time */
	peer_data_at(&p, base, 10, 10);
	EXPECT_NONE();
	advance_ms(DELACK_MS + 1);
	EXPECT_ONE(s);
	CHECK_EQ(s.len, 0);
	CHECK_EQ(s.ack, base + 20);
	cap_clear();
	/* two segments before the reply: the second is ACKed at once, for both */
	peer_data_at(&p, base, 20, 10);
	EXPECT_NONE();
	peer_data_at(&p, base, 30, 10);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, base + 40);
	cap_clear();
	/* out of order while delayed: the duplicate ACK at once */
	peer_data_at(&p, base, 40, 10);
	EXPECT_NONE();
	peer_data_at(&p, base, 60, 10);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, base + 50);
	cap_clear();
	/* the hole filled: ACKed at once whatever the application asks */
	peer_data_at(&p, base, 50, 10);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, base + 70);
	cap_clear();
	/* no delay asked: quick-ACK mode acknowledges at once again */
	app.delay = 0;
	peer_data_at(&p, base, 70, 10);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, base + 80);
	CHECK_EQ(app.rxlen, 80);
	teardown();
}

/* 3. A segment wholly before rcv_nxt is answered with an ACK and not delivered again. */
TEST(old_duplicate_segment)
{
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t base;
	const unsigned n = 10, more = 5;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	base = p.snd_nxt;
	peer_data_at(&p, base, 0, n);
	flush_delack();
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, base + n);
	CHECK_EQ(app.rxlen, n);

	/* the same segment again */
	peer_data_at(&p, base, 0, n);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_ACK);
	CHECK_EQ(s.ack, base + n);
	CHECK_EQ(s.seq, p.our_isn + 1);
	CHECK_EQ(s.len, 0);
	CHECK_EQ(app.rxlen, n);
	CHECK_EQ(ctx->st.tcp_dup_segments, 1);

	/* a retransmission that overlaps: only the new bytes come through */
	peer_data_at(&p, base, 0, n + more);
	flush_delack();
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, base + n + more);
	CHECK_EQ(app.rxlen, n + more);
	CHECK(memcmp(app.rx, stream, n + more) == 0);
	teardown();
}

/* 4. RST: exact -> closed(TCP_END_RESET); in window -> challenge ACK; outside -> ignored. */
TEST(rst_handling)
{
	const uint32_t in_window = 100, far = 10000000;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);

	peer_raw(&p, TF_RST, p.snd_nxt + in_window, 0, 0, NULL, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_ACK);
	CHECK_EQ(s.ack, p.snd_nxt);
	CHECK_EQ(s.seq, p.our_isn + 1);
	CHECK_EQ(ctx->st.tcp_challenge_acks, 1);
	CHECK_STR(tcp_state_name(c), "ESTABLISHED");
	CHECK_EQ(app.closed, 0);

	peer_raw(&p, TF_RST, p.snd_nxt + far, 0, 0, NULL, NULL, 0);
	EXPECT_NONE();
	peer_raw(&p, TF_RST | TF_ACK, p.snd_nxt - 1, p.rcv_nxt, 0, NULL, NULL, 0);
	EXPECT_NONE();
	CHECK_STR(tcp_state_name(c), "ESTABLISHED");
	CHECK_EQ(ctx->st.tcp_resets_in, 0);

	peer_raw(&p, TF_RST, p.snd_nxt, 0, 0, NULL, NULL, 0);
	EXPECT_NONE();
	CHECK_EQ(app.closed, 1);
	CHECK_EQ(app.why, TCP_END_RESET);
	CHECK_EQ(tcp_conn_count(ctx), 0);
	CHECK_EQ(ctx->st.tcp_resets_in, 1);
	teardown();
}

/* 5. A SYN on an established connection gets a challenge ACK (RFC 5961 4). */
TEST(syn_in_established)
{
	const uint32_t other_isn = 0x77777777u;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	struct topt o;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	o = syn_opts(&p, O_MSS);

	/* in window */
	peer_raw(&p, TF_SYN, p.snd_nxt, 0, PEER_WIN, &o, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_ACK);
	CHECK_EQ(s.ack, p.snd_nxt);
	CHECK_EQ(s.seq, p.our_isn + 1);
	CHECK_EQ(ctx->st.tcp_challenge_acks, 1);
	CHECK_STR(tcp_state_name(c), "ESTABLISHED");

	/* a new incarnation's SYN, anywhere: still just an ACK */
	peer_raw(&p, TF_SYN, other_isn, 0, PEER_WIN, &o, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_ACK);
	CHECK_EQ(s.ack, p.snd_nxt);
	CHECK_STR(tcp_state_name(c), "ESTABLISHED");
	CHECK_EQ(app.closed, 0);
	CHECK_EQ(tcp_conn_count(ctx), 1);
	teardown();
}

/*
 * 6. Out-of-order and overlapping segments: the app gets exactly the byte
 * stream, the SACK blocks describe what is held. The stream is 5 segments
 * of SEG bytes; offsets below are in the stream.
 */
TEST(out_of_order_and_overlap)
{
	enum {
		SEG = 100,
		S1 = 0, S2 = SEG, S3 = 2 * SEG, S4 = 3 * SEG, S5 = 4 * SEG, END = 5 * SEG,
		DUP_OFF = S3 + 20, DUP_LEN = 60,             /* inside segment 3 */
		OVL_OFF = S1 + SEG / 2,                      /* half old, half new */
		BRIDGE_OFF = S4 - 20, BRIDGE_LEN = SEG + 40, /* overlaps segments 3 and 5 */
	};
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t b;

	c = setup_conn(&p, O_ALL);
	REQUIRE(c != NULL);
	b = p.snd_nxt;

	/* segment 3 */
	peer_data_at(&p, b, S3, SEG);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, b);
	CHECK(s.has_ts);
	CHECK_EQ(s.nsack, 1);
	CHECK_SACK(s, 0, b + S3, b + S4);
	CHECK_EQ(app.rxlen, 0);

	/* segment 5: two blocks, the newest first */
	peer_data_at(&p, b, S5, SEG);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, b);
	CHECK_EQ(s.nsack, 2);
	CHECK_SACK(s, 0, b + S5, b + END);
	CHECK_SACK(s, 1, b + S3, b + S4);

	/* a piece of segment 3 again: a duplicate; its block comes first */
	peer_data_at(&p, b, DUP_OFF, DUP_LEN);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, b);
	CHECK_EQ(s.nsack, 2);
	CHECK_SACK(s, 0, b + S3, b + S4);
	CHECK_SACK(s, 1, b + S5, b + END);
	CHECK_EQ(ctx->st.tcp_dup_segments, 1);

	/* segment 1 */
	peer_data_at(&p, b, S1, SEG);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, b + S2);
	CHECK_EQ(s.nsack, 2);
	CHECK_EQ(app.rxlen, S2);

	/* a retransmission overlapping delivered and new bytes */
	peer_data_at(&p, b, OVL_OFF, SEG);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, b + OVL_OFF + SEG);
	CHECK_EQ(s.nsack, 2);
	CHECK_EQ(app.rxlen, OVL_OFF + SEG);

	/* one overlapping both held blocks, filling the hole between them */
	peer_data_at(&p, b, BRIDGE_OFF, BRIDGE_LEN);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, b + OVL_OFF + SEG);
	CHECK_EQ(s.nsack, 1);
	CHECK_SACK(s, 0, b + S3, b + END);

	/* segment 2: everything is in, no SACK left */
	peer_data_at(&p, b, S2, SEG);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, b + END);
	CHECK_EQ(s.nsack, 0);
	CHECK_EQ(app.rxlen, END);
	CHECK(memcmp(app.rx, stream, END) == 0);
	CHECK_EQ(tcp_readable(c), 0);
	teardown();
}

/* RFC 2018 4: the first SACK block holds the segment that triggered the ACK, even with many islands. */
TEST(sack_first_block_is_the_newest)
{
	const unsigned seg = 100, gap = 1000, islands = 4;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t b;
	unsigned i;

	c = setup_conn(&p, O_ALL);              /* timestamps: room for 3 blocks */
	REQUIRE(c != NULL);
	b = p.snd_nxt;
	for (i = 1; i <= islands; i++) {
		peer_data_at(&p, b, i * gap, seg);
		EXPECT_ONE(s);
		CHECK_EQ(s.ack, b);
		CHECK(s.nsack >= 1);
		CHECK_SACK(s, 0, b + i * gap, b + i * gap + seg);
	}
	CHECK_EQ(s.nsack, 3);
	teardown();
}

/* 7. The app does not read: the window closes, data beyond it is refused, reading reopens it. */
TEST(zero_receive_window)
{
	struct peer p;
	struct seg_out s, last;
	struct tcp_conn *c;
	uint32_t base, right;
	unsigned i;
	const unsigned extra = 100;

	c = setup_conn(&p, O_MSS);              /* no window scaling */
	REQUIRE(c != NULL);
	app.consume = 0;
	base = p.snd_nxt;
	right = base + WIN_FIELD_MAX;          /* the SYN-ACK's window */
	memset(&last, 0, sizeof(last));
	/* the peer fills whatever window it is offered */
	while (p.snd_nxt != right) {
		unsigned n = right - p.snd_nxt < MSS_V4 ? right - p.snd_nxt : MSS_V4;

		peer_send(&p, TF_ACK | TF_PSH, stream + (p.snd_nxt - base), n);
		if (p.snd_nxt == right)
			flush_delack();
		for (i = 0; i < ncap; i++)
			if (cap_seg(i, &s) == 0) {
				last = s;
				CHECK((int32_t)(s.ack + s.win - right) >= 0);   /* the edge never moves left */
				right = s.ack + s.win;
			}
	}
	CHECK_EQ(last.ack, right);
	CHECK_EQ(last.win, 0);
	CHECK_EQ(right - base, RCVBUF);        /* exactly the receive buffer was taken */
	CHECK_EQ(tcp_readable(c), RCVBUF);

	/* more data into the closed window: not taken, ACK unchanged */
	peer_send(&p, TF_ACK | TF_PSH, stream, extra);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, right);
	CHECK_EQ(s.win, 0);
	CHECK_EQ(tcp_readable(c), RCVBUF);
	CHECK_EQ(ctx->st.drops[NET_DROP_tcp_rcvbuf_full], 1);
	p.snd_nxt -= extra;

	/* the app reads it all: a window update */
	cap_clear();
	tcp_consume(c, tcp_readable(c));
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_ACK);
	CHECK_EQ(s.ack, right);
	CHECK_EQ(s.win, WIN_FIELD_MAX);        /* no scaling: all it can say */
	CHECK_EQ(s.len, 0);
	teardown();
}

/* 8. The peer's window is 0: nothing is sent, persist probes back off, a window update resumes. */
TEST(zero_send_window_persist)
{
	const unsigned n = 100;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	int t1, t2;

	setup();
	peer_init(&p, NET_AF_INET, PEER_PORT, PEER_ISN);
	p.win = 0;
	c = handshake(&p, O_MSS);
	REQUIRE(c != NULL);
	cap_clear();
	CHECK_EQ(tcp_send(c, stream, n), n);
	EXPECT_NONE();
	advance_ms(RTO_INIT_MS - 1);
	EXPECT_NONE();
	t1 = run_until_output(RTO_INIT_MS);
	CHECK_EQ(t1, 1);                       /* first probe one RTO after the send */
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_ACK);
	CHECK_EQ(s.seq, p.our_isn);            /* snd_una - 1: forces an ACK */
	CHECK_EQ(s.ack, p.snd_nxt);
	CHECK_EQ(s.len, 0);
	CHECK_EQ(ctx->st.tcp_zero_window_probes, 1);

	/* the peer answers, window still 0: the next probe comes twice as late */
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_NONE();
	t2 = run_until_output(4 * RTO_INIT_MS);
	CHECK_EQ(t2, 2 * RTO_INIT_MS);
	EXPECT_ONE(s);
	CHECK_EQ(s.len, 0);
	CHECK_EQ(ctx->st.tcp_zero_window_probes, 2);

	/* the window opens: the data goes */
	p.win = PEER_WIN;
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.seq, p.our_isn + 1);
	CHECK_EQ(s.len, n);
	CHECK(s.len == n && memcmp(s.data, stream, n) == 0);
	teardown();
}

/* 9. FINs cross: FIN_WAIT_1 -> CLOSING -> TIME_WAIT, freed after timewait_ms. */
TEST(simultaneous_close)
{
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t peer_fin;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	cap_clear();
	tcp_shutdown(c);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_FIN | TF_ACK);
	CHECK_EQ(s.seq, p.our_isn + 1);
	CHECK_EQ(s.ack, p.snd_nxt);
	CHECK_STR(tcp_state_name(c), "FIN_WAIT_1");

	/* the peer's FIN, not acknowledging ours */
	peer_fin = p.snd_nxt;
	peer_send(&p, TF_FIN | TF_ACK, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_ACK);
	CHECK_EQ(s.seq, p.our_isn + 2);
	CHECK_EQ(s.ack, peer_fin + 1);
	CHECK_STR(tcp_state_name(c), "CLOSING");
	CHECK_EQ(app.closed, 0);

	/* the ACK of our FIN: TIME_WAIT */
	p.rcv_nxt = p.our_isn + 2;
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_NONE();
	CHECK_EQ(app.closed, 1);
	CHECK_EQ(app.why, TCP_END_CLOSED);
	CHECK_EQ(tcp_conn_count(ctx), 1);
	advance_ms(TIMEWAIT_MS - 1);
	CHECK_EQ(tcp_conn_count(ctx), 1);
	advance_ms(1);
	CHECK_EQ(tcp_conn_count(ctx), 0);
	EXPECT_NONE();
	teardown();
}

/* 10. The peer closes first: peer_closed(), our FIN after tcp_close(), LAST_ACK, freed on ACK. */
TEST(passive_close)
{
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t peer_fin;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	peer_fin = p.snd_nxt;
	peer_send(&p, TF_FIN | TF_ACK, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_ACK);
	CHECK_EQ(s.ack, peer_fin + 1);
	CHECK_EQ(app.peer_closed, 1);
	CHECK_STR(tcp_state_name(c), "CLOSE_WAIT");

	cap_clear();
	tcp_close(c);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_FIN | TF_ACK);
	CHECK_EQ(s.seq, p.our_isn + 1);
	CHECK_EQ(s.ack, peer_fin + 1);
	/* the connection object lives in the stack's preallocated table: peeking is safe */
	CHECK_STR(tcp_state_name(c), "LAST_ACK");

	p.rcv_nxt = p.our_isn + 2;
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_NONE();
	CHECK_EQ(tcp_conn_count(ctx), 0);
	CHECK_EQ(app.closed, 0);               /* detached by tcp_close(): no callbacks */
	teardown();
}

/* 11. No ACK: the same bytes go again after the RTO, and the RTO doubles. */
TEST(retransmission_backoff)
{
	const unsigned n = 100;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	int t1, t2;

	c = setup_conn(&p, O_MSS);              /* no timestamps: no RTT sample, RTO 1 s */
	REQUIRE(c != NULL);
	cap_clear();
	CHECK_EQ(tcp_send(c, stream, n), n);
	EXPECT_ONE(s);
	CHECK_EQ(s.seq, p.our_isn + 1);
	CHECK_EQ(s.len, n);

	cap_clear();
	t1 = run_until_output(10 * RTO_INIT_MS);
	CHECK_EQ(t1, RTO_INIT_MS);
	EXPECT_ONE(s);
	CHECK_EQ(s.seq, p.our_isn + 1);
	CHECK(s.len == n && memcmp(s.data, stream, n) == 0);
	CHECK_EQ(ctx->st.tcp_rto, 1);
	CHECK_EQ(ctx->st.tcp_retransmits, 1);

	cap_clear();
	t2 = run_until_output(10 * RTO_INIT_MS);
	CHECK(t1 > 0 && t2 >= 2 * t1);
	EXPECT_ONE(s);
	CHECK_EQ(s.seq, p.our_isn + 1);
	CHECK(s.len == n && memcmp(s.data, stream, n) == 0);
	CHECK_EQ(ctx->st.tcp_rto, 2);

	/* acknowledged: quiet */
	p.rcv_nxt = p.our_isn + 1 + n;
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_NONE();
	advance_ms(8 * RTO_INIT_MS);
	EXPECT_NONE();
	teardown();
}

/* Send nseg full segments from the app and check they all went; returns the first seq. */
static uint32_t send_segments(struct tcp_conn *c, const struct peer *p, unsigned nseg)
{
	struct seg_out s;
	unsigned i;

	cap_clear();
	CHECK_EQ(tcp_send(c, stream, nseg * MSS_V4), nseg * MSS_V4);
	CHECK_EQ(ncap, nseg);
	for (i = 0; i < ncap; i++) {
		CHECK_EQ(cap_seg(i, &s), 0);
		CHECK_EQ(s.seq, p->our_isn + 1 + i * MSS_V4);
		CHECK_EQ(s.len, MSS_V4);
	}
	return p->our_isn + 1;
}

/* 12a. Fast retransmit on duplicate ACKs carrying SACK, before any RTO. */
TEST(fast_retransmit_sack)
{
	const unsigned nseg = 5, dupacks = 3;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	struct topt o;
	uint32_t s0;
	unsigned i, rtx = 0, found = 0;

	c = setup_conn(&p, O_MSS | O_SACK);
	REQUIRE(c != NULL);
	s0 = send_segments(c, &p, nseg);

	p.rcv_nxt = s0 + MSS_V4;               /* segment 1 arrived, segment 2 lost */
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_NONE();
	memset(&o, 0, sizeof(o));
	o.nsack = 1;
	o.sack[0][0] = s0 + 2 * MSS_V4;
	o.sack[0][1] = s0 + nseg * MSS_V4;
	for (i = 0; i < dupacks; i++) {
		peer_raw(&p, TF_ACK, p.snd_nxt, p.rcv_nxt, PEER_WIN, &o, NULL, 0);
		for (unsigned k = 0; k < ncap; k++)
			if (cap_seg(k, &s) == 0 && s.len > 0) {
				rtx++;
				if (s.seq == s0 + MSS_V4 && s.len == MSS_V4 &&
				    memcmp(s.data, stream + MSS_V4, MSS_V4) == 0)
					found++;
			}
	}
	CHECK_EQ(rtx, 1);
	CHECK_EQ(found, 1);
	CHECK_EQ(ctx->st.tcp_fast_retransmits, 1);
	CHECK_EQ(ctx->st.tcp_rto, 0);
	teardown();
}

/* 12b. Without SACK: the third duplicate ACK, not the second, retransmits. */
TEST(fast_retransmit_three_dupacks)
{
	const unsigned nseg = 5;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t s0;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	s0 = send_segments(c, &p, nseg);
	p.rcv_nxt = s0 + MSS_V4;
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_NONE();
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_NONE();
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_NONE();
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.seq, s0 + MSS_V4);
	CHECK(s.len == MSS_V4 && memcmp(s.data, stream + MSS_V4, MSS_V4) == 0);
	CHECK_EQ(ctx->st.tcp_fast_retransmits, 1);
	CHECK_EQ(ctx->st.tcp_rto, 0);
	teardown();
}

/* 13. Backlog full: a cookie SYN-ACK without state; the right ACK makes a connection, a wrong one a RST. */
TEST(syn_cookies)
{
	const uint32_t cookie_isn = 0x22220000u;
	struct peer hp[SYN_BACKLOG], p, bad;
	struct seg_out s, ck;
	struct topt o;
	unsigned i;
	uint32_t wrong;

	setup();
	for (i = 0; i < SYN_BACKLOG; i++) {
		peer_init(&hp[i], NET_AF_INET, PEER_PORT + 1 + i, PEER_ISN);
		o = syn_opts(&hp[i], O_MSS);
		peer_raw(&hp[i], TF_SYN, PEER_ISN, 0, PEER_WIN, &o, NULL, 0);
		EXPECT_ONE(s);
	}
	CHECK_EQ(tcp_conn_count(ctx), SYN_BACKLOG);
	CHECK_EQ(ctx->st.tcp_syncookies_sent, 0);

	peer_init(&p, NET_AF_INET, PEER_PORT + 100, cookie_isn);
	o = syn_opts(&p, O_ALL);
	peer_raw(&p, TF_SYN, cookie_isn, 0, PEER_WIN, &o, NULL, 0);
	EXPECT_ONE(ck);
	CHECK_EQ(ck.flags, TF_SYN | TF_ACK);
	CHECK_EQ(ck.ack, cookie_isn + 1);
	CHECK(ck.has_mss);
	CHECK_EQ(ck.mss, MSS_V4);
	CHECK(ck.has_ts && ck.tsecr == PEER_TS0);
	CHECK(ck.has_ws && ck.sack_ok);
	CHECK_EQ(tcp_conn_count(ctx), SYN_BACKLOG);
	CHECK_EQ(ctx->st.tcp_syncookies_sent, 1);

	/* the right ACK */
	peer_ack_synack(&p, &ck, 1);
	EXPECT_NONE();
	CHECK_EQ(app.accepts, 1);
	CHECK_EQ(ctx->st.tcp_syncookies_ok, 1);
	CHECK_EQ(tcp_conn_count(ctx), SYN_BACKLOG + 1);
	REQUIRE(app.c != NULL);
	CHECK_STR(tcp_state_name(app.c), "ESTABLISHED");

	/* and it works: data in, ACK out with the negotiated timestamps */
	peer_send(&p, TF_ACK | TF_PSH, stream, 10);
	flush_delack();
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, p.snd_nxt);
	CHECK(s.has_ts && s.tsecr == PEER_TS0);
	CHECK_EQ(app.rxlen, 10);

	/* a wrong cookie: RST, no state */
	peer_init(&bad, NET_AF_INET, PEER_PORT + 101, cookie_isn);
	o = syn_opts(&bad, O_MSS);
	peer_raw(&bad, TF_SYN, cookie_isn, 0, PEER_WIN, &o, NULL, 0);
	EXPECT_ONE(ck);
	CHECK_EQ(ctx->st.tcp_syncookies_sent, 2);
	wrong = (ck.seq ^ 0x1) + 1;            /* one bit of the MAC flipped */
	peer_raw(&bad, TF_ACK, cookie_isn + 1, wrong, PEER_WIN, NULL, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_RST);
	CHECK_EQ(s.seq, wrong);
	CHECK_EQ(tcp_conn_count(ctx), SYN_BACKLOG + 1);
	CHECK_EQ(ctx->st.drops[NET_DROP_tcp_syncookie_bad], 1);
	CHECK_EQ(ctx->st.tcp_syncookies_ok, 1);
	teardown();
}

/* RFC 7323 5.4: TSvals never go backwards; a SYN cookie's TSval must not be ahead of later ones. */
TEST(syncookie_tsval_monotonic)
{
	const unsigned tries = 8, banner = 5;
	struct peer hp[SYN_BACKLOG], p;
	struct seg_out s, ck;
	struct topt o;
	unsigned i, backwards = 0;

	setup();
	for (i = 0; i < SYN_BACKLOG; i++) {
		peer_init(&hp[i], NET_AF_INET, PEER_PORT + 1 + i, PEER_ISN);
		o = syn_opts(&hp[i], O_MSS);
		peer_raw(&hp[i], TF_SYN, PEER_ISN, 0, PEER_WIN, &o, NULL, 0);
	}
	for (i = 0; i < tries; i++) {
		peer_init(&p, NET_AF_INET, PEER_PORT + 200 + i, PEER_ISN);
		o = syn_opts(&p, O_ALL);
		peer_raw(&p, TF_SYN, PEER_ISN, 0, PEER_WIN, &o, NULL, 0);
		EXPECT_ONE(ck);
		p.snd_nxt = PEER_ISN + 1;
		p.rcv_nxt = ck.seq + 1;
		p.ts = 1;
		p.ts_recent = ck.tsval;
		app.c = NULL;
		peer_send(&p, TF_ACK, NULL, 0);
		if (app.c == NULL) {
			CHECK(!"cookie ACK accepted");
			continue;
		}
		/* the server speaks first at once (an SMTP banner) */
		cap_clear();
		tcp_send(app.c, stream, banner);
		EXPECT_ONE(s);
		if ((int32_t)(s.tsval - ck.tsval) < 0)
			backwards++;
	}
	CHECK_EQ(backwards, 0);
	teardown();
}

/* A retransmitted SYN in SYN_RCVD (our SYN-ACK was lost) is answered with the SYN-ACK again. */
TEST(syn_retransmit_gets_synack)
{
	struct peer p;
	struct seg_out s, first;
	struct topt o;

	setup();
	peer_init(&p, NET_AF_INET, PEER_PORT, PEER_ISN);
	o = syn_opts(&p, O_MSS);
	peer_raw(&p, TF_SYN, PEER_ISN, 0, PEER_WIN, &o, NULL, 0);
	EXPECT_ONE(first);
	peer_raw(&p, TF_SYN, PEER_ISN, 0, PEER_WIN, &o, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_SYN | TF_ACK);
	CHECK_EQ(s.seq, first.seq);
	CHECK_EQ(s.ack, PEER_ISN + 1);
	CHECK_EQ(tcp_conn_count(ctx), 1);
	teardown();
}

/* 14. Segments to a port nobody listens on are answered with RST (RFC 9293 3.10.7.1). */
TEST(closed_port_rst)
{
	const uint32_t seq = 5000, ack = 9000;
	const unsigned n = 10;
	struct peer p;
	struct seg_out s;
	struct topt o;

	setup();
	peer_init(&p, NET_AF_INET, PEER_PORT, seq);
	p.lport = CLOSED_PORT;
	o = syn_opts(&p, O_MSS);
	peer_raw(&p, TF_SYN, seq, 0, PEER_WIN, &o, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_RST | TF_ACK);
	CHECK_EQ(s.seq, 0);
	CHECK_EQ(s.ack, seq + 1);
	CHECK_EQ(s.sport, CLOSED_PORT);
	CHECK_EQ(s.dport, PEER_PORT);
	CHECK_EQ(ctx->st.tcp_refused, 1);

	/* data without ACK: ack = seq + len */
	peer_raw(&p, TF_PSH, seq, 0, PEER_WIN, NULL, stream, n);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_RST | TF_ACK);
	CHECK_EQ(s.ack, seq + n);

	/* with ACK: the RST takes its sequence number from it */
	peer_raw(&p, TF_ACK, seq, ack, PEER_WIN, NULL, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_RST);
	CHECK_EQ(s.seq, ack);

	/* never a RST for a RST */
	peer_raw(&p, TF_RST, seq, 0, 0, NULL, NULL, 0);
	EXPECT_NONE();
	CHECK_EQ(ctx->st.drops[NET_DROP_tcp_no_listener], 4);
	CHECK_EQ(ctx->st.tcp_resets_out, 3);
	CHECK_EQ(tcp_conn_count(ctx), 0);
	teardown();
}

/* 15. Bad checksum, truncated header, malformed options: dropped, counted, unanswered. */
TEST(malformed_segments)
{
	static const uint8_t opt_len0[] = { 2, 0, 0, 0 };          /* length 0 */
	static const uint8_t opt_past_end[] = { 1, 1, 8, 10 };     /* TS, 8 bytes missing */
	static const uint8_t opt_mss_len3[] = { 2, 3, 0, 0 };      /* MSS must be 4 */
	const uint8_t *bad_opts[] = { opt_len0, opt_past_end, opt_mss_len3 };
	const unsigned short_len = 12, big_doff = 15;
	struct peer p;
	struct topt o;
	uint8_t buf[TCP_HLEN + 40];
	unsigned len, i;

	setup();
	peer_init(&p, NET_AF_INET, PEER_PORT, PEER_ISN);

	/* bad checksum */
	len = tcp_build(buf, &p, TF_SYN, PEER_ISN, 0, PEER_WIN, NULL, NULL, 0);
	buf[16] ^= 0x5a;
	cap_clear();
	inject_l4(&p, IPPROTO_TCP, buf, len);
	EXPECT_NONE();
	CHECK_EQ(ctx->st.drops[NET_DROP_tcp_csum], 1);

	/* a TCP header cut short by the IP length */
	len = tcp_build(buf, &p, TF_SYN, PEER_ISN, 0, PEER_WIN, NULL, NULL, 0);
	inject_l4(&p, IPPROTO_TCP, buf, short_len);
	EXPECT_NONE();
	CHECK_EQ(ctx->st.drops[NET_DROP_tcp_short], 1);

	/* a data offset past the segment */
	len = tcp_build(buf, &p, TF_SYN, PEER_ISN, 0, PEER_WIN, NULL, NULL, 0);
	buf[12] = (uint8_t)(big_doff << 4);
	seg_csum_fix(&p, buf, len);
	inject_l4(&p, IPPROTO_TCP, buf, len);
	EXPECT_NONE();
	CHECK_EQ(ctx->st.drops[NET_DROP_tcp_short], 2);

	/* options with a bad length */
	for (i = 0; i < sizeof(bad_opts) / sizeof(bad_opts[0]); i++) {
		memset(&o, 0, sizeof(o));
		o.raw = bad_opts[i];
		o.raw_len = 4;
		len = tcp_build(buf, &p, TF_SYN, PEER_ISN, 0, PEER_WIN, &o, NULL, 0);
		inject_l4(&p, IPPROTO_TCP, buf, len);
		EXPECT_NONE();
		CHECK_EQ(ctx->st.drops[NET_DROP_tcp_bad_options], i + 1);
	}
	CHECK_EQ(tcp_conn_count(ctx), 0);
	CHECK_EQ(ctx->st.tcp_resets_out, 0);

	/* the same SYN, well formed, is answered */
	o = syn_opts(&p, O_MSS);
	peer_raw(&p, TF_SYN, PEER_ISN, 0, PEER_WIN, &o, NULL, 0);
	CHECK_EQ(ncap, 1);
	teardown();
}

/* 16. PAWS: with timestamps on, a segment with an older TSval is dropped and answered with an ACK. */
TEST(paws_old_timestamp)
{
	const uint32_t newer = PEER_TS0 + 1000, older = PEER_TS0 + 500;
	const unsigned n = 10;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t base;

	c = setup_conn(&p, O_ALL);
	REQUIRE(c != NULL);
	base = p.snd_nxt;
	p.tsval = newer;
	peer_send(&p, TF_ACK | TF_PSH, stream, n);
	flush_delack();
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, base + n);
	CHECK_EQ(s.tsecr, newer);
	CHECK_EQ(app.rxlen, n);

	p.tsval = older;
	peer_send(&p, TF_ACK | TF_PSH, stream + n, n);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_ACK);
	CHECK_EQ(s.ack, base + n);
	CHECK_EQ(s.tsecr, newer);
	CHECK_EQ(app.rxlen, n);
	CHECK_EQ(ctx->st.drops[NET_DROP_tcp_paws], 1);
	teardown();
}

/* 17. tcp_connect(): SYN with options; SYN-ACK -> ACK + connected(0); RST -> refused. */
TEST(active_open)
{
	const uint32_t peer_isn = 0x33330000u, peer_ts = 7000;
	struct net_addr ra = addr_of(NET_AF_INET, peer_ip4);
	struct peer p;
	struct seg_out s, syn;
	struct tcp_conn *c, *c2;
	struct topt o;

	setup();
	c = tcp_connect(ctx, 0, NET_AF_INET, &ra, REMOTE_PORT, &app_ops, &app2);
	REQUIRE(c != NULL);
	EXPECT_ONE(syn);
	CHECK_EQ(syn.flags, TF_SYN);
	CHECK_EQ(syn.dport, REMOTE_PORT);
	CHECK(syn.sport >= 1024);
	CHECK(memcmp(syn.src, our_ip4, 4) == 0);
	CHECK(syn.has_mss && syn.mss == MSS_V4);
	CHECK(syn.has_ws && syn.ws == OUR_WSCALE);
	CHECK(syn.sack_ok);
	CHECK(syn.has_ts && syn.tsecr == 0);
	CHECK_STR(tcp_state_name(c), "SYN_SENT");

	peer_init(&p, NET_AF_INET, REMOTE_PORT, peer_isn);
	p.lport = syn.sport;
	p.tsval = peer_ts;
	o = syn_opts(&p, O_ALL);
	o.tsecr = syn.tsval;
	peer_raw(&p, TF_SYN | TF_ACK, peer_isn, syn.seq + 1, PEER_WIN, &o, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_ACK);
	CHECK_EQ(s.seq, syn.seq + 1);
	CHECK_EQ(s.ack, peer_isn + 1);
	CHECK(s.has_ts && s.tsecr == peer_ts);
	CHECK_EQ(app2.connected, 1);
	CHECK_EQ(app2.connect_err, 0);
	CHECK_STR(tcp_state_name(c), "ESTABLISHED");
	CHECK_EQ(ctx->st.tcp_active_opens, 1);

	/* refused */
	memset(&app2, 0, sizeof(app2));
	cap_clear();
	c2 = tcp_connect(ctx, 0, NET_AF_INET, &ra, REMOTE_PORT + 1, &app_ops, &app2);
	REQUIRE(c2 != NULL);
	EXPECT_ONE(syn);
	CHECK_EQ(tcp_conn_count(ctx), 2);
	peer_init(&p, NET_AF_INET, REMOTE_PORT + 1, 0);
	p.lport = syn.sport;
	peer_raw(&p, TF_RST | TF_ACK, 0, syn.seq + 1, 0, NULL, NULL, 0);
	EXPECT_NONE();
	CHECK_EQ(app2.connected, 1);
	CHECK_EQ(app2.connect_err, -ECONNREFUSED);
	CHECK_EQ(app2.closed, 1);
	CHECK_EQ(app2.why, TCP_END_REFUSED);
	CHECK_EQ(tcp_conn_count(ctx), 1);
	CHECK_EQ(ctx->st.tcp_active_fails, 1);
	teardown();
}

/* 18. Out-of-order bytes beyond reasm_limit are dropped and counted; the SACK shows what is held. */
TEST(reassembly_limit)
{
	const unsigned seg = 1000, held = REASM_LIMIT / seg;   /* 16 segments fit */
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t b;
	unsigned i;

	c = setup_conn(&p, O_MSS | O_SACK);
	REQUIRE(c != NULL);
	b = p.snd_nxt;
	for (i = 1; i <= held; i++) {
		peer_data_at(&p, b, i * seg, seg);
		EXPECT_ONE(s);
		CHECK_EQ(s.ack, b);
		CHECK_EQ(s.nsack, 1);
		CHECK_SACK(s, 0, b + seg, b + (i + 1) * seg);
	}
	CHECK_EQ(ctx->st.drops[NET_DROP_tcp_reasm_limit], 0);

	/* one more does not fit */
	peer_data_at(&p, b, (held + 1) * seg, seg);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, b);
	CHECK_EQ(s.nsack, 1);
	CHECK_SACK(s, 0, b + seg, b + (held + 1) * seg);
	CHECK_EQ(ctx->st.drops[NET_DROP_tcp_reasm_limit], 1);

	/* the hole filled: everything held is delivered, the dropped segment is still missing */
	peer_data_at(&p, b, 0, seg);
	CHECK(ncap >= 1);
	for (i = 0; i < ncap; i++) {
		CHECK_EQ(cap_seg(i, &s), 0);
		CHECK_EQ(s.ack, b + (held + 1) * seg);
		CHECK_EQ(s.nsack, 0);
	}
	CHECK_EQ(app.rxlen, (held + 1) * seg);
	CHECK(memcmp(app.rx, stream, (held + 1) * seg) == 0);
	teardown();
}

/* Segments above the reassembly limit are dropped without throwing away data already SACKed. */
TEST(reassembly_limit_keeps_sacked_data)
{
	const unsigned seg = 500, tail_segs = 31;   /* 500 + 15500 bytes held: just under the limit */
	const unsigned hole1 = 0, isl1 = seg, hole2 = 2 * seg, isl2 = 3 * seg;
	const unsigned end = isl2 + tail_segs * seg;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t b;
	unsigned i, covered = 0;

	c = setup_conn(&p, O_MSS | O_SACK);
	REQUIRE(c != NULL);
	b = p.snd_nxt;
	peer_data_at(&p, b, isl1, seg);
	for (i = 0; i < tail_segs; i++)
		peer_data_at(&p, b, isl2 + i * seg, seg);
	CHECK_EQ(ctx->st.drops[NET_DROP_tcp_reasm_limit], 0);

	/* a re-packetized retransmission: the second hole plus the first held segment after it */
	peer_data_at(&p, b, hole2, 2 * seg);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, b);
	for (i = 0; i < s.nsack; i++)
		if ((int32_t)(s.sack[i][0] - (b + isl2)) <= 0 && (int32_t)(s.sack[i][1] - (b + end)) >= 0)
			covered = 1;
	CHECK(covered);                        /* [isl2, end) still held and reported */

	/* the holes filled one segment each: everything held comes out */
	peer_data_at(&p, b, hole1, seg);
	peer_data_at(&p, b, hole2, seg);
	CHECK_EQ(app.rxlen, end);
	CHECK(app.rxlen == end && memcmp(app.rx, stream, end) == 0);
	teardown();
}

/* While we hold out-of-order data, our full-sized data segments carry SACK blocks and still fit the MTU. */
TEST(sack_blocks_keep_data_within_mtu)
{
	const unsigned islands = 3, seg = 100, gap = 1000, nseg = 3;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t b, sent = 0;
	unsigned i, mss_ts = MSS_V4 - TS_OPT_LEN;

	c = setup_conn(&p, O_ALL);
	REQUIRE(c != NULL);
	b = p.snd_nxt;
	for (i = 1; i <= islands; i++)
		peer_data_at(&p, b, i * gap, seg);
	cap_clear();
	CHECK_EQ(tcp_send(c, stream, nseg * mss_ts), nseg * mss_ts);
	CHECK(ncap >= nseg);
	for (i = 0; i < ncap; i++) {
		CHECK_EQ(cap_seg(i, &s), 0);
		CHECK(cap[i]->data_len - ETH_HLEN <= IF_MTU);
		CHECK_EQ(s.nsack, islands);
		CHECK_EQ(s.seq, p.our_isn + 1 + sent);
		sent += s.len;
	}
	CHECK_EQ(sent, nseg * mss_ts);
	teardown();
}

/* RFC 5681 2: an ACK that changes the window is not a duplicate ACK (no spurious fast retransmit). */
TEST(window_update_is_not_dupack)
{
	const unsigned nseg = 5, updates = 3, win0 = 20000, win_step = 10000;
	struct peer p;
	struct tcp_conn *c;
	uint32_t s0;
	unsigned i;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	s0 = send_segments(c, &p, nseg);
	p.rcv_nxt = s0 + MSS_V4;
	p.win = win0;
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_NONE();
	/* the peer's application reads: window updates, nothing new acknowledged */
	for (i = 1; i <= updates; i++) {
		p.win = (uint16_t)(win0 + i * win_step);
		peer_send(&p, TF_ACK, NULL, 0);
		EXPECT_NONE();
	}
	CHECK_EQ(ctx->st.tcp_fast_retransmits, 0);
	CHECK_EQ(ctx->st.tcp_retransmits, 0);
	teardown();
}

/* The TIME_WAIT set is bounded (oldest recycled); a retransmitted FIN there is ACKed again. */
TEST(time_wait_bounded)
{
	struct peer p[TIMEWAIT_MAX + 1];
	struct seg_out s;
	struct tcp_conn *c;
	unsigned i;

	setup();
	for (i = 0; i <= TIMEWAIT_MAX; i++) {
		peer_init(&p[i], NET_AF_INET, PEER_PORT + i, PEER_ISN);
		c = handshake(&p[i], O_MSS);
		REQUIRE(c != NULL);
		cap_clear();
		tcp_shutdown(c);
		EXPECT_ONE(s);
		CHECK_EQ(s.flags, TF_FIN | TF_ACK);
		/* the peer acknowledges our FIN and sends its own */
		p[i].rcv_nxt = p[i].our_isn + 2;
		peer_send(&p[i], TF_FIN | TF_ACK, NULL, 0);
		EXPECT_ONE(s);
		CHECK_EQ(s.flags, TF_ACK);
		CHECK_EQ(s.ack, p[i].snd_nxt);
	}
	CHECK_EQ(app.closed, TIMEWAIT_MAX + 1);
	CHECK_EQ(tcp_conn_count(ctx), TIMEWAIT_MAX);
	CHECK_EQ(ctx->st.tcp_timewait_recycled, 1);

	/* the last one's peer lost our ACK: its FIN again is ACKed */
	advance_ms(TIMEWAIT_MS / 2);
	peer_raw(&p[TIMEWAIT_MAX], TF_FIN | TF_ACK, p[TIMEWAIT_MAX].snd_nxt - 1,
		 p[TIMEWAIT_MAX].rcv_nxt, PEER_WIN, NULL, NULL, 0);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_ACK);
	CHECK_EQ(s.ack, p[TIMEWAIT_MAX].snd_nxt);
	advance_ms(TIMEWAIT_MS / 2 + 1);
	CHECK_EQ(tcp_conn_count(ctx), 1);      /* its wait restarted with the FIN */
	advance_ms(TIMEWAIT_MS / 2);
	CHECK_EQ(tcp_conn_count(ctx), 0);
	teardown();
}

/* After tcp_close() a peer that never sends FIN cannot hold FIN_WAIT_2 forever. */
TEST(fin_wait_2_timeout)
{
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	cap_clear();
	tcp_close(c);
	EXPECT_ONE(s);
	p.rcv_nxt = p.our_isn + 2;
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_NONE();
	CHECK_STR(tcp_state_name(c), "FIN_WAIT_2");
	advance_ms(FIN_WAIT2_MS - 1);
	CHECK_EQ(tcp_conn_count(ctx), 1);
	advance_ms(1);
	CHECK_EQ(tcp_conn_count(ctx), 0);
	EXPECT_NONE();
	teardown();
}

/* Unacknowledged data: DATA_RETRIES retransmissions, then closed(TCP_END_TIMEOUT). */
TEST(retransmissions_exhausted)
{
	const unsigned n = 100;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	unsigned ms, segs = 0, bad = 0;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	cap_clear();
	tcp_send(c, stream, n);
	for (ms = 0; ms < GIVE_UP_MS && app.closed == 0; ms++) {
		unsigned i;

		for (i = 0; i < ncap; i++) {
			segs++;
			if (cap_seg(i, &s) != 0 || s.seq != p.our_isn + 1 || s.len != n ||
			    (s.flags & TF_RST))
				bad++;
		}
		cap_clear();
		advance_ms(1);
	}
	CHECK_EQ(segs, 1 + DATA_RETRIES);
	CHECK_EQ(bad, 0);
	CHECK_EQ(app.closed, 1);
	CHECK_EQ(app.why, TCP_END_TIMEOUT);
	CHECK_EQ(tcp_conn_count(ctx), 0);
	teardown();
}

/* An unanswered tcp_connect(): SYN_RETRIES SYNs more, then connected(-ETIMEDOUT) and closed(). */
TEST(active_open_timeout)
{
	struct net_addr ra = addr_of(NET_AF_INET, peer_ip4);
	struct tcp_conn *c;
	struct seg_out s;
	unsigned ms, syns = 0;

	setup();
	c = tcp_connect(ctx, 0, NET_AF_INET, &ra, REMOTE_PORT, &app_ops, &app2);
	REQUIRE(c != NULL);
	for (ms = 0; ms < GIVE_UP_MS && app2.closed == 0; ms++) {
		unsigned i;

		for (i = 0; i < ncap; i++)
			if (cap_seg(i, &s) == 0 && s.flags == TF_SYN)
				syns++;
		cap_clear();
		advance_ms(1);
	}
	CHECK_EQ(syns, 1 + SYN_RETRIES);
	CHECK_EQ(app2.connected, 1);
	CHECK_EQ(app2.connect_err, -ETIMEDOUT);
	CHECK_EQ(app2.closed, 1);
	CHECK_EQ(app2.why, TCP_END_TIMEOUT);
	CHECK_EQ(tcp_conn_count(ctx), 0);
	teardown();
}

/* tcp_abort(): a RST at snd_nxt, the connection gone, no callbacks. */
TEST(abort_sends_rst)
{
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	cap_clear();
	tcp_abort(c);
	EXPECT_ONE(s);
	CHECK_EQ(s.flags, TF_RST);
	CHECK_EQ(s.seq, p.our_isn + 1);
	CHECK_EQ(tcp_conn_count(ctx), 0);
	CHECK_EQ(app.closed, 0);
	teardown();
}

/* Data and FIN read late: peer_closed() comes after the read, from the poll loop. */
TEST(peer_closed_after_late_read)
{
	static const char msg[] = "QUIT\r\n";
	const unsigned n = sizeof(msg) - 1;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	char buf[sizeof(msg)];

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	app.consume = 0;
	peer_send(&p, TF_FIN | TF_ACK | TF_PSH, msg, n);
	EXPECT_ONE(s);
	CHECK_EQ(s.ack, p.snd_nxt);            /* data and FIN acknowledged */
	CHECK_EQ(app.readables, 1);
	CHECK_EQ(app.peer_closed, 0);          /* unread data comes first */
	CHECK_EQ(tcp_recv(c, buf, sizeof(buf)), n);
	CHECK(memcmp(buf, msg, n) == 0);
	CHECK_EQ(app.peer_closed, 0);          /* not from inside tcp_recv() */
	advance_ms(1);
	CHECK_EQ(app.peer_closed, 1);
	teardown();
}

/* Inject an ICMP "fragmentation needed" quoting our segment to p with sequence number seq. */
static void icmp_frag_needed(const struct peer *p, uint32_t seq, uint16_t mtu)
{
	const unsigned hdr = 8, quoted = IP4_HLEN + 8;  /* RFC 792: IP header + 8 bytes */
	uint8_t icmp[8 + IP4_HLEN + 8], *ip = icmp + hdr, *th = ip + IP4_HLEN;
	struct peer router = *p;

	memset(icmp, 0, sizeof(icmp));
	icmp[0] = 3;                           /* destination unreachable */
	icmp[1] = 4;                           /* fragmentation needed */
	put16(icmp + 6, mtu);
	ip[0] = 0x45;
	put16(ip + 2, IP4_HLEN + TCP_HLEN + MSS_V4);
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	memcpy(ip + 12, our_ip4, 4);
	memcpy(ip + 16, p->addr, 4);
	put16(ip + 10, (uint16_t)~fold(sum16(ip, IP4_HLEN, 0)));
	put16(th, p->lport);
	put16(th + 2, p->port);
	put32(th + 4, seq);
	put16(icmp + 2, (uint16_t)~fold(sum16(icmp, hdr + quoted, 0)));
	cap_clear();
	inject_l4(&router, IPPROTO_ICMP, icmp, hdr + quoted);
}

/* ICMP fragmentation needed for data in flight: resent at once in segments that fit the new MTU. */
TEST(pmtu_frag_needed)
{
	const unsigned nseg = 2;
	const uint16_t path_mtu = 1000;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t s0, covered = 0;
	unsigned i;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	s0 = send_segments(c, &p, nseg);
	icmp_frag_needed(&p, s0, path_mtu);
	CHECK_EQ(ctx->st.pmtu_updates, 1);
	CHECK(ncap >= 1);
	for (i = 0; i < ncap; i++) {
		CHECK_EQ(cap_seg(i, &s), 0);
		CHECK(cap[i]->data_len - ETH_HLEN <= path_mtu);
		CHECK_EQ(s.seq, s0 + covered);
		covered += s.len;
	}
	CHECK_EQ(cap_seg(0, &s), 0);
	CHECK_EQ(s.len, path_mtu - IP4_HLEN - TCP_HLEN);
	CHECK(covered > 0 && covered <= nseg * MSS_V4);
	teardown();
}

/* RFC 5927 4.1: an ICMP error quoting a sequence number we never sent is ignored. */
TEST(pmtu_ignores_out_of_window_icmp)
{
	const uint32_t far = 10000000;
	const uint16_t path_mtu = 600;
	struct peer p;
	struct seg_out s;
	struct tcp_conn *c;
	uint32_t s0;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	s0 = send_segments(c, &p, 1);
	icmp_frag_needed(&p, s0 + far, path_mtu);   /* a blind attacker's guess */
	EXPECT_NONE();
	/* still full-sized */
	p.rcv_nxt = s0 + MSS_V4;
	peer_send(&p, TF_ACK, NULL, 0);
	cap_clear();
	tcp_send(c, stream, MSS_V4);
	EXPECT_ONE(s);
	CHECK_EQ(s.len, MSS_V4);
	teardown();
}

/* 19. Handshake and data both ways over IPv6. */
TEST(ipv6_handshake_and_data)
{
	static const char req[] = "EHLO peer\r\n", resp[] = "250 ok\r\n";
	const unsigned rl = sizeof(req) - 1, sl = sizeof(resp) - 1;
	struct peer p;
	struct seg_out s, sa;
	struct tcp_conn *c;

	setup();
	peer_init(&p, NET_AF_INET6, PEER_PORT, PEER_ISN);
	c = handshake_ex(&p, O_ALL, &sa);
	REQUIRE(c != NULL);
	CHECK_EQ(sa.family, NET_AF_INET6);
	CHECK(memcmp(sa.src, our_ip6, 16) == 0 && memcmp(sa.dst, peer_ip6, 16) == 0);
	CHECK(sa.csum_ok);
	CHECK(sa.has_mss && sa.mss == MSS_V6);
	CHECK_EQ(tcp_tuple(c)->family, NET_AF_INET6);

	peer_send(&p, TF_ACK | TF_PSH, req, rl);
	CHECK_EQ(app.rxlen, rl);
	CHECK(memcmp(app.rx, req, rl) == 0);

	cap_clear();
	CHECK_EQ(tcp_send(c, resp, sl), sl);
	EXPECT_ONE(s);
	CHECK_EQ(s.family, NET_AF_INET6);
	CHECK(s.csum_ok);
	CHECK_EQ(s.seq, p.our_isn + 1);
	CHECK_EQ(s.ack, p.snd_nxt);            /* the request acknowledged with the reply */
	CHECK(s.len == sl && memcmp(s.data, resp, sl) == 0);

	p.rcv_nxt += sl;
	peer_send(&p, TF_ACK, NULL, 0);
	EXPECT_NONE();
	CHECK_EQ(tcp_unacked(c), 0);
	teardown();
}

/* 20a. An ARP request for our address is answered with our MAC; one for another is not. */
TEST(arp_reply)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t other_ip[4] = { 198, 18, 0, 99 };
	const unsigned arp_len = 28;
	const uint8_t *targets[] = { our_ip4, other_ip };
	unsigned i;

	setup();
	for (i = 0; i < 2; i++) {
		struct rte_mbuf *m;
		uint8_t *a = frame_alloc(&m, bcast, ETH_ARP, arp_len);

		put16(a, 1);                   /* Ethernet */
		put16(a + 2, ETH_IP4);
		a[4] = 6;
		a[5] = 4;
		put16(a + 6, 1);               /* request */
		memcpy(a + 8, peer_mac, 6);
		memcpy(a + 14, peer_ip4, 4);
		memset(a + 18, 0, 6);
		memcpy(a + 24, targets[i], 4);
		cap_clear();
		net_input(ctx, &ctx->ifs[0], m);
		if (i == 1) {
			EXPECT_NONE();
			break;
		}
		CHECK_EQ(ncap, 1);
		if (ncap == 1) {
			const uint8_t *f = rte_pktmbuf_mtod(cap[0], const uint8_t *), *r = f + ETH_HLEN;

			CHECK(cap[0]->data_len >= ETH_HLEN + arp_len);
			CHECK(memcmp(f, peer_mac, 6) == 0 && memcmp(f + 6, our_mac, 6) == 0);
			CHECK_EQ(get16(f + 12), ETH_ARP);
			CHECK_EQ(get16(r + 6), 2);     /* reply */
			CHECK(memcmp(r + 8, our_mac, 6) == 0);
			CHECK(memcmp(r + 14, our_ip4, 4) == 0);
			CHECK(memcmp(r + 18, peer_mac, 6) == 0);
			CHECK(memcmp(r + 24, peer_ip4, 4) == 0);
		}
	}
	CHECK_EQ(ctx->st.arp_replies_sent, 1);
	teardown();
}

/*
 * 19b. Frames for a next hop being resolved wait for its ARP reply: a burst
 * of 20 SYNs keeps the first 16 (NEIGH_PENDING), drops and counts the rest,
 * and the 16 leave with the right MAC once the reply comes.
 */
TEST(neigh_pending_burst)
{
	static const uint8_t host_ip[4] = { 198, 18, 0, 77 }, host_mac[6] = { 0x02, 0, 0, 0, 0, 0x77 };
	struct net_addr ra;
	struct rte_mbuf *m;
	struct tcp_conn *c;
	uint8_t *a;
	unsigned i, syns = 0;

	setup();
	memcpy(ra.a, host_ip, 4);
	memset(ra.a + 4, 0, 12);
	for (i = 0; i < 20; i++) {
		c = tcp_connect(ctx, 0, NET_AF_INET, &ra, REMOTE_PORT + i, &app_ops, &app2);
		REQUIRE(c != NULL);    /* REQUIRE evaluates its argument twice */
	}
	CHECK_EQ(ncap, 1);                     /* the ARP request, nothing else yet */
	if (ncap == 1)
		CHECK_EQ(get16(rte_pktmbuf_mtod(cap[0], const uint8_t *) + 12), ETH_ARP);
	CHECK_EQ(ctx->st.drops[NET_DROP_neigh_pending_full], 4);
	cap_clear();
	a = frame_alloc(&m, our_mac, ETH_ARP, 28);
	put16(a, 1);
	put16(a + 2, ETH_IP4);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 2);                       /* reply */
	memcpy(a + 8, host_mac, 6);
	memcpy(a + 14, host_ip, 4);
	memcpy(a + 18, our_mac, 6);
	memcpy(a + 24, our_ip4, 4);
	net_input(ctx, &ctx->ifs[0], m);
	for (i = 0; i < ncap; i++) {
		const uint8_t *f = rte_pktmbuf_mtod(cap[i], const uint8_t *);

		if (get16(f + 12) == ETH_IP4 && memcmp(f, host_mac, 6) == 0)
			syns++;
	}
	CHECK_EQ(syns, 16);
	teardown();
}

/* 20b. An ICMP echo request is answered with the same identifier, sequence and payload. */
TEST(icmp_echo_reply)
{
	const unsigned hdr = 8, payload = 32, len = hdr + payload;
	const uint16_t ident = 0x1234, seqno = 7;
	struct peer p;
	uint8_t icmp[8 + 32];

	setup();
	peer_init(&p, NET_AF_INET, 0, 0);
	memset(icmp, 0, sizeof(icmp));
	icmp[0] = 8;                           /* echo request */
	put16(icmp + 4, ident);
	put16(icmp + 6, seqno);
	memcpy(icmp + hdr, stream, payload);
	put16(icmp + 2, (uint16_t)~fold(sum16(icmp, len, 0)));
	cap_clear();
	inject_l4(&p, IPPROTO_ICMP, icmp, len);
	CHECK_EQ(ncap, 1);
	if (ncap == 1) {
		const uint8_t *f = rte_pktmbuf_mtod(cap[0], const uint8_t *), *ip = f + ETH_HLEN;
		const uint8_t *r = ip + IP4_HLEN;

		CHECK(cap[0]->data_len >= ETH_HLEN + IP4_HLEN + len);
		CHECK(memcmp(f, peer_mac, 6) == 0 && memcmp(f + 6, our_mac, 6) == 0);
		CHECK_EQ(get16(f + 12), ETH_IP4);
		CHECK_EQ(ip[9], IPPROTO_ICMP);
		CHECK(memcmp(ip + 12, our_ip4, 4) == 0 && memcmp(ip + 16, peer_ip4, 4) == 0);
		CHECK_EQ(fold(sum16(ip, IP4_HLEN, 0)), 0xffff);
		CHECK_EQ(get16(ip + 2), IP4_HLEN + len);
		CHECK_EQ(r[0], 0);                 /* echo reply */
		CHECK_EQ(get16(r + 4), ident);
		CHECK_EQ(get16(r + 6), seqno);
		CHECK(memcmp(r + hdr, stream, payload) == 0);
		CHECK_EQ(fold(sum16(r, len, 0)), 0xffff);
	}
	CHECK_EQ(ctx->st.icmp_echo_replies, 1);
	teardown();
}

/* A timer that fell due while the clock jumped more than a wheel lap fires at the next tick. */
TEST(timer_after_clock_jump)
{
	const unsigned timeout_ms = WHEEL_LAP_MS + 1000, jump_ms = timeout_ms + 1000;
	struct peer p;
	struct tcp_conn *c;

	c = setup_conn(&p, O_MSS);
	REQUIRE(c != NULL);
	tcp_set_timeout(c, timeout_ms);
	ctx->now_us += (uint64_t)jump_ms * 1000;  /* the lcore stalled */
	net_timers(ctx);
	advance_ms(2);
	CHECK_EQ(app.timeouts, 1);
	teardown();
}

/* Every uint64_t of struct net_stats is a named counter or a drop reason. */
TEST(stats_cover_net_stats)
{
	CHECK_EQ(stats_field_count() + NET_DROP__MAX + NET_ROUND_BUCKETS + 1,
		 sizeof(struct net_stats) / sizeof(uint64_t));
}

int main(void)
{
	pool = harness_eal("test_tcp", 128, POOL_MBUFS);
	if (pool == NULL) {
		fprintf(stderr, "EAL or mbuf pool set-up failed\n");
		return 1;
	}
	stream_init();

	RUN(l4_checksum);
	RUN(handshake_and_isn);
	RUN(sequence_wraparound);
	RUN(quick_ack_mode);
	RUN(hold_ack_for_reply);
	RUN(delay_ack_for_relay);
	RUN(old_duplicate_segment);
	RUN(rst_handling);
	RUN(syn_in_established);
	RUN(out_of_order_and_overlap);
	RUN(sack_first_block_is_the_newest);
	RUN(zero_receive_window);
	RUN(zero_send_window_persist);
	RUN(simultaneous_close);
	RUN(passive_close);
	RUN(retransmission_backoff);
	RUN(fast_retransmit_sack);
	RUN(fast_retransmit_three_dupacks);
	RUN(syn_cookies);
	RUN(syncookie_tsval_monotonic);
	RUN(syn_retransmit_gets_synack);
	RUN(closed_port_rst);
	RUN(malformed_segments);
	RUN(paws_old_timestamp);
	RUN(active_open);
	RUN(reassembly_limit);
	RUN(reassembly_limit_keeps_sacked_data);
	RUN(sack_blocks_keep_data_within_mtu);
	RUN(window_update_is_not_dupack);
	RUN(time_wait_bounded);
	RUN(fin_wait_2_timeout);
	RUN(retransmissions_exhausted);
	RUN(active_open_timeout);
	RUN(abort_sends_rst);
	RUN(peer_closed_after_late_read);
	RUN(pmtu_frag_needed);
	RUN(pmtu_ignores_out_of_window_icmp);
	RUN(ipv6_handshake_and_data);
	RUN(arp_reply);
	RUN(neigh_pending_burst);
	RUN(icmp_echo_reply);
	RUN(timer_after_clock_jump);
	RUN(stats_cover_net_stats);

	rte_mempool_free(pool);
	rte_eal_cleanup();
	return t_done("test_tcp");
}
