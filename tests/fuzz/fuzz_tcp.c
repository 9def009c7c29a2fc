/*
 * fuzz_tcp.c - libFuzzer target for the userspace TCP/IP stack's input
 * (dataplane/net/net.c, tcp*.c): crafted IPv4 and IPv6 frames against a
 * connection table, driven as tests/unit/test_tcp.c drives it, with the
 * same network and stack set-up (tests/unit/tcp_harness.[ch]: DPDK mbufs
 * from a heap mempool, EAL with --no-huge --no-pci, a capturing xmit hook,
 * the clock set by hand). One fresh stack per input: a listener on port 25,
 * 8 connections at most, small buffers and reassembly limits so that every
 * limit is reachable.
 *
 * Input: records, each an op byte and its fields:
 *   op & 7 = 0..2  a TCP segment from peer port PEER_PORT + p (p = 0..6, or
 *                  p = 7: the remote end of an active open), built with
 *                  valid checksums (or a bad one on request): family,
 *                  flags, sequence (the stack's last ACK, that +/- a delta,
 *                  the peer's ISN + offset, or raw), acknowledgement (the
 *                  stack's next sequence +/- delta, or raw), window, raw
 *                  option bytes, payload length; payload bytes are the low
 *                  byte of their own sequence number
 *            3     a raw frame after our Ethernet header (IPv4, IPv6 or
 *                  ARP), IP and L4 checksums fixed on request
 *            4     time: up to 2 s in 1 ms steps with timers, or a stall
 *                  of up to 4 min then one timer run
 *            5     the application acts on a connection: send, shut down,
 *                  close, abort, set a timeout, stop or start reading
 *            6     an active open to the peer (IPv4 or IPv6)
 *            7     a SYN flood burst from many ports (SYN cookies)
 *
 * Asserted: every frame the stack sends fits the MTU, has valid IP and TCP
 * checksums and a sane header; the bytes an application reads are the
 * peer's bytes in order (each is the low byte of its sequence number, so
 * consecutive bytes differ by one: no reordering, loss inside the stream,
 * duplication or corruption); the table never holds more connections than
 * max_conns plus TIME_WAIT's bound; no tx_too_big drop; every mbuf is back
 * in the pool once the stack is freed. FUZZ_TCP_DUMP=1 prints what each
 * input did (bytes read per connection, counters, drops).
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

#include "tests/unit/tcp_harness.h"
#include "fuzz.h"

#define OUR_PORT     25
#define CLOSED_PORT  26
#define PEER_PORT    40000
#define REMOTE_PORT  2525
#define MAX_CONNS    8
#define TIMEWAIT_MAX 4
#define NAPPS        24
#define ETH_HLEN     14
#define TIME_BUDGET_MS 120000   /* stepped milliseconds per input */

/* The peer's addresses: [0] the harness's (its MAC known), [1] one with no ARP or ND entry. */
static const uint8_t far_ip4[4] = { 198, 18, 0, 77 };
static const uint8_t far_ip6[16] = { 0x20, 0x01, 0, 2, [15] = 0x77 };
static const uint8_t *const peer4[2] = { peer_ip4, far_ip4 };
static const uint8_t *const peer6[2] = { peer_ip6, far_ip6 };
#define FAMILY(v6) ((v6) ? NET_AF_INET6 : NET_AF_INET)

static struct rte_mempool *pool;
static struct net_ctx *ctx;

/* What the peer knows of each of its ports (index: family * 8 + port index). */
struct peer {
	uint32_t isn;            /* its own initial sequence number */
	uint32_t stack_nxt;      /* the stack's next sequence, from what it sent */
	uint32_t stack_ack;      /* what the stack acknowledged last */
	uint16_t lport;          /* port 7: the active open's local port */
	int seen;                /* the stack sent something to this port */
};
static struct peer peers[16];

/* An application record per connection. */
struct capp {
	struct tcp_conn *c;
	int used, reading, have_last;
	uint8_t last;            /* last byte read */
	uint64_t got;
};
static struct capp apps[NAPPS];
static const struct tcp_app_ops ops;
static unsigned time_spent_ms;

/* ---- what the stack sends ---- */

/* Sequence a is after b (mod 2^32). */
static int seq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* Check one TCP segment the stack sent and learn the peer's view from it. */
static void learn_tcp(int v6, const uint8_t *src, const uint8_t *dst, const uint8_t *th, unsigned len)
{
	unsigned doff, plen, idx;
	uint16_t sport, dport;
	uint32_t seq, end;
	uint8_t fl;
	struct peer *p;

	FUZZ_ASSERT(len >= 20);
	FUZZ_ASSERT(l4_csum(FAMILY(v6), src, dst, IPPROTO_TCP, th, len) == 0);
	doff = (unsigned)(th[12] >> 4) * 4;
	FUZZ_ASSERT(doff >= 20 && doff <= len);
	sport = get16(th);
	dport = get16(th + 2);
	fl = th[13];
	FUZZ_ASSERT(!((fl & 0x02) && (fl & 0x04)));      /* never SYN+RST */
	plen = len - doff;
	seq = get32(th + 4);
	if (sport == REMOTE_PORT || dport == REMOTE_PORT) {
		idx = 7;
		if (dport != REMOTE_PORT)
			return;
	} else if (dport >= PEER_PORT && dport < PEER_PORT + 7) {
		idx = dport - PEER_PORT;
	} else {
		return;
	}
	p = &peers[v6 * 8 + idx];
	if (idx == 7 && (fl & 0x02) && !(fl & 0x10))
		p->lport = sport;                           /* our SYN of an active open */
	end = seq + plen + ((fl & 0x02) ? 1 : 0) + ((fl & 0x01) ? 1 : 0);
	if (!p->seen || seq_after(end, p->stack_nxt))
		p->stack_nxt = end;
	if (fl & 0x10)
		p->stack_ack = get32(th + 8);
	p->seen = 1;
}

/* The transmit hook: check every frame, learn from it, free it (NULL = flush). */
static void xmit(struct net_ctx *c, struct net_if *ifp, struct rte_mbuf *m)
{
	const uint8_t *f;
	unsigned len;

	(void)c;
	(void)ifp;
	if (m == NULL)
		return;
	FUZZ_ASSERT(m->nb_segs == 1);
	f = rte_pktmbuf_mtod(m, const uint8_t *);
	len = rte_pktmbuf_data_len(m);
	FUZZ_ASSERT(len >= ETH_HLEN && len <= ETH_HLEN + IF_MTU);
	if (getenv("FUZZ_TCP_DUMP") && len >= 54 && get16(f + 12) == 0x0800)
		dprintf(2, "tx %u->%u seq %u ack %u fl %02x\n", get16(f + 34), get16(f + 36), get32(f + 38), get32(f + 42), f[47]);
	if (get16(f + 12) == 0x0800) {
		const uint8_t *ip = f + ETH_HLEN;
		unsigned ihl = (unsigned)(ip[0] & 15) * 4, tot = get16(ip + 2);

		FUZZ_ASSERT(len >= ETH_HLEN + 20 && ip[0] >> 4 == 4 && ihl >= 20);
		FUZZ_ASSERT(tot >= ihl && tot <= len - ETH_HLEN);
		FUZZ_ASSERT(fold(sum16(ip, ihl, 0)) == 0xffff);
		if (ip[9] == IPPROTO_TCP)
			learn_tcp(0, ip + 12, ip + 16, ip + ihl, tot - ihl);
	} else if (get16(f + 12) == 0x86dd) {
		const uint8_t *ip = f + ETH_HLEN;
		unsigned pl = get16(ip + 4);

		FUZZ_ASSERT(len >= ETH_HLEN + 40 && ip[0] >> 4 == 6 && pl <= len - ETH_HLEN - 40);
		if (ip[6] == IPPROTO_TCP)
			learn_tcp(1, ip + 8, ip + 24, ip + 40, pl);
		else if (ip[6] == 58)
			FUZZ_ASSERT(l4_csum(NET_AF_INET6, ip + 8, ip + 24, 58, ip + 40, pl) == 0);
	} else {
		FUZZ_ASSERT(get16(f + 12) == 0x0806);
	}
	rte_pktmbuf_free(m);
}

/* ---- the application ---- */

/* Read what is there (when the application reads): in order, each byte one more than the last. */
static void app_read(struct capp *a)
{
	uint8_t buf[2048];
	size_t n, i;

	while (a->c && a->reading && (n = tcp_recv(a->c, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			FUZZ_ASSERT(!a->have_last || buf[i] == (uint8_t)(a->last + 1));
			a->last = buf[i];
			a->have_last = 1;
		}
		a->got += n;
	}
}

/* A free application record, or NULL. */
static struct capp *app_new(struct tcp_conn *c)
{
	unsigned i;

	for (i = 0; i < NAPPS; i++)
		if (!apps[i].used) {
			memset(&apps[i], 0, sizeof(apps[i]));
			apps[i].used = 1;
			apps[i].reading = 1;
			apps[i].c = c;
			return &apps[i];
		}
	return NULL;
}

/* accept(): one record per connection. */
static void on_accept(struct tcp_conn *c, void *arg)
{
	struct capp *a = app_new(c);

	(void)arg;
	FUZZ_ASSERT(a != NULL);         /* more connections than MAX_CONNS + active opens */
	tcp_set_app(c, &ops, a);
}

/* connected(): an active open finished (err != 0: it failed). */
static void on_connected(struct tcp_conn *c, int err)
{
	struct capp *a = tcp_app(c);

	if (err)
		FUZZ_ASSERT(a->c == c);
}

/* readable(): read if the application reads now. */
static void on_readable(struct tcp_conn *c)
{
	app_read(tcp_app(c));
}

/* writable(): nothing to do. */
static void on_writable(struct tcp_conn *c)
{
	(void)c;
}

/* peer_closed(): what was before the FIN was all delivered; close our side too. */
static void on_peer_closed(struct tcp_conn *c)
{
	struct capp *a = tcp_app(c);

	app_read(a);
	tcp_shutdown(c);
}

/* closed(): forget the connection. */
static void on_closed(struct tcp_conn *c, enum tcp_end why)
{
	struct capp *a = tcp_app(c);

	(void)why;
	FUZZ_ASSERT(a->used && a->c == c);
	a->c = NULL;
	a->used = 0;
}

/* timeout(): the application gives up. */
static void on_timeout(struct tcp_conn *c)
{
	struct capp *a = tcp_app(c);

	a->c = NULL;
	a->used = 0;
	tcp_close(c);
}

static const struct tcp_app_ops ops = {
	.accept = on_accept, .connected = on_connected, .readable = on_readable,
	.writable = on_writable, .peer_closed = on_peer_closed, .closed = on_closed,
	.timeout = on_timeout,
};

/* ---- the stack ---- */

/* A fresh stack: one interface, the first peer's MACs known, a listener on OUR_PORT. */
static void setup(void)
{
	struct tcp_params tp = {
		.quickacks = 2, .max_conns = MAX_CONNS, .syn_backlog = 2,
		.reasm_limit = 4096, .reasm_total = 8192, .rcvbuf = 8192, .sndbuf = 8192,
		.timewait_max = TIMEWAIT_MAX, .timewait_ms = 2000,
		.secret = { 0x5e, 0xc7, 0x3e, 0x70, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 },
	};

	ctx = harness_stack(pool, xmit, &tp);
	FUZZ_ASSERT(ctx != NULL);
	FUZZ_ASSERT(tcp_listen(ctx, OUR_PORT, &ops, NULL) == 0);
	memset(apps, 0, sizeof(apps));
	memset(peers, 0, sizeof(peers));
	time_spent_ms = 0;
}

/* Hand one frame (Ethernet header added) to the stack, then check the table. */
static void deliver(uint16_t type, const uint8_t *l3, unsigned len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *f;

	FUZZ_ASSERT(m != NULL);
	f = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(ETH_HLEN + len));
	FUZZ_ASSERT(f != NULL);
	memcpy(f, our_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, type);
	memcpy(f + ETH_HLEN, l3, len);
	net_input(ctx, &ctx->ifs[0], m);
	net_flush(ctx);
	FUZZ_ASSERT(tcp_conn_count(ctx) <= MAX_CONNS + TIMEWAIT_MAX + NAPPS);
}

/* Wrap an L4 packet in IPv4 or IPv6 from the peer (address index ai) and deliver it. */
static void send_ip(int v6, unsigned ai, uint8_t proto, uint8_t *l4, unsigned l4len, unsigned csum_off,
		    int bad_csum)
{
	uint8_t pkt[40 + 60 + IF_MTU];
	const uint8_t *src = v6 ? peer6[ai] : peer4[ai], *dst = v6 ? our_ip6 : our_ip4;

	put16(l4 + csum_off, 0);
	put16(l4 + csum_off, l4_csum(FAMILY(v6), src, dst, proto, l4, l4len) ^ (bad_csum ? 0x0101 : 0));
	if (!v6) {
		memset(pkt, 0, 20);
		pkt[0] = 0x45;
		put16(pkt + 2, (uint16_t)(20 + l4len));
		put16(pkt + 6, 0x4000);
		pkt[8] = 64;
		pkt[9] = proto;
		memcpy(pkt + 12, src, 4);
		memcpy(pkt + 16, dst, 4);
		put16(pkt + 10, (uint16_t)~fold(sum16(pkt, 20, 0)));
		memcpy(pkt + 20, l4, l4len);
		deliver(0x0800, pkt, 20 + l4len);
	} else {
		memset(pkt, 0, 40);
		put32(pkt, 6u << 28);
		put16(pkt + 4, (uint16_t)l4len);
		pkt[6] = proto;
		pkt[7] = 64;
		memcpy(pkt + 8, src, 16);
		memcpy(pkt + 24, dst, 16);
		memcpy(pkt + 40, l4, l4len);
		deliver(0x86dd, pkt, 40 + l4len);
	}
}

/* op 0..2: one TCP segment with fields from the input. */
static void op_segment(struct fuzz_in *in)
{
	uint8_t a = fuzz_u8(in), flags = fuzz_u8(in), b = fuzz_u8(in), seg[60 + IF_MTU];
	int v6 = a & 1, bad = (a >> 4) & 1;
	unsigned idx = (a >> 1) & 7, ai = (a >> 5) & 1 && (a >> 6) & 1, optlen, doff, plen, i;
	struct peer *p = &peers[v6 * 8 + idx];
	uint16_t sport = idx == 7 ? REMOTE_PORT : (uint16_t)(PEER_PORT + idx);
	uint16_t dport = idx == 7 ? p->lport : (a >> 7) ? CLOSED_PORT : OUR_PORT;
	uint32_t seq, ack, d = fuzz_u16(in);
	uint16_t win = fuzz_u16(in);
	size_t got;
	const uint8_t *opt;

	if (p->isn == 0)
		p->isn = 0x10000000u + (uint32_t)(v6 * 8 + idx) * 0x01000000u;
	switch (b & 3) {
	case 0: seq = p->seen ? p->stack_ack : p->isn; break;        /* what the stack waits for */
	case 1: seq = (p->seen ? p->stack_ack : p->isn) + (uint32_t)(int16_t)d; break;
	case 2: seq = p->isn + d; break;
	default: seq = fuzz_u32(in); break;
	}
	if ((flags & 0x02) && !(flags & 0x10) && (b & 3) == 0)
		seq = p->isn;                                               /* a SYN opens at the ISN */
	switch ((b >> 2) & 3) {
	case 0: ack = p->stack_nxt; break;
	case 1: ack = p->stack_nxt + (uint32_t)(int8_t)(d >> 8); break;
	case 2: ack = p->stack_nxt - (uint32_t)(d & 0xff) * 100; break;
	default: ack = fuzz_u32(in); break;
	}
	optlen = (b >> 4) & 3 ? (unsigned)fuzz_u8(in) % 41 : 0;
	opt = fuzz_bytes(in, optlen, &got);
	optlen = (unsigned)got;
	doff = 20 + ((optlen + 3) & ~3u);
	plen = (b >> 6) ? (unsigned)fuzz_u16(in) % ((b >> 6) == 3 ? 1441 : 200) : 0;
	memset(seg, 0, doff);
	put16(seg, sport);
	put16(seg + 2, dport);
	put32(seg + 4, seq);
	put32(seg + 8, ack);
	seg[12] = (uint8_t)((doff / 4) << 4);
	seg[13] = flags;
	put16(seg + 14, win);
	memcpy(seg + 20, opt, optlen);
	/* each payload byte is the low byte of its sequence number */
	for (i = 0; i < plen; i++)
		seg[doff + i] = (uint8_t)(seq + ((flags & 0x02) ? 1 : 0) + i);
	send_ip(v6, ai, IPPROTO_TCP, seg, doff + plen, 16, bad);
}

/* op 3: a raw frame; checksums fixed on request. */
static void op_raw(struct fuzz_in *in)
{
	uint8_t a = fuzz_u8(in), f[IF_MTU];
	size_t n;
	const uint8_t *p = fuzz_bytes(in, fuzz_u8(in) * 4u, &n);
	static const uint16_t etype[4] = { 0x0800, 0x86dd, 0x0806, 0x0800 };
	uint16_t type = etype[a & 3];

	memcpy(f, p, n);
	if ((a & 4) && type == 0x0800 && n >= 20 && (f[0] & 15) >= 5 && (f[0] & 15) * 4u <= n) {
		unsigned ihl = (f[0] & 15) * 4u, tot = n;

		f[0] = (uint8_t)(0x40 | (f[0] & 15));
		put16(f + 2, (uint16_t)tot);
		memcpy(f + 12, peer_ip4, 4);
		memcpy(f + 16, our_ip4, 4);
		if (f[9] == IPPROTO_TCP && tot - ihl >= 20) {
			put16(f + ihl + 16, 0);
			put16(f + ihl + 16, l4_csum(NET_AF_INET, f + 12, f + 16, IPPROTO_TCP, f + ihl, tot - ihl));
		} else if (f[9] == 1 && tot - ihl >= 8) {
			put16(f + ihl + 2, 0);
			put16(f + ihl + 2, (uint16_t)~fold(sum16(f + ihl, tot - ihl, 0)));
		}
		put16(f + 10, 0);
		put16(f + 10, (uint16_t)~fold(sum16(f, ihl, 0)));
	} else if ((a & 4) && type == 0x86dd && n >= 40) {
		f[0] = (uint8_t)(0x60 | (f[0] & 15));
		put16(f + 4, (uint16_t)(n - 40));
		memcpy(f + 8, peer_ip6, 16);
		memcpy(f + 24, (a & 8) ? (const uint8_t[16]){ 0xff, 0x02, [15] = 1 } : our_ip6, 16);
		if ((f[6] == IPPROTO_TCP && n >= 60) || (f[6] == 58 && n >= 44)) {
			unsigned off = f[6] == IPPROTO_TCP ? 16 : 2;

			put16(f + 40 + off, 0);
			put16(f + 40 + off, l4_csum(NET_AF_INET6, f + 8, f + 24, f[6], f + 40, (unsigned)n - 40));
		}
	}
	deliver(type, f, (unsigned)n);
}

/* op 4: time passes. */
static void op_time(struct fuzz_in *in)
{
	uint8_t a = fuzz_u8(in), v = fuzz_u8(in);
	unsigned ms;

	if (a & 1) {
		ctx->now_us += (uint64_t)v * 1000000;      /* a stall: up to 4 minutes, one timer run */
		net_timers(ctx);
		net_flush(ctx);
		return;
	}
	ms = (unsigned)v * 8 + 1;
	if (ms > TIME_BUDGET_MS - time_spent_ms)
		ms = TIME_BUDGET_MS - time_spent_ms;
	time_spent_ms += ms;
	while (ms-- > 0) {
		ctx->now_us += 1000;
		net_timers(ctx);
	}
	net_flush(ctx);
}

/* op 5: the application acts on one of its connections. */
static void op_app(struct fuzz_in *in)
{
	uint8_t a = fuzz_u8(in), v = fuzz_u8(in), data[4096];
	struct capp *x = &apps[a % NAPPS];
	unsigned i;

	if (!x->used || x->c == NULL)
		return;
	switch (v & 7) {
	case 0:
	case 1:
		for (i = 0; i < sizeof(data); i++)
			data[i] = (uint8_t)(i * 7);
		FUZZ_ASSERT(tcp_send(x->c, data, (size_t)(v >> 3) * 128 + 1) <= (size_t)(v >> 3) * 128 + 1);
		break;
	case 2:
		tcp_shutdown(x->c);
		break;
	case 3:
		tcp_close(x->c);                            /* no more callbacks */
		x->c = NULL;
		x->used = 0;
		break;
	case 4:
		tcp_abort(x->c);
		x->c = NULL;
		x->used = 0;
		break;
	case 5:
		tcp_set_timeout(x->c, (unsigned)(v >> 3) * 50);
		break;
	case 6:
		x->reading = !x->reading;
		app_read(x);
		break;
	default:
		if (v & 8)
			tcp_hold_ack(x->c);                 /* the ACK waits for a reply this round */
		else if (v & 16)
			tcp_delay_ack(x->c);                /* ... or for one rounds later (a relay) */
		else
			tcp_want_writable(x->c);
		break;
	}
	net_flush(ctx);
}

/* op 6: an active open to the peer's REMOTE_PORT. */
static void op_connect(struct fuzz_in *in)
{
	int v6 = fuzz_u8(in) & 1;
	struct net_addr ra = addr_of(FAMILY(v6), v6 ? peer_ip6 : peer_ip4);
	struct capp *x = app_new(NULL);
	struct tcp_conn *c;

	if (x == NULL)
		return;
	c = tcp_connect(ctx, 0, v6 ? NET_AF_INET6 : NET_AF_INET, &ra, REMOTE_PORT, &ops, x);
	if (c == NULL) {
		x->used = 0;
		return;
	}
	x->c = c;
	peers[v6 * 8 + 7].seen = 0;
	net_flush(ctx);
}

/* op 7: a burst of SYNs from many ports (past the backlog: SYN cookies). */
static void op_synflood(struct fuzz_in *in)
{
	uint8_t a = fuzz_u8(in), seg[20];
	unsigned i, n = (a & 31) + 1;

	for (i = 0; i < n; i++) {
		memset(seg, 0, sizeof(seg));
		put16(seg, (uint16_t)(50000 + i + (a & 0xe0)));
		put16(seg + 2, OUR_PORT);
		put32(seg + 4, 0x7000000u * i + a);
		seg[12] = 5 << 4;
		seg[13] = 0x02;
		put16(seg + 14, 65535);
		send_ip(a >> 7, 0, IPPROTO_TCP, seg, sizeof(seg), 16, 0);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* EAL without hugepages or PCI, one mbuf pool for all inputs. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	pool = harness_eal("fuzz_tcp", 64, 4095);
	FUZZ_ASSERT(pool != NULL);
	return 0;
}

/* One input: see the file comment. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };

	setup();
	while (in.n > 0) {
		uint8_t op = fuzz_u8(&in);

		switch (op & 7) {
		case 0:
		case 1:
		case 2: op_segment(&in); break;
		case 3: op_raw(&in); break;
		case 4: op_time(&in); break;
		case 5: op_app(&in); break;
		case 6: op_connect(&in); break;
		default: op_synflood(&in); break;
		}
	}
	FUZZ_ASSERT(ctx->st.drops[NET_DROP_tx_too_big] == 0);
	if (getenv("FUZZ_TCP_DUMP")) {  /* show what a seed does */
		unsigned i, k;

		for (i = 0; i < NAPPS; i++)
			if (apps[i].got)
				dprintf(2, "app %u read %llu bytes%s\n", i, (unsigned long long)apps[i].got,
					apps[i].used ? "" : " (closed)");
		dprintf(2, "conns %u passive_opens %llu ooo %llu cookies %llu/%llu rexmit %llu\n",
			tcp_conn_count(ctx), (unsigned long long)ctx->st.tcp_passive_opens,
			(unsigned long long)ctx->st.tcp_ooo_segments,
			(unsigned long long)ctx->st.tcp_syncookies_sent,
			(unsigned long long)ctx->st.tcp_syncookies_ok, (unsigned long long)ctx->st.tcp_retransmits);
		for (k = 0; k < NET_DROP__MAX; k++)
			if (ctx->st.drops[k])
				dprintf(2, "  drop %s %llu\n", net_drop_names[k], (unsigned long long)ctx->st.drops[k]);
	}
	net_ctx_free(ctx);
	ctx = NULL;
	FUZZ_ASSERT(rte_mempool_in_use_count(pool) == 0);     /* every mbuf came back */
	return 0;
}
