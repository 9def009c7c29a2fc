/*
 * tcp.c - TCP per RFC 9293 for one worker lcore.
 *
 * Implemented: passive and active open (simultaneous open too), MSS,
 * window scaling and timestamps with RTT measurement and PAWS (RFC 7323),
 * SACK generation and a SACK scoreboard used in loss recovery (RFC 2018),
 * RTO per RFC 6298 with Karn's rule and exponential backoff, slow start,
 * congestion avoidance, fast retransmit and NewReno recovery (RFC 5681,
 * 6582), delayed ACKs, a bounded out-of-order queue, zero-window probes,
 * FIN/RST in every state, a bounded TIME_WAIT set, SYN cookies when the
 * SYN backlog is full (RFC 4987), RFC 5961 challenge ACKs, ISNs per RFC
 * 6528, and one timer wheel per lcore.
 *
 * Deviations, on purpose: the minimum RTO is 200 ms (as Linux), not 1 s;
 * Nagle is off (SMTP pipelining wants replies out at once).
 *
 * Receive is zero-copy: payload stays in the mbufs it arrived in, queued
 * in order, until the application consumes it; small segments are
 * coalesced into the tail mbuf so tiny packets cannot pin many mbufs.
 * Send data is copied once into a per-connection ring, allocated while
 * there is data in flight and freed when everything is acknowledged.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <rte_jhash.h>
#include <rte_malloc.h>
#include <rte_cycles.h>
#include <netinet/in.h>

#include "tcp.h"

enum tcp_state {
	TS_CLOSED = 0, TS_LISTEN, TS_SYN_SENT, TS_SYN_RCVD, TS_ESTABLISHED,
	TS_FIN_WAIT_1, TS_FIN_WAIT_2, TS_CLOSING, TS_TIME_WAIT, TS_CLOSE_WAIT, TS_LAST_ACK,
};

static const char *const state_names[] = {
	"CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
	"FIN_WAIT_2", "CLOSING", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK",
};

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20

/* connection flags */
#define F_TS          0x0001  /* timestamps negotiated */
#define F_SACK        0x0002  /* SACK permitted both ways */
#define F_WS          0x0004  /* window scaling negotiated */
#define F_FIN_QUEUED  0x0008  /* the application shut down its side */
#define F_FIN_RCVD    0x0010  /* peer's FIN received in order */
#define F_DETACHED    0x0020  /* application closed: no more callbacks */
#define F_ACK_NOW     0x0040  /* send an ACK at the end of this round */
#define F_PASSIVE     0x0080  /* created by a listener */
#define F_PEER_NOTIFIED 0x0100 /* peer_closed() delivered */
#define F_WANT_WRITE  0x0200  /* tcp_send() fell short: call writable() */
#define F_RECOVERY    0x0400  /* in fast recovery */
#define F_DEAD        0x0800  /* freed at the next reap */
#define F_NEW_DATA    0x1000  /* readable() owed */
#define F_RTT_TIMING  0x2000  /* rtt_seq is being timed (no timestamps) */
#define F_OOO_FIN     0x4000  /* a FIN arrived beyond rcv_nxt */
#define F_CONNECTED_CB 0x8000 /* connected() owed */
#define F_EVENT_PENDING 0x10000 /* on the pending-events list */

#define TCP_MSS_DEFAULT_V4 536
#define TCP_MSS_DEFAULT_V6 1220
#define TCP_RTO_INIT_US    1000000u
#define TCP_RTO_MIN_US     200000u
#define TCP_RTO_MAX_US     60000000u
#define TCP_DELACK_US      40000u
#define TCP_SYN_RETRIES    5
#define TCP_RETRIES        12
#define TCP_FIN_WAIT2_US   60000000ull
#define TCP_PERSIST_MIN_US 200000u
#define TCP_SACK_MAX       4
#define TCP_CHALLENGE_PER_S 1000
#define TCP_OOW_ACK_US     500000u
#define WHEEL_SLOTS        4096     /* 1 ms ticks: ~4 s before a timer takes a lap */

struct sack_blk {
	uint32_t l, r;
};

struct tcp_conn {
	struct tcp_conn *hnext;          /* hash chain */
	struct tcp_conn *wnext, *wprev;  /* timer wheel slot list */
	struct tcp_conn *lnext, *lprev;  /* TIME_WAIT list or free list */
	struct tcp_conn *enext;          /* pending-events list */
	uint64_t wheel_at;               /* deadline it is filed under, 0 = none */
	struct net_ctx *ctx;
	struct net_tuple t;
	uint32_t hash;
	uint8_t state;
	uint8_t snd_ws, rcv_ws;
	uint8_t dupacks, retries, nsacked;
	uint8_t in_due;                  /* on tcp_timers()' local due list */
	uint32_t flags;
	uint16_t mss;                    /* payload bytes per segment we send (without options) */
	uint16_t peer_mss;
	uint16_t pmtu;
	const struct tcp_app_ops *ops;
	void *app;
	/* send side */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, max_snd_wnd, snd_wl1, snd_wl2;
	uint32_t cwnd, ssthresh, recover, rtx_next;
	uint32_t rtt_seq;
	uint64_t rtt_start;
	uint32_t srtt, rttvar, rto;      /* microseconds */
	uint8_t *sbuf;                   /* send ring */
	uint32_t sbuf_cap, sbuf_start, sbuf_len;
	uint32_t sbuf_seq;               /* sequence number of the ring's first byte */
	struct sack_blk sacked[TCP_SACK_MAX];
	/* receive side */
	uint32_t irs, rcv_nxt, rcv_adv;
	uint32_t last_ack_sent;          /* RFC 7323 Last.ACK.sent */
	uint32_t rcv_queued;             /* bytes waiting for the application */
	uint32_t ooo_bytes, ooo_fin_seq, sack_recent;
	struct rte_mbuf *rxq, *rxq_tail; /* in order; linked through m->next */
	struct rte_mbuf *ooo;            /* out of order, sorted; seq in m->hash.usr */
	uint16_t delack_segs;
	uint16_t quickacks;              /* segments still to ACK at once (start, after a delayed ACK) */
	/* timestamps */
	uint32_t ts_recent, ts_offset;
	uint64_t ts_recent_us;
	/* timers: absolute microseconds, 0 = off */
	uint64_t t_rtx, t_delack, t_persist, t_user, t_state;
	uint32_t persist_backoff;
	uint64_t oow_ack_us;             /* last ACK sent for an out-of-window empty segment */
};

struct listener {
	uint16_t port;
	const struct tcp_app_ops *ops;
	void *arg;
};

struct tcp_ctx {
	struct tcp_params p;
	struct tcp_conn *conns;          /* max_conns, preallocated */
	struct tcp_conn *free;
	struct tcp_conn **htab;
	uint32_t hmask;
	unsigned nconns, half_open, ntw;
	struct tcp_conn *tw_head, *tw_tail; /* TIME_WAIT, oldest first */
	struct tcp_conn *dead;           /* freed at the next reap (linked by lnext) */
	struct tcp_conn *wheel[WHEEL_SLOTS];
	uint64_t wheel_tick;             /* last tick processed */
	struct listener ls[16];
	unsigned nls;
	uint64_t start_us;
	uint32_t ooo_total;
	uint16_t next_port;
	struct tcp_conn *events;         /* connections owed callbacks outside input */
	uint64_t chal_window;            /* second the challenge-ACK budget belongs to */
	unsigned chal_count;
};

/* parsed options of a segment */
struct tcp_opts {
	uint16_t mss;
	uint8_t ws, has_ws, sack_ok, has_ts, nsack;
	uint32_t tsval, tsecr;
	struct sack_blk sack[4];
};

/* a parsed segment */
struct seg {
	uint32_t seq, ack, len;          /* len: payload bytes */
	uint16_t wnd;
	uint8_t flags;
	struct tcp_opts o;
};

static void tcp_conn_free(struct tcp_conn *c);
static void tcp_output(struct tcp_conn *c);
static void tcp_input(struct net_ctx *ctx, struct net_tuple *t, struct rte_mbuf *m, unsigned len);
static void tcp_pmtu_update(struct net_ctx *ctx, const struct net_tuple *t, uint16_t mtu, uint32_t seq);
static void tcp_timers(struct net_ctx *ctx);
static void tcp_ctx_free(struct net_ctx *ctx);
static void tcp_timer_arm(struct tcp_conn *c);
static void tcp_send_ack(struct tcp_conn *c);

#define SEQ_LT(a, b)  ((int32_t)((a) - (b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((a) - (b)) <= 0)
#define SEQ_GT(a, b)  ((int32_t)((a) - (b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((a) - (b)) >= 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline struct tcp_ctx *T(struct net_ctx *ctx)
{
	return ctx->tcp;
}

/* ---- SipHash-2-4, for ISNs and SYN cookies (RFC 6528, RFC 4987) ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

/* SipHash-2-4 of a buffer under a 128-bit key. */
static uint64_t siphash(const uint8_t key[16], const void *data, size_t len)
{
	uint64_t k0, k1, v0, v1, v2, v3, m, b = (uint64_t)len << 56;
	const uint8_t *p = data;
	size_t i;

	memcpy(&k0, key, 8);
	memcpy(&k1, key + 8, 8);
	v0 = k0 ^ 0x736f6d6570736575ull;
	v1 = k1 ^ 0x646f72616e646f6dull;
	v2 = k0 ^ 0x6c7967656e657261ull;
	v3 = k1 ^ 0x7465646279746573ull;
	for (; len >= 8; len -= 8, p += 8) {
		memcpy(&m, p, 8);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < len; i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Keyed hash of a connection's identity plus an extra word. */
static uint64_t tcp_tuple_mac(const struct tcp_ctx *tc, const struct net_tuple *t, uint32_t extra)
{
	struct {
		uint8_t l[16], r[16];
		uint16_t lp, rp;
		uint32_t x;
	} k;

	memcpy(k.l, t->laddr.a, 16);
	memcpy(k.r, t->raddr.a, 16);
	k.lp = t->lport;
	k.rp = t->rport;
	k.x = extra;
	return siphash(tc->p.secret, &k, sizeof(k));
}

/* RFC 6528: ISN = M + F(4-tuple, secret), M a 4 microsecond clock. */
static uint32_t tcp_isn(struct net_ctx *ctx, const struct net_tuple *t)
{
	return (uint32_t)(ctx->now_us / 4) + (uint32_t)tcp_tuple_mac(T(ctx), t, 0);
}

/* Our timestamp clock: milliseconds. */
static inline uint32_t ts_now(const struct net_ctx *ctx)
{
	return (uint32_t)(ctx->now_us / 1000);
}

/* ---- connection table ---- */

/*
 * Hash of a tuple for the connection table. rte_jhash() reads 32-bit words,
 * and the addresses sit at offsets 6 and 22 of struct net_tuple: copy them
 * to aligned words first (an unaligned uint32_t load is undefined behaviour;
 * found by tests/fuzz/fuzz_tcp.c under UBSan). Same bytes, same hash.
 */
static uint32_t tcp_tuple_hash(const struct tcp_ctx *tc, const struct net_tuple *t)
{
	uint32_t seed, h, ra[4], la[4];

	memcpy(&seed, tc->p.secret, 4);
	memcpy(ra, t->raddr.a, sizeof(ra));
	memcpy(la, t->laddr.a, sizeof(la));
	h = rte_jhash(ra, sizeof(ra), seed ^ ((uint32_t)t->lport << 16 | t->rport));
	return rte_jhash(la, sizeof(la), h);
}

/* Same connection identity? */
static inline int tuple_eq(const struct net_tuple *a, const struct net_tuple *b)
{
	return a->lport == b->lport && a->rport == b->rport && a->family == b->family &&
	       memcmp(a->raddr.a, b->raddr.a, 16) == 0 && memcmp(a->laddr.a, b->laddr.a, 16) == 0;
}

/* Find the connection of a tuple. */
static struct tcp_conn *tcp_conn_lookup(struct tcp_ctx *tc, const struct net_tuple *t, uint32_t h)
{
	struct tcp_conn *c;

	for (c = tc->htab[h & tc->hmask]; c != NULL; c = c->hnext)
		if (c->hash == h && tuple_eq(&c->t, t))
			return c;
	return NULL;
}

/* Remove a connection from the hash table. */
static void conn_unhash(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);
	struct tcp_conn **pp = &tc->htab[c->hash & tc->hmask];

	for (; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	c->hnext = NULL;
}

/* Take a connection from the free list and file it under t. */
static struct tcp_conn *tcp_conn_alloc(struct net_ctx *ctx, const struct net_tuple *t, uint32_t h)
{
	struct tcp_ctx *tc = T(ctx);
	struct tcp_conn *c = tc->free;
	unsigned mtu;

	if (c == NULL) {
		NET_DROP(ctx, tcp_conn_limit);
		return NULL;
	}
	tc->free = c->lnext;
	memset(c, 0, sizeof(*c));
	c->ctx = ctx;
	c->t = *t;
	c->hash = h;
	c->hnext = tc->htab[h & tc->hmask];
	tc->htab[h & tc->hmask] = c;
	tc->nconns++;
	ctx->st.tcp_conns = tc->nconns;
	mtu = ctx->ifs[t->ifidx].mtu;
	c->pmtu = (uint16_t)mtu;
	c->peer_mss = t->family == NET_AF_INET ? TCP_MSS_DEFAULT_V4 : TCP_MSS_DEFAULT_V6;
	c->mss = c->peer_mss;
	c->rto = TCP_RTO_INIT_US;
	c->ssthresh = UINT32_MAX / 2;
	c->ts_offset = (uint32_t)tcp_tuple_mac(tc, t, 1);
	c->quickacks = (uint16_t)tc->p.quickacks;
	return c;
}

/* MSS we advertise: what fits our interface MTU. */
static uint16_t our_mss(const struct tcp_conn *c)
{
	unsigned hdr = c->t.family == NET_AF_INET ? 40 : 60;

	return (uint16_t)(c->ctx->ifs[c->t.ifidx].mtu - hdr);
}

/* Recompute the send MSS from peer MSS, path MTU and options. */
static void mss_update(struct tcp_conn *c)
{
	unsigned hdr = c->t.family == NET_AF_INET ? 40 : 60;
	unsigned m = MIN((unsigned)c->peer_mss, (unsigned)c->pmtu - hdr);

	if (c->flags & F_TS)
		m -= 12;
	if (m < 64)
		m = 64;
	c->mss = (uint16_t)m;
}

/* Window scale we offer for our receive buffer. */
static uint8_t tcp_rcv_wscale(const struct tcp_ctx *tc)
{
	uint8_t s = 0;

	while (s < 14 && (65535u << s) < tc->p.rcvbuf)
		s++;
	return s;
}

/* ---- timers ---- */

/* Earliest of a connection's deadlines, 0 if none. */
static uint64_t conn_deadline(const struct tcp_conn *c)
{
	uint64_t d = 0, v[5] = { c->t_rtx, c->t_delack, c->t_persist, c->t_user, c->t_state };
	unsigned i;

	for (i = 0; i < 5; i++)
		if (v[i] && (d == 0 || v[i] < d))
			d = v[i];
	return d;
}

/* Unlink a connection from its wheel slot. */
static void tcp_wheel_remove(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);

	if (c->wheel_at == 0)
		return;
	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else
		tc->wheel[(c->wheel_at / 1000) % WHEEL_SLOTS] = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	c->wnext = c->wprev = NULL;
	c->wheel_at = 0;
}

/* File a connection in the wheel under its earliest deadline. */
static void tcp_timer_arm(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);
	uint64_t d = conn_deadline(c);
	unsigned slot;

	if (c->in_due)
		return;                  /* tcp_timers() re-arms it after firing */
	if (d == c->wheel_at)
		return;
	tcp_wheel_remove(c);
	if (d == 0 || (c->flags & F_DEAD))
		return;
	/* never file into a tick already processed */
	if (d / 1000 <= tc->wheel_tick)
		d = (tc->wheel_tick + 1) * 1000;
	slot = (d / 1000) % WHEEL_SLOTS;
	c->wheel_at = d;
	c->wprev = NULL;
	c->wnext = tc->wheel[slot];
	if (c->wnext)
		c->wnext->wprev = c;
	tc->wheel[slot] = c;
}

/* ---- buffers ---- */

/* Free every mbuf of a list linked through next. */
static void mbuf_list_free(struct rte_mbuf *m)
{
	while (m != NULL) {
		struct rte_mbuf *n = m->next;

		m->next = NULL;
		m->nb_segs = 1;
		rte_pktmbuf_free(m);
		m = n;
	}
}

/* Release every buffer a connection holds. */
static void tcp_conn_buffers_free(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);

	mbuf_list_free(c->rxq);
	c->rxq = c->rxq_tail = NULL;
	mbuf_list_free(c->ooo);
	c->ooo = NULL;
	tc->ooo_total -= c->ooo_bytes;
	c->ooo_bytes = 0;
	c->rcv_queued = 0;
	free(c->sbuf);
	c->sbuf = NULL;
	c->sbuf_cap = c->sbuf_len = 0;
}

/* Receive window we can offer now (bytes). */
static uint32_t rcv_space(const struct tcp_conn *c)
{
	uint32_t used = c->rcv_queued + c->ooo_bytes, buf = T(c->ctx)->p.rcvbuf;

	return used >= buf ? 0 : buf - used;
}

/* Window to advertise: never shrinks the right edge, avoids silly windows. */
static uint32_t tcp_rcv_window(struct tcp_conn *c)
{
	uint32_t space = rcv_space(c);
	uint32_t cur = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	uint32_t min_step = MIN(T(c->ctx)->p.rcvbuf / 2, (uint32_t)our_mss(c));

	if (space < min_step)
		space = 0;
	/* round down to what the scaled field can carry */
	space &= ~((1u << c->rcv_ws) - 1);
	if (space > (65535u << c->rcv_ws))
		space = 65535u << c->rcv_ws;
	return MAX(space, cur);
}

/* ---- segment output ---- */

/* Write options; returns their length (multiple of 4). */
static unsigned write_opts(uint8_t *p, struct tcp_conn *c, uint8_t flags, uint32_t tsval,
			   uint32_t tsecr, int ts, int sack_perm, int ws, uint16_t mss, uint8_t wscale)
{
	unsigned n = 0, i;

	if (flags & TH_SYN) {
		p[n++] = 2;
		p[n++] = 4;
		p[n++] = (uint8_t)(mss >> 8);
		p[n++] = (uint8_t)mss;
		if (ws) {
			p[n++] = 1;
			p[n++] = 3;
			p[n++] = 3;
			p[n++] = wscale;
		}
		if (sack_perm && ts) {
			p[n++] = 4;
			p[n++] = 2;
		} else if (sack_perm) {
			p[n++] = 1;
			p[n++] = 1;
			p[n++] = 4;
			p[n++] = 2;
		}
	}
	if (ts) {
		if (!((flags & TH_SYN) && sack_perm)) {
			p[n++] = 1;
			p[n++] = 1;
		}
		p[n++] = 8;
		p[n++] = 10;
		tsval = rte_cpu_to_be_32(tsval);
		tsecr = rte_cpu_to_be_32(tsecr);
		memcpy(p + n, &tsval, 4);
		memcpy(p + n + 4, &tsecr, 4);
		n += 8;
	}
	/*
	 * SACK blocks describing our out-of-order queue (RFC 2018 4): first the
	 * block holding the segment that triggered this ACK, wherever it is in
	 * the queue, then the others in sequence order.
	 */
	if (c != NULL && (c->flags & F_SACK) && c->ooo != NULL && !(flags & TH_SYN)) {
		struct sack_blk newest = { 0, 0 }, b[4], cur;
		unsigned nb = 0, max = ts ? 3 : 4, have = 0;
		struct rte_mbuf *m = c->ooo;

		cur.l = m->hash.usr;
		cur.r = cur.l + m->data_len;
		for (m = m->next;; m = m->next) {
			if (m != NULL && SEQ_LEQ(m->hash.usr, cur.r)) {
				if (SEQ_GT(m->hash.usr + m->data_len, cur.r))
					cur.r = m->hash.usr + m->data_len;
				continue;
			}
			/* cur is a complete block */
			if (!have && SEQ_GEQ(c->sack_recent, cur.l) && SEQ_LT(c->sack_recent, cur.r)) {
				newest = cur;
				have = 1;
			} else if (nb < 4) {
				b[nb++] = cur;
			}
			if (m == NULL)
				break;
			cur.l = m->hash.usr;
			cur.r = cur.l + m->data_len;
		}
		if (nb + have > max)
			nb = max - have;
		p[n++] = 1;
		p[n++] = 1;
		p[n++] = 5;
		p[n++] = (uint8_t)(2 + 8 * (nb + have));
		for (i = 0; i < nb + have; i++) {
			const struct sack_blk *k = have ? (i == 0 ? &newest : &b[i - 1]) : &b[i];
			uint32_t l = rte_cpu_to_be_32(k->l), r = rte_cpu_to_be_32(k->r);

			memcpy(p + n, &l, 4);
			memcpy(p + n + 4, &r, 4);
			n += 8;
		}
	}
	return n;
}

/*
 * Build and send one segment. With c NULL it is stateless (RST, SYN
 * cookie): t, seq, ack and the option arguments say everything.
 */
static void tcp_emit(struct net_ctx *ctx, struct tcp_conn *c, const struct net_tuple *t,
		 uint32_t seq, uint32_t ack, uint8_t flags, uint32_t wnd,
		 uint32_t data_off, uint32_t len, const struct tcp_opts *synopt)
{
	struct rte_mbuf *m = net_alloc(ctx);
	uint8_t *th, opt[40];
	unsigned olen = 0, hl;
	uint16_t w16;

	if (m == NULL)
		return;
	if (c != NULL) {
		uint32_t tsval = ts_now(ctx) + c->ts_offset;

		olen = write_opts(opt, c, flags, tsval, c->ts_recent, !!(c->flags & F_TS),
				  !!(c->flags & F_SACK), !!(c->flags & F_WS), our_mss(c), c->rcv_ws);
	} else if (synopt != NULL) {
		olen = write_opts(opt, NULL, flags, synopt->tsval, synopt->tsecr, synopt->has_ts,
				  synopt->sack_ok, synopt->has_ws, synopt->mss, synopt->ws);
	}
	hl = 20 + olen;
	th = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(hl + len));
	if (th == NULL) {
		rte_pktmbuf_free(m);
		NET_DROP(ctx, nombuf);
		return;
	}
	th[0] = (uint8_t)(t->lport >> 8);
	th[1] = (uint8_t)t->lport;
	th[2] = (uint8_t)(t->rport >> 8);
	th[3] = (uint8_t)t->rport;
	seq = rte_cpu_to_be_32(seq);
	ack = rte_cpu_to_be_32(ack);
	memcpy(th + 4, &seq, 4);
	memcpy(th + 8, &ack, 4);
	th[12] = (uint8_t)((hl / 4) << 4);
	th[13] = flags;
	w16 = rte_cpu_to_be_16((uint16_t)MIN(wnd, 65535u));
	memcpy(th + 14, &w16, 2);
	th[16] = th[17] = th[18] = th[19] = 0;
	memcpy(th + 20, opt, olen);
	if (len > 0) {
		/* copy out of the send ring, which may wrap */
		uint32_t pos = (c->sbuf_start + data_off) % c->sbuf_cap;
		uint32_t first = MIN(len, c->sbuf_cap - pos);

		memcpy(th + hl, c->sbuf + pos, first);
		if (first < len)
			memcpy(th + hl + first, c->sbuf, len - first);
	}
	net_ip_output(ctx, t, IPPROTO_TCP, m, 16);
}

/* Send a segment of a connection: seq, payload from the ring, flags. */
static void tcp_conn_emit(struct tcp_conn *c, uint32_t seq, uint32_t len, uint8_t flags)
{
	uint32_t wnd = 0;

	if ((flags & (TH_SYN | TH_ACK)) == TH_SYN) {
		/* our SYN: offer the buffer, unscaled (rcv_nxt is not known yet) */
		wnd = MIN(T(c->ctx)->p.rcvbuf, 65535u);
	} else if (flags & TH_ACK) {
		wnd = tcp_rcv_window(c);
		if (flags & TH_SYN)
			wnd = MIN(wnd, 65535u);   /* never scaled in a SYN */
		if (SEQ_GT(c->rcv_nxt + wnd, c->rcv_adv))
			c->rcv_adv = c->rcv_nxt + wnd;
		if (!(flags & TH_SYN))
			wnd >>= c->rcv_ws;
		c->last_ack_sent = c->rcv_nxt;
		c->t_delack = 0;
		c->delack_segs = 0;
		c->flags &= ~F_ACK_NOW;
	}
	tcp_emit(c->ctx, c, &c->t, seq, (flags & TH_ACK) ? c->rcv_nxt : 0, flags, wnd,
	     len ? seq - c->sbuf_seq : 0, len, NULL);
}

/* An ACK now, with our current window and SACK blocks. */
static void tcp_send_ack(struct tcp_conn *c)
{
	tcp_conn_emit(c, c->snd_nxt, 0, TH_ACK);
}

/* Reply RST to a segment that belongs to nothing (RFC 9293 3.10.7.1). */
static void tcp_send_rst(struct net_ctx *ctx, const struct net_tuple *t, const struct seg *s)
{
	if (s->flags & TH_RST)
		return;
	if (s->flags & TH_ACK)
		tcp_emit(ctx, NULL, t, s->ack, 0, TH_RST, 0, 0, 0, NULL);
	else
		tcp_emit(ctx, NULL, t, 0, s->seq + s->len + !!(s->flags & TH_SYN) + !!(s->flags & TH_FIN),
		     TH_RST | TH_ACK, 0, 0, 0, NULL);
	ctx->st.tcp_resets_out++;
}

/* RFC 5961 challenge ACK, rate-limited per lcore. */
static void tcp_challenge_ack(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);
	uint64_t sec = c->ctx->now_us / 1000000;

	if (sec != tc->chal_window) {
		tc->chal_window = sec;
		tc->chal_count = 0;
	}
	if (++tc->chal_count > TCP_CHALLENGE_PER_S) {
		NET_DROP(c->ctx, tcp_challenge_limit);
		return;
	}
	c->ctx->st.tcp_challenge_acks++;
	tcp_send_ack(c);
}

/* Choose our initial sequence number and everything that starts from it. */
static void tcp_set_iss(struct tcp_conn *c, uint32_t iss)
{
	c->iss = iss;
	c->snd_una = c->snd_nxt = c->snd_max = iss;
	c->snd_wl2 = iss;
	c->recover = iss;
	c->sbuf_seq = iss + 1;
}

/* Send our SYN or SYN-ACK. */
static void tcp_send_syn(struct tcp_conn *c)
{
	uint8_t flags = c->state == TS_SYN_SENT ? TH_SYN : TH_SYN | TH_ACK;

	tcp_conn_emit(c, c->iss, 0, flags);
	c->snd_nxt = c->iss + 1;
	c->snd_max = c->iss + 1;
}

/* Start the retransmission timer if it is not running. */
static void rtx_start(struct tcp_conn *c)
{
	if (c->t_rtx == 0)
		c->t_rtx = c->ctx->now_us + c->rto;
}

/* Sequence number of our FIN (valid when F_FIN_QUEUED). */
static inline uint32_t fin_seq(const struct tcp_conn *c)
{
	return c->sbuf_seq + c->sbuf_len;
}

/* Has our FIN been sent? */
static inline int fin_sent(const struct tcp_conn *c)
{
	return (c->flags & F_FIN_QUEUED) && SEQ_GT(c->snd_max, fin_seq(c));
}

/* Bytes the SACK option will take in our next segment (c->mss leaves room for timestamps only). */
static uint32_t sack_opt_len(const struct tcp_conn *c)
{
	const struct rte_mbuf *m;
	uint32_t nb = 0, max = (c->flags & F_TS) ? 3 : 4, r = 0;

	if (!(c->flags & F_SACK) || c->ooo == NULL)
		return 0;
	for (m = c->ooo; m != NULL && nb < max; m = m->next) {
		if (nb == 0 || SEQ_GT(m->hash.usr, r))
			nb++;
		if (nb == 1 || SEQ_GT(m->hash.usr + m->data_len, r))
			r = m->hash.usr + m->data_len;
	}
	return 4 + 8 * nb;
}

/* Send one segment starting at seq (data and/or FIN); returns bytes of sequence space. */
static uint32_t tcp_send_at(struct tcp_conn *c, uint32_t seq, uint32_t max_len)
{
	uint32_t off = seq - c->sbuf_seq, len = 0;
	uint32_t room = (uint32_t)c->mss - sack_opt_len(c);
	uint8_t flags = TH_ACK;

	if (off < c->sbuf_len)
		len = MIN(MIN(c->sbuf_len - off, room), max_len);
	if ((c->flags & F_FIN_QUEUED) && off + len == c->sbuf_len)
		flags |= TH_FIN;
	if (len == 0 && !(flags & TH_FIN))
		return 0;
	if (len > 0 && off + len == c->sbuf_len)
		flags |= TH_PSH;
	if (SEQ_LT(seq, c->snd_max))
		c->ctx->st.tcp_retransmits++;
	tcp_conn_emit(c, seq, len, flags);
	return len + !!(flags & TH_FIN);
}

/* Send new data (and FIN) as far as the windows allow. */
static void tcp_output(struct tcp_conn *c)
{
	if (c->flags & F_DEAD)
		return;
	if (c->state == TS_SYN_SENT || c->state == TS_SYN_RCVD || c->state == TS_CLOSED ||
	    c->state == TS_LISTEN || c->state == TS_TIME_WAIT) {
		if ((c->flags & F_ACK_NOW) && c->state == TS_TIME_WAIT)
			tcp_send_ack(c);
		return;
	}
	for (;;) {
		uint32_t off = c->snd_nxt - c->sbuf_seq;
		uint32_t avail = off <= c->sbuf_len ? c->sbuf_len - off : 0;
		uint32_t wnd = MIN(c->snd_wnd, c->cwnd);
		uint32_t inflight = c->snd_nxt - c->snd_una;
		uint32_t usable = wnd > inflight ? wnd - inflight : 0;
		int fin = (c->flags & F_FIN_QUEUED) && SEQ_LEQ(c->snd_nxt, fin_seq(c));
		uint32_t len = MIN(avail, (uint32_t)c->mss), n;

		if (len > usable) {
			/* sender SWS avoidance: a partial segment only if it is all we have
			 * and nothing is in flight, or at least half the peer's max window */
			if (usable >= c->max_snd_wnd / 2 && usable > 0)
				len = usable;
			else
				len = 0;
		}
		if (len == 0 && !(fin && avail == 0))
			break;
		n = tcp_send_at(c, c->snd_nxt, len);
		if (n == 0)
			break;
		if (!(c->flags & (F_TS | F_RTT_TIMING)) && !SEQ_LT(c->snd_nxt, c->snd_max)) {
			c->flags |= F_RTT_TIMING;
			c->rtt_seq = c->snd_nxt;
			c->rtt_start = c->ctx->now_us;
		}
		c->snd_nxt += n;
		if (SEQ_GT(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		rtx_start(c);
		c->t_persist = 0;
	}
	/* window too small for what waits and nothing in flight: persist */
	if (c->snd_una == c->snd_max &&
	    (c->sbuf_len > c->snd_nxt - c->sbuf_seq || ((c->flags & F_FIN_QUEUED) && !fin_sent(c)))) {
		c->t_rtx = 0;
		if (c->t_persist == 0) {
			uint32_t iv = MAX(c->rto, TCP_PERSIST_MIN_US) << MIN(c->persist_backoff, 8u);

			c->t_persist = c->ctx->now_us + MIN(iv, TCP_RTO_MAX_US);
		}
	}
	if (c->flags & F_ACK_NOW)
		tcp_send_ack(c);
	tcp_timer_arm(c);
}

/* ---- application events ---- */

/* Deliver the callbacks a round of input or timers made due. */
static void tcp_app_events(struct tcp_conn *c)
{
	if (c->flags & (F_DETACHED | F_DEAD) || c->ops == NULL)
		return;
	if (c->flags & F_CONNECTED_CB) {
		c->flags &= ~F_CONNECTED_CB;
		if (c->ops->connected)
			c->ops->connected(c, 0);
		if (c->flags & (F_DETACHED | F_DEAD))
			return;
	}
	if ((c->flags & F_NEW_DATA) && c->rcv_queued > 0) {
		c->flags &= ~F_NEW_DATA;
		if (c->ops->readable)
			c->ops->readable(c);
		if (c->flags & (F_DETACHED | F_DEAD))
			return;
	}
	if ((c->flags & F_WANT_WRITE) && tcp_send_space(c) > 0) {
		c->flags &= ~F_WANT_WRITE;
		if (c->ops->writable)
			c->ops->writable(c);
		if (c->flags & (F_DETACHED | F_DEAD))
			return;
	}
	if ((c->flags & F_FIN_RCVD) && c->rcv_queued == 0 && !(c->flags & F_PEER_NOTIFIED)) {
		c->flags |= F_PEER_NOTIFIED;
		if (c->ops->peer_closed)
			c->ops->peer_closed(c);
	}
}

/* The connection is over: tell the application and free it. */
static void tcp_conn_end(struct tcp_conn *c, enum tcp_end why)
{
	const struct tcp_app_ops *ops = c->ops;

	if (c->flags & F_DEAD)
		return;
	if (!(c->flags & F_DETACHED) && ops != NULL) {
		c->flags |= F_DETACHED;
		if (why == TCP_END_REFUSED || (c->state == TS_SYN_SENT && why != TCP_END_CLOSED)) {
			if (ops->connected)
				ops->connected(c, why == TCP_END_REFUSED ? -ECONNREFUSED : -ETIMEDOUT);
			c->ctx->st.tcp_active_fails++;
		}
		if (ops->closed)
			ops->closed(c, why);
	}
	tcp_conn_free(c);
}

/* Move to TIME_WAIT: keep the tuple for timewait_ms, bounded in number. */
static void tcp_time_wait(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);

	c->state = TS_TIME_WAIT;
	c->t_rtx = c->t_persist = c->t_delack = c->t_user = 0;
	tcp_conn_buffers_free(c);
	if (tc->p.timewait_max == 0 || tc->p.timewait_ms == 0) {
		tcp_conn_end(c, TCP_END_CLOSED);
		return;
	}
	if (!(c->flags & F_DETACHED) && c->ops && c->ops->closed) {
		c->flags |= F_DETACHED;
		c->ops->closed(c, TCP_END_CLOSED);
	}
	c->flags |= F_DETACHED;
	while (tc->ntw >= tc->p.timewait_max && tc->tw_head != NULL) {
		c->ctx->st.tcp_timewait_recycled++;
		tcp_conn_free(tc->tw_head);
	}
	c->t_state = c->ctx->now_us + (uint64_t)tc->p.timewait_ms * 1000;
	c->lnext = NULL;
	c->lprev = tc->tw_tail;
	if (tc->tw_tail)
		tc->tw_tail->lnext = c;
	else
		tc->tw_head = c;
	tc->tw_tail = c;
	tc->ntw++;
	tcp_timer_arm(c);
}

/* Return a connection to the free list (deferred to the next reap). */
static void tcp_conn_free(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);

	if (c->flags & F_DEAD)
		return;
	if (c->state == TS_SYN_RCVD && (c->flags & F_PASSIVE))
		tc->half_open--;
	if (c->state == TS_TIME_WAIT) {
		if (c->lprev)
			c->lprev->lnext = c->lnext;
		else
			tc->tw_head = c->lnext;
		if (c->lnext)
			c->lnext->lprev = c->lprev;
		else
			tc->tw_tail = c->lprev;
		tc->ntw--;
	}
	if (c->flags & F_EVENT_PENDING) {
		struct tcp_conn **pp;

		for (pp = &tc->events; *pp != NULL; pp = &(*pp)->enext)
			if (*pp == c) {
				*pp = c->enext;
				break;
			}
		c->flags &= ~F_EVENT_PENDING;
	}
	c->flags |= F_DEAD | F_DETACHED;
	c->state = TS_CLOSED;
	tcp_wheel_remove(c);
	conn_unhash(c);
	tcp_conn_buffers_free(c);
	tc->nconns--;
	c->ctx->st.tcp_conns = tc->nconns;
	c->ctx->st.tcp_closed++;
	c->lnext = tc->dead;
	tc->dead = c;
}

/* Put connections freed during this round back on the free list. */
static void tcp_reap(struct tcp_ctx *tc)
{
	while (tc->dead != NULL) {
		struct tcp_conn *c = tc->dead;

		tc->dead = c->lnext;
		c->lnext = tc->free;
		tc->free = c;
	}
}

/* ---- RTT and congestion control ---- */

/* Fold an RTT sample into SRTT/RTTVAR and recompute the RTO (RFC 6298). */
static void tcp_rtt_sample(struct tcp_conn *c, uint32_t r)
{
	if (r == 0)
		r = 1;
	if (c->srtt == 0) {
		c->srtt = r;
		c->rttvar = r / 2;
	} else {
		uint32_t d = c->srtt > r ? c->srtt - r : r - c->srtt;

		c->rttvar = (3 * c->rttvar + d) / 4;
		c->srtt = (7 * c->srtt + r) / 8;
	}
	c->rto = c->srtt + MAX(1000u, 4 * c->rttvar);
	if (c->rto < TCP_RTO_MIN_US)
		c->rto = TCP_RTO_MIN_US;
	if (c->rto > TCP_RTO_MAX_US)
		c->rto = TCP_RTO_MAX_US;
}

/* Bytes in flight, for ssthresh. */
static inline uint32_t flight(const struct tcp_conn *c)
{
	return c->snd_max - c->snd_una;
}

/* Drop scoreboard blocks at or below snd_una. */
static void tcp_sack_trim(struct tcp_conn *c)
{
	unsigned i, j = 0;

	for (i = 0; i < c->nsacked; i++) {
		if (SEQ_LEQ(c->sacked[i].r, c->snd_una))
			continue;
		if (SEQ_LT(c->sacked[i].l, c->snd_una))
			c->sacked[i].l = c->snd_una;
		c->sacked[j++] = c->sacked[i];
	}
	c->nsacked = (uint8_t)j;
}

/* Merge the peer's SACK blocks into the scoreboard (kept sorted, merged). */
static void tcp_sack_update(struct tcp_conn *c, const struct tcp_opts *o)
{
	struct sack_blk all[TCP_SACK_MAX + 4], tmp;
	unsigned n = 0, i, j;

	for (i = 0; i < c->nsacked; i++)
		all[n++] = c->sacked[i];
	for (i = 0; i < o->nsack; i++) {
		struct sack_blk b = o->sack[i];

		/* only blocks about data we sent and have not had acked */
		if (!SEQ_LT(b.l, b.r) || SEQ_LEQ(b.r, c->snd_una) || SEQ_GT(b.r, c->snd_max))
			continue;
		all[n++] = b;
	}
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && SEQ_LT(all[j].l, all[j - 1].l); j--) {
			tmp = all[j];
			all[j] = all[j - 1];
			all[j - 1] = tmp;
		}
	c->nsacked = 0;
	for (i = 0; i < n; i++) {
		if (c->nsacked > 0 && SEQ_LEQ(all[i].l, c->sacked[c->nsacked - 1].r)) {
			if (SEQ_GT(all[i].r, c->sacked[c->nsacked - 1].r))
				c->sacked[c->nsacked - 1].r = all[i].r;
		} else if (c->nsacked < TCP_SACK_MAX) {
			c->sacked[c->nsacked++] = all[i];
		} else {
			/* keep the lowest blocks: they bound the holes we repair first */
			break;
		}
	}
	tcp_sack_trim(c);
}

/* First sequence at or after from that the peer has not SACKed, below the highest SACK. */
static int next_hole(const struct tcp_conn *c, uint32_t from, uint32_t *seq, uint32_t *len)
{
	unsigned i;

	if (c->nsacked == 0)
		return 0;
	for (i = 0; i < c->nsacked; i++) {
		if (SEQ_LT(from, c->sacked[i].l)) {
			*seq = from;
			*len = c->sacked[i].l - from;
			return 1;
		}
		if (SEQ_LT(from, c->sacked[i].r))
			from = c->sacked[i].r;
	}
	return 0;
}

/* Retransmit the next unSACKed hole in recovery; returns 1 if one was sent. */
static int tcp_rtx_hole(struct tcp_conn *c)
{
	uint32_t seq, len;

	if (SEQ_LT(c->rtx_next, c->snd_una))
		c->rtx_next = c->snd_una;
	if (!next_hole(c, c->rtx_next, &seq, &len))
		return 0;
	len = tcp_send_at(c, seq, len);
	if (len == 0)
		return 0;
	c->rtx_next = seq + len;
	return 1;
}

/* Three duplicate ACKs: fast retransmit, enter NewReno recovery (RFC 6582). */
static void tcp_fast_retransmit(struct tcp_conn *c)
{
	c->ssthresh = MAX(flight(c) / 2, 2u * c->mss);
	c->recover = c->snd_max;
	c->cwnd = c->ssthresh + 3u * c->mss;
	c->flags |= F_RECOVERY;
	c->flags &= ~F_RTT_TIMING;
	c->ctx->st.tcp_fast_retransmits++;
	c->rtx_next = c->snd_una + tcp_send_at(c, c->snd_una, c->mss);
	c->t_rtx = c->ctx->now_us + c->rto;
}

/* New data acknowledged: grow cwnd, handle partial and full ACKs in recovery. */
static void tcp_cc_ack(struct tcp_conn *c, uint32_t acked)
{
	if (c->flags & F_RECOVERY) {
		if (SEQ_GEQ(c->snd_una, c->recover)) {
			/* full ACK: leave recovery */
			c->cwnd = MIN(c->ssthresh, MAX(flight(c), (uint32_t)c->mss) + c->mss);
			c->flags &= ~F_RECOVERY;
			c->dupacks = 0;
		} else {
			/* partial ACK: the next hole is lost too */
			c->cwnd = c->cwnd > acked ? c->cwnd - acked : c->mss;
			c->cwnd += c->mss;
			if (!tcp_rtx_hole(c)) {
				c->rtx_next = c->snd_una + tcp_send_at(c, c->snd_una, c->mss);
			}
			c->t_rtx = c->ctx->now_us + c->rto;
		}
		return;
	}
	c->dupacks = 0;
	if (c->cwnd < c->ssthresh)
		c->cwnd += MIN(acked, (uint32_t)c->mss);            /* slow start, ABC L=1 */
	else
		c->cwnd += MAX(1u, (uint32_t)c->mss * c->mss / c->cwnd); /* congestion avoidance */
}

/* ---- input ---- */

/* Parse TCP options; returns -1 when malformed. */
static int parse_opts(const uint8_t *p, unsigned len, int syn, struct tcp_opts *o)
{
	memset(o, 0, sizeof(*o));
	while (len > 0) {
		unsigned k = p[0], l;

		if (k == 0)
			break;
		if (k == 1) {
			p++;
			len--;
			continue;
		}
		if (len < 2)
			return -1;
		l = p[1];
		if (l < 2 || l > len)
			return -1;
		switch (k) {
		case 2:
			if (l != 4)
				return -1;
			if (syn)
				o->mss = (uint16_t)(p[2] << 8 | p[3]);
			break;
		case 3:
			if (l != 3)
				return -1;
			if (syn) {
				o->has_ws = 1;
				o->ws = p[2] > 14 ? 14 : p[2];
			}
			break;
		case 4:
			if (l != 2)
				return -1;
			if (syn)
				o->sack_ok = 1;
			break;
		case 5: {
			unsigned i, nb;

			if (l < 10 || (l - 2) % 8 != 0)
				return -1;
			nb = (l - 2) / 8;
			for (i = 0; i < nb && o->nsack < 4; i++) {
				uint32_t a, b;

				memcpy(&a, p + 2 + 8 * i, 4);
				memcpy(&b, p + 6 + 8 * i, 4);
				o->sack[o->nsack].l = rte_be_to_cpu_32(a);
				o->sack[o->nsack].r = rte_be_to_cpu_32(b);
				o->nsack++;
			}
			break;
		}
		case 8:
			if (l != 10)
				return -1;
			o->has_ts = 1;
			memcpy(&o->tsval, p + 2, 4);
			memcpy(&o->tsecr, p + 6, 4);
			o->tsval = rte_be_to_cpu_32(o->tsval);
			o->tsecr = rte_be_to_cpu_32(o->tsecr);
			break;
		default:
			break;
		}
		p += l;
		len -= l;
	}
	return 0;
}

/* Apply a peer's SYN options to a connection. */
static void syn_options(struct tcp_conn *c, const struct tcp_opts *o, int we_offer_all)
{
	struct tcp_ctx *tc = T(c->ctx);

	c->peer_mss = o->mss ? o->mss : (c->t.family == NET_AF_INET ? TCP_MSS_DEFAULT_V4
								     : TCP_MSS_DEFAULT_V6);
	if (o->has_ws && we_offer_all) {
		c->flags |= F_WS;
		c->snd_ws = o->ws;
		c->rcv_ws = tcp_rcv_wscale(tc);
	} else {
		c->snd_ws = c->rcv_ws = 0;
	}
	if (o->sack_ok && we_offer_all)
		c->flags |= F_SACK;
	if (o->has_ts && we_offer_all) {
		c->flags |= F_TS;
		c->ts_recent = o->tsval;
		c->ts_recent_us = c->ctx->now_us;
	}
	mss_update(c);
	c->cwnd = MIN(10u * c->mss, MAX(2u * c->mss, 14600u)); /* RFC 6928 */
}

/* ---- SYN cookies (RFC 4987) ---- */

static const uint16_t cookie_mss[8] = { 536, 1024, 1220, 1360, 1440, 1460, 4312, 8960 };

/* The 24-bit MAC of a cookie. */
static uint32_t cookie_mac(struct tcp_ctx *tc, const struct net_tuple *t, uint32_t count,
			   uint32_t peer_isn, unsigned mssidx)
{
	return (uint32_t)tcp_tuple_mac(tc, t, (count << 3 | mssidx) ^ peer_isn * 2654435761u) & 0xffffff;
}

/* Answer a SYN statelessly with a cookie as our ISN. */
static void tcp_syncookie_send(struct net_ctx *ctx, const struct net_tuple *t, const struct seg *s)
{
	struct tcp_ctx *tc = T(ctx);
	uint32_t count = (uint32_t)(ctx->now_us / 64000000), isn;
	unsigned mssidx = 0, i, mss_max = ctx->ifs[t->ifidx].mtu - (t->family == NET_AF_INET ? 40 : 60);
	struct tcp_opts o;
	uint16_t want = s->o.mss ? s->o.mss : 536;

	for (i = 0; i < 8; i++)
		if (cookie_mss[i] <= want && cookie_mss[i] <= mss_max)
			mssidx = i;
	isn = (count & 0x1f) << 27 | (uint32_t)mssidx << 24 | cookie_mac(tc, t, count, s->seq, mssidx);
	memset(&o, 0, sizeof(o));
	o.mss = (uint16_t)mss_max;
	if (s->o.has_ts) {
		/* remember window scale and SACK in the low bits of our timestamp */
		uint32_t bits = (s->o.has_ws ? s->o.ws : 0xf) | (s->o.sack_ok ? 0x10 : 0);
		uint32_t clock = ts_now(ctx) + (uint32_t)tcp_tuple_mac(tc, t, 1);

		o.has_ts = 1;
		o.tsval = (clock & ~0x1fu) | bits;
		if ((int32_t)(o.tsval - clock) > 0)
			o.tsval -= 0x20;     /* never ahead of the clock the connection goes on with */
		o.tsecr = s->o.tsval;
		o.has_ws = s->o.has_ws;
		o.ws = tcp_rcv_wscale(tc);
		o.sack_ok = s->o.sack_ok;
	}
	tcp_emit(ctx, NULL, t, isn, s->seq + 1, TH_SYN | TH_ACK,
	     MIN(tc->p.rcvbuf, 65535u), 0, 0, &o);
	ctx->st.tcp_syncookies_sent++;
}

/* Check the ACK of a cookie; fills the MSS and options it carried. */
static int tcp_syncookie_check(struct net_ctx *ctx, const struct net_tuple *t, const struct seg *s,
			struct tcp_opts *syn)
{
	struct tcp_ctx *tc = T(ctx);
	uint32_t isn = s->ack - 1, count = (uint32_t)(ctx->now_us / 64000000);
	uint32_t c5 = isn >> 27, mssidx = (isn >> 24) & 7, age = (count - c5) & 0x1f;

	if (age > 1)
		return -1;
	if ((isn & 0xffffff) != cookie_mac(tc, t, count - age, s->seq - 1, mssidx))
		return -1;
	memset(syn, 0, sizeof(*syn));
	syn->mss = cookie_mss[mssidx];
	if (s->o.has_ts) {
		uint32_t bits = s->o.tsecr & 0x1f;

		syn->has_ts = 1;
		syn->tsval = s->o.tsval;
		if ((bits & 0xf) != 0xf) {
			syn->has_ws = 1;
			syn->ws = (uint8_t)(bits & 0xf);
		}
		syn->sack_ok = !!(bits & 0x10);
	}
	return 0;
}

/* ---- receive queue ---- */

/* Append in-order payload (m's data is the payload) to the receive queue. */
static void tcp_rxq_append(struct tcp_conn *c, struct rte_mbuf *m)
{
	struct rte_mbuf *tail = c->rxq_tail;
	uint16_t len = m->data_len;

	c->rcv_queued += len;
	c->flags |= F_NEW_DATA;
	if (tail != NULL && len <= 512 && rte_pktmbuf_tailroom(tail) >= len &&
	    RTE_MBUF_DIRECT(tail) && rte_mbuf_refcnt_read(tail) == 1) {
		/* small segment: copy into the tail so it cannot pin an mbuf */
		memcpy(rte_pktmbuf_append(tail, len), rte_pktmbuf_mtod(m, void *), len);
		rte_pktmbuf_free(m);
		return;
	}
	m->next = NULL;
	if (tail)
		tail->next = m;
	else
		c->rxq = m;
	c->rxq_tail = m;
}

/* Move what became in-order from the out-of-order queue. */
static void tcp_reass_drain(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);

	while (c->ooo != NULL) {
		struct rte_mbuf *m = c->ooo;
		uint32_t s = m->hash.usr, e = s + m->data_len;

		if (SEQ_GT(s, c->rcv_nxt))
			break;
		c->ooo = m->next;
		m->next = NULL;
		c->ooo_bytes -= m->data_len;
		tc->ooo_total -= m->data_len;
		if (SEQ_LEQ(e, c->rcv_nxt)) {
			rte_pktmbuf_free(m);
			continue;
		}
		rte_pktmbuf_adj(m, (uint16_t)(c->rcv_nxt - s));
		c->rcv_nxt = e;
		tcp_rxq_append(c, m);
	}
}

/* Queue a segment beyond rcv_nxt, trimming overlaps; returns 0 or -1 (dropped). */
static int tcp_reass_insert(struct tcp_conn *c, struct rte_mbuf *m, uint32_t seq)
{
	struct tcp_ctx *tc = T(c->ctx);
	struct rte_mbuf **pp = &c->ooo, *n;
	uint32_t end = seq + m->data_len;

	/* skip segments that end before us; trim our front against the previous one */
	while (*pp != NULL) {
		uint32_t s = (*pp)->hash.usr, e = s + (*pp)->data_len;

		if (SEQ_GT(s, seq))
			break;
		if (SEQ_GEQ(e, end)) {
			c->ctx->st.tcp_dup_segments++;
			rte_pktmbuf_free(m);
			c->sack_recent = seq;
			return 0;           /* wholly contained */
		}
		if (SEQ_GT(e, seq)) {
			rte_pktmbuf_adj(m, (uint16_t)(e - seq));
			seq = e;
		}
		pp = &(*pp)->next;
	}
	/* over a limit: drop it before it displaces segments already held (and SACKed) */
	if (c->ooo_bytes + m->data_len > tc->p.reasm_limit ||
	    tc->ooo_total + m->data_len > tc->p.reasm_total) {
		NET_DROP(c->ctx, tcp_reasm_limit);
		rte_pktmbuf_free(m);
		return -1;
	}
	/* remove following segments we cover entirely, trim our tail against the next */
	while ((n = *pp) != NULL) {
		uint32_t s = n->hash.usr, e = s + n->data_len;

		if (SEQ_GEQ(s, end))
			break;
		if (SEQ_LEQ(e, end)) {
			*pp = n->next;
			n->next = NULL;
			c->ooo_bytes -= n->data_len;
			tc->ooo_total -= n->data_len;
			rte_pktmbuf_free(n);
			continue;
		}
		rte_pktmbuf_trim(m, (uint16_t)(end - s));
		end = s;
		break;
	}
	m->hash.usr = seq;
	m->next = *pp;
	*pp = m;
	c->ooo_bytes += m->data_len;
	tc->ooo_total += m->data_len;
	c->sack_recent = seq;
	c->ctx->st.tcp_ooo_segments++;
	return 0;
}

/* Process the payload of an acceptable segment (m's data = payload from seq). */
static void data_input(struct tcp_conn *c, struct rte_mbuf *m, uint32_t seq, uint32_t len)
{
	uint32_t wnd_end = c->rcv_adv;

	if (SEQ_LT(seq, c->rcv_nxt)) {
		uint32_t skip = c->rcv_nxt - seq;

		if (skip >= len) {
			c->ctx->st.tcp_dup_segments++;
			c->flags |= F_ACK_NOW;
			rte_pktmbuf_free(m);
			return;
		}
		rte_pktmbuf_adj(m, (uint16_t)skip);
		seq += skip;
		len -= skip;
	}
	if (SEQ_GT(seq + len, wnd_end)) {
		uint32_t cut = seq + len - wnd_end;

		NET_DROP(c->ctx, tcp_rcvbuf_full);
		if (cut >= len) {
			rte_pktmbuf_free(m);
			c->flags |= F_ACK_NOW;
			return;
		}
		rte_pktmbuf_trim(m, (uint16_t)cut);
		len -= cut;
	}
	if (seq == c->rcv_nxt) {
		c->rcv_nxt += len;
		tcp_rxq_append(c, m);
		if (c->ooo != NULL) {
			tcp_reass_drain(c);
			c->flags |= F_ACK_NOW;     /* filled a hole: tell the sender now */
		}
		if (++c->delack_segs >= 2 || c->quickacks > 0) {
			/* every second segment, and every one in quick-ACK mode */
			c->flags |= F_ACK_NOW;
			if (c->quickacks > 0)
				c->quickacks--;
		} else if (c->t_delack == 0)
			c->t_delack = c->ctx->now_us + TCP_DELACK_US;
		return;
	}
	tcp_reass_insert(c, m, seq);
	c->flags |= F_ACK_NOW;                     /* duplicate ACK with SACK */
}

/* Our FIN has been acknowledged? */
static inline int our_fin_acked(const struct tcp_conn *c)
{
	return fin_sent(c) && SEQ_GT(c->snd_una, fin_seq(c));
}

/* ACK processing for synchronized states; returns -1 if the segment is to be dropped. */
static int ack_input(struct tcp_conn *c, const struct seg *s)
{
	struct net_ctx *ctx = c->ctx;
	uint32_t acked, old_wnd = c->snd_wnd;  /* RFC 5681: a window change is no duplicate ACK */

	if (SEQ_GT(s->ack, c->snd_max)) {
		/* ACK of something not yet sent */
		NET_DROP(ctx, tcp_bad_ack);
		tcp_challenge_ack(c);
		return -1;
	}
	if (SEQ_LT(s->ack, c->snd_una - MAX(c->max_snd_wnd, 65535u))) {
		/* RFC 5961 5.2: too old to be acceptable */
		NET_DROP(ctx, tcp_bad_ack);
		tcp_challenge_ack(c);
		return -1;
	}
	if (c->flags & F_SACK && s->o.nsack)
		tcp_sack_update(c, &s->o);
	/* window update (RFC 9293 3.10.7.4) */
	if (SEQ_GT(s->ack, c->snd_una) ||
	    SEQ_LT(c->snd_wl1, s->seq) || (c->snd_wl1 == s->seq && SEQ_LEQ(c->snd_wl2, s->ack))) {
		uint32_t w = (uint32_t)s->wnd << c->snd_ws;
		int opened = c->snd_wnd == 0 && w > 0;

		c->snd_wnd = w;
		if (w > c->max_snd_wnd)
			c->max_snd_wnd = w;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
		if (opened) {
			c->t_persist = 0;
			c->persist_backoff = 0;
			/* resume from the probe point */
			if (SEQ_LT(c->snd_nxt, c->snd_una))
				c->snd_nxt = c->snd_una;
		}
	}
	if (SEQ_LEQ(s->ack, c->snd_una)) {
		/* duplicate ACK? (RFC 5681: no data, no window change, data outstanding) */
		if (s->ack == c->snd_una && s->len == 0 && !(s->flags & (TH_SYN | TH_FIN)) &&
		    c->snd_max != c->snd_una && c->state != TS_SYN_RCVD &&
		    (c->snd_wnd == old_wnd || s->o.nsack > 0)) {
			if (c->flags & F_RECOVERY) {
				c->cwnd += c->mss;
				tcp_rtx_hole(c);
			} else if (++c->dupacks == 3) {
				/* RFC 6582: one reduction per window of data */
				if (SEQ_GEQ(c->snd_una, c->recover))
					tcp_fast_retransmit(c);
			} else if (c->dupacks < 3 && (c->flags & F_SACK) && c->nsacked > 0 &&
				   SEQ_GT(c->sacked[c->nsacked - 1].r, c->snd_una + 3u * c->mss)) {
				/* SACK says three segments beyond a hole arrived: same as 3 dupacks */
				c->dupacks = 3;
				if (SEQ_GEQ(c->snd_una, c->recover))
					tcp_fast_retransmit(c);
			}
		}
		return 0;
	}
	/* new data acknowledged */
	acked = s->ack - c->snd_una;
	if ((c->flags & F_TS) && s->o.has_ts && s->o.tsecr != 0) {
		uint32_t r = ts_now(ctx) + c->ts_offset - s->o.tsecr;

		if (r < 60000)
			tcp_rtt_sample(c, r * 1000 + 500);
	} else if ((c->flags & F_RTT_TIMING) && SEQ_GT(s->ack, c->rtt_seq)) {
		c->flags &= ~F_RTT_TIMING;
		tcp_rtt_sample(c, (uint32_t)(ctx->now_us - c->rtt_start));
	}
	c->snd_una = s->ack;
	if (SEQ_LT(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;
	/* release acknowledged bytes from the send ring (SYN and FIN take no ring space) */
	if (SEQ_GT(s->ack, c->sbuf_seq) && c->sbuf_len > 0) {
		uint32_t n = MIN(s->ack - c->sbuf_seq, c->sbuf_len);

		c->sbuf_start = (c->sbuf_start + n) % (c->sbuf_cap ? c->sbuf_cap : 1);
		c->sbuf_len -= n;
		c->sbuf_seq += n;
		if (c->sbuf_len == 0 && !(c->flags & F_FIN_QUEUED)) {
			free(c->sbuf);
			c->sbuf = NULL;
			c->sbuf_cap = c->sbuf_start = 0;
		}
	}
	if (c->sbuf_len == 0 && !(c->flags & F_FIN_QUEUED) && SEQ_GT(s->ack, c->sbuf_seq))
		c->sbuf_seq = s->ack;
	tcp_sack_trim(c);
	c->retries = 0;
	if (c->state != TS_SYN_RCVD)
		tcp_cc_ack(c, acked);
	c->t_rtx = c->snd_una == c->snd_max ? 0 : ctx->now_us + c->rto;
	return 0;
}

/* Advance the state machine after our FIN was acked or theirs arrived. */
static void fin_states(struct tcp_conn *c)
{
	switch (c->state) {
	case TS_FIN_WAIT_1:
		if (our_fin_acked(c)) {
			c->state = TS_FIN_WAIT_2;
			if (c->flags & F_DETACHED)
				c->t_state = c->ctx->now_us + TCP_FIN_WAIT2_US;
		}
		break;
	case TS_CLOSING:
		if (our_fin_acked(c))
			tcp_time_wait(c);
		break;
	case TS_LAST_ACK:
		if (our_fin_acked(c))
			tcp_conn_end(c, TCP_END_CLOSED);
		break;
	default:
		break;
	}
}

/* The peer's FIN is in order: rcv_nxt covers it now. */
static void fin_input(struct tcp_conn *c)
{
	c->rcv_nxt++;
	c->flags |= F_FIN_RCVD | F_ACK_NOW;
	c->flags &= ~F_OOO_FIN;
	switch (c->state) {
	case TS_SYN_RCVD:
	case TS_ESTABLISHED:
		c->state = TS_CLOSE_WAIT;
		break;
	case TS_FIN_WAIT_1:
		if (our_fin_acked(c)) {
			tcp_send_ack(c);
			tcp_time_wait(c);
		} else {
			c->state = TS_CLOSING;
		}
		break;
	case TS_FIN_WAIT_2:
		tcp_send_ack(c);
		tcp_time_wait(c);
		break;
	default:
		break;
	}
}

/* A connection became established. */
static void established(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);

	if (c->state == TS_SYN_RCVD && (c->flags & F_PASSIVE))
		tc->half_open--;
	c->state = TS_ESTABLISHED;
	c->retries = 0;
	c->t_rtx = 0;
	c->snd_wl1 = c->irs;
	if (c->flags & F_PASSIVE) {
		c->ctx->st.tcp_passive_opens++;
		if (c->ops && c->ops->accept)
			c->ops->accept(c, c->app);
	} else {
		c->ctx->st.tcp_active_opens++;
		c->flags |= F_CONNECTED_CB;
	}
}

/* Segment for a connection in SYN_SENT (RFC 9293 3.10.7.3). */
static void input_syn_sent(struct tcp_conn *c, const struct seg *s)
{
	if ((s->flags & TH_ACK) && (SEQ_LEQ(s->ack, c->iss) || SEQ_GT(s->ack, c->snd_max))) {
		if (!(s->flags & TH_RST))
			tcp_send_rst(c->ctx, &c->t, s);
		NET_DROP(c->ctx, tcp_bad_ack);
		return;
	}
	if (s->flags & TH_RST) {
		if (s->flags & TH_ACK) {
			c->ctx->st.tcp_resets_in++;
			tcp_conn_end(c, TCP_END_REFUSED);
		}
		return;
	}
	if (!(s->flags & TH_SYN))
		return;
	c->irs = s->seq;
	c->rcv_nxt = s->seq + 1;
	c->rcv_adv = c->rcv_nxt + MIN(T(c->ctx)->p.rcvbuf, 65535u); /* what our SYN offered */
	syn_options(c, &s->o, 1);
	c->snd_wnd = s->wnd;           /* never scaled in a SYN */
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = s->seq;
	c->snd_wl2 = s->ack;
	if (s->flags & TH_ACK) {
		c->snd_una = s->ack;
		if (c->flags & F_TS && s->o.tsecr) {
			uint32_t r = ts_now(c->ctx) + c->ts_offset - s->o.tsecr;

			if (r < 60000)
				tcp_rtt_sample(c, r * 1000 + 500);
		}
		established(c);
		c->flags |= F_ACK_NOW;
	} else {
		/* simultaneous open */
		c->state = TS_SYN_RCVD;
		c->t_rtx = 0;
		tcp_send_syn(c);
		rtx_start(c);
	}
}

/* Segment for an existing connection in any synchronized state. */
static void conn_input(struct tcp_conn *c, struct rte_mbuf *m, struct seg *s)
{
	struct net_ctx *ctx = c->ctx;
	uint32_t seglen = s->len + !!(s->flags & TH_SYN) + !!(s->flags & TH_FIN);
	uint32_t wnd = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	int ok;

	/*
	 * PAWS (RFC 7323 5.3). A pure ACK at rcv_nxt that acknowledges nothing
	 * new is let through, as Linux does: reordering delays ACKs behind later
	 * ones, and such an ACK cannot corrupt data.
	 */
	if ((c->flags & F_TS) && s->o.has_ts && !(s->flags & TH_RST) &&
	    (int32_t)(s->o.tsval - c->ts_recent) < 0 &&
	    ctx->now_us - c->ts_recent_us < 24ull * 86400 * 1000000 &&
	    !(seglen == 0 && s->seq == c->rcv_nxt && (s->flags & TH_ACK) &&
	      SEQ_LEQ(s->ack, c->snd_una))) {
		NET_DROP(ctx, tcp_paws);
		tcp_send_ack(c);
		goto drop;
	}
	/* the peer repeats its SYN: our SYN-ACK was lost, send it again (as Linux does) */
	if (c->state == TS_SYN_RCVD && (s->flags & (TH_SYN | TH_ACK | TH_RST)) == TH_SYN &&
	    s->seq == c->irs) {
		tcp_send_syn(c);
		goto drop;
	}
	/* acceptability test (RFC 9293 3.10.7.4) */
	if (seglen == 0)
		ok = SEQ_GEQ(s->seq, c->rcv_nxt) && SEQ_LEQ(s->seq, c->rcv_nxt + wnd);
	else if (wnd == 0)
		ok = 0;
	else
		ok = (SEQ_GEQ(s->seq, c->rcv_nxt) && SEQ_LT(s->seq, c->rcv_nxt + wnd)) ||
		     (SEQ_GEQ(s->seq + seglen - 1, c->rcv_nxt) &&
		      SEQ_LT(s->seq + seglen - 1, c->rcv_nxt + wnd));
	/*
	 * A pure ACK overtaken by data the peer sent after it has a sequence
	 * number below rcv_nxt; it still carries a valid ACK and window. Accept
	 * it when it is not older than the last ACK we sent (Linux's rcv_wup).
	 */
	if (!ok && seglen == 0 && !(s->flags & (TH_RST | TH_SYN)) &&
	    SEQ_GEQ(s->seq, c->last_ack_sent) && SEQ_LEQ(s->seq, c->rcv_nxt))
		ok = 1;
	/* an empty-window ACK carrying data at rcv_nxt: use its ACK, drop its data */
	if (!ok && wnd == 0 && s->seq == c->rcv_nxt && !(s->flags & (TH_RST | TH_SYN)) &&
	    (s->flags & TH_ACK)) {
		NET_DROP(ctx, tcp_rcvbuf_full);
		s->len = 0;
		s->flags &= (uint8_t)~TH_FIN;
		rte_pktmbuf_free(m);
		m = NULL;
		ok = 1;
		c->flags |= F_ACK_NOW;
	}
	if (!ok) {
		if (s->flags & TH_RST)
			goto drop;
		if (SEQ_LEQ(s->seq + seglen, c->rcv_nxt))
			ctx->st.tcp_dup_segments++;
		else
			NET_DROP(ctx, tcp_out_of_window);
		/* the peer's FIN again (it lost our ACK): restart the wait (RFC 9293 3.10.7.4) */
		if (c->state == TS_TIME_WAIT && (s->flags & TH_FIN) && s->seq + seglen == c->rcv_nxt) {
			c->t_state = ctx->now_us + (uint64_t)T(ctx)->p.timewait_ms * 1000;
			tcp_timer_arm(c);
		}
		/*
		 * Empty segments out of window get one ACK per TCP_OOW_ACK_US at
		 * most (Linux's tcp_invalid_ratelimit): two stacks that disagree
		 * must not ACK each other forever.
		 */
		if (seglen > 0 || ctx->now_us - c->oow_ack_us >= TCP_OOW_ACK_US) {
			c->oow_ack_us = ctx->now_us;
			tcp_send_ack(c);
		}
		goto drop;
	}
	/* RST (RFC 5961 3.2) */
	if (s->flags & TH_RST) {
		if (s->seq != c->rcv_nxt) {
			tcp_challenge_ack(c);
			goto drop;
		}
		ctx->st.tcp_resets_in++;
		if (m)
			rte_pktmbuf_free(m);
		if (c->state == TS_SYN_RCVD && (c->flags & F_PASSIVE))
			tcp_conn_free(c);        /* back to LISTEN: nothing to tell */
		else
			tcp_conn_end(c, TCP_END_RESET);
		return;
	}
	/* SYN in a synchronized state (RFC 5961 4.2) */
	if (s->flags & TH_SYN) {
		tcp_challenge_ack(c);
		goto drop;
	}
	if (!(s->flags & TH_ACK)) {
		NET_DROP(ctx, tcp_bad_flags);
		goto drop;
	}
	if (c->state == TS_SYN_RCVD) {
		if (SEQ_LEQ(s->ack, c->snd_una) || SEQ_GT(s->ack, c->snd_max)) {
			tcp_send_rst(ctx, &c->t, s);
			goto drop;
		}
		c->snd_wnd = (uint32_t)s->wnd << c->snd_ws;
		c->max_snd_wnd = c->snd_wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
		established(c);
		if (c->flags & (F_DEAD | F_DETACHED))
			goto drop;
	}
	/* timestamp to echo (RFC 7323 4.3) */
	if ((c->flags & F_TS) && s->o.has_ts && SEQ_LEQ(s->seq, c->last_ack_sent) &&
	    (int32_t)(s->o.tsval - c->ts_recent) >= 0) {
		c->ts_recent = s->o.tsval;
		c->ts_recent_us = ctx->now_us;
	}
	if (ack_input(c, s) < 0)
		goto drop;
	fin_states(c);
	if (c->flags & F_DEAD)
		goto drop;
	/* data */
	if (s->len > 0 && m != NULL) {
		if (c->flags & F_FIN_RCVD || c->state == TS_TIME_WAIT) {
			/* data after their FIN: nonsense, acknowledge and drop */
			c->flags |= F_ACK_NOW;
			rte_pktmbuf_free(m);
		} else {
			data_input(c, m, s->seq, s->len);
		}
		m = NULL;
	}
	/* FIN */
	if (s->flags & TH_FIN) {
		uint32_t fs = s->seq + s->len;

		if (c->flags & F_FIN_RCVD)
			c->flags |= F_ACK_NOW;
		else if (fs == c->rcv_nxt)
			fin_input(c);
		else if (SEQ_GT(fs, c->rcv_nxt)) {
			c->flags |= F_OOO_FIN;
			c->ooo_fin_seq = fs;
		}
	}
	if ((c->flags & F_OOO_FIN) && c->rcv_nxt == c->ooo_fin_seq)
		fin_input(c);
	if (c->state == TS_TIME_WAIT && !(c->flags & F_DEAD)) {
		/* a retransmitted FIN in TIME_WAIT restarts the wait */
		if (s->flags & TH_FIN)
			c->t_state = ctx->now_us + (uint64_t)T(ctx)->p.timewait_ms * 1000;
		if (c->flags & F_ACK_NOW)
			tcp_send_ack(c);
		tcp_timer_arm(c);
	}
drop:
	if (m)
		rte_pktmbuf_free(m);
}

/* Segment for a listening port with no connection. */
static void listen_input(struct net_ctx *ctx, struct listener *l, const struct net_tuple *t,
			 uint32_t h, struct seg *s, struct rte_mbuf **mp)
{
	struct tcp_ctx *tc = T(ctx);
	struct tcp_conn *c;
	struct tcp_opts syn;

	if (s->flags & TH_RST)
		return;
	if (s->flags & TH_ACK) {
		/* maybe the third step of a handshake we answered with a cookie */
		if ((s->flags & TH_SYN) || tcp_syncookie_check(ctx, t, s, &syn) < 0) {
			NET_DROP(ctx, tcp_syncookie_bad);
			tcp_send_rst(ctx, t, s);
			return;
		}
		c = tcp_conn_alloc(ctx, t, h);
		if (c == NULL) {
			ctx->st.tcp_refused++;
			return;
		}
		ctx->st.tcp_syncookies_ok++;
		c->flags |= F_PASSIVE;
		c->ops = l->ops;
		c->app = l->arg;
		tcp_set_iss(c, s->ack - 1);
		c->snd_nxt = c->snd_max = s->ack;
		c->irs = s->seq - 1;
		c->rcv_nxt = s->seq;
		c->rcv_adv = s->seq + MIN(tc->p.rcvbuf, 65535u); /* what the cookie SYN-ACK offered */
		c->last_ack_sent = s->seq;
		syn_options(c, &syn, 1);
		c->state = TS_SYN_RCVD;
		tc->half_open++;
		conn_input(c, *mp, s);
		*mp = NULL;
		return;
	}
	if (!(s->flags & TH_SYN) || (s->flags & TH_FIN)) {
		NET_DROP(ctx, tcp_bad_flags);
		return;
	}
	if (tc->nconns >= tc->p.max_conns) {
		NET_DROP(ctx, tcp_conn_limit);
		ctx->st.tcp_refused++;
		return;
	}
	if (tc->half_open >= tc->p.syn_backlog) {
		tcp_syncookie_send(ctx, t, s);
		return;
	}
	c = tcp_conn_alloc(ctx, t, h);
	if (c == NULL) {
		ctx->st.tcp_refused++;
		return;
	}
	c->flags |= F_PASSIVE;
	c->ops = l->ops;
	c->app = l->arg;
	c->state = TS_SYN_RCVD;
	tc->half_open++;
	c->irs = s->seq;
	c->rcv_nxt = s->seq + 1;
	c->rcv_adv = c->rcv_nxt;
	syn_options(c, &s->o, 1);
	tcp_set_iss(c, tcp_isn(ctx, t));
	c->snd_wnd = s->wnd;
	tcp_send_syn(c);
	rtx_start(c);
	tcp_timer_arm(c);
}

/* Entry point from IP: one TCP segment for a local address. */
static void tcp_input(struct net_ctx *ctx, struct net_tuple *t, struct rte_mbuf *m, unsigned len)
{
	struct tcp_ctx *tc = T(ctx);
	const uint8_t *th = rte_pktmbuf_mtod(m, const uint8_t *);
	unsigned hl, i;
	struct seg s;
	struct tcp_conn *c;
	uint32_t h;

	if (len < 20 || len > m->data_len) {
		NET_DROP(ctx, tcp_short);
		goto drop;
	}
	hl = (th[12] >> 4) * 4u;
	if (hl < 20 || hl > len) {
		NET_DROP(ctx, tcp_short);
		goto drop;
	}
	if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD ||
	    (!(ctx->ifs[t->ifidx].rx_csum &&
	       (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD) &&
	     net_l4_csum(t->family, &t->raddr, &t->laddr, IPPROTO_TCP, th, len) != 0)) {
		NET_DROP(ctx, tcp_csum);
		goto drop;
	}
	s.flags = th[13] & 0x3f;
	if (parse_opts(th + 20, hl - 20, s.flags & TH_SYN, &s.o) < 0) {
		NET_DROP(ctx, tcp_bad_options);
		goto drop;
	}
	if ((s.flags & TH_SYN && s.flags & (TH_RST | TH_FIN)) || t->rport == 0 || t->lport == 0) {
		NET_DROP(ctx, tcp_bad_flags);
		goto drop;
	}
	memcpy(&s.seq, th + 4, 4);
	memcpy(&s.ack, th + 8, 4);
	s.seq = rte_be_to_cpu_32(s.seq);
	s.ack = rte_be_to_cpu_32(s.ack);
	s.wnd = (uint16_t)(th[14] << 8 | th[15]);
	s.len = len - hl;
	rte_pktmbuf_adj(m, (uint16_t)hl);
	if (m->data_len > s.len)
		rte_pktmbuf_trim(m, (uint16_t)(m->data_len - s.len));

	h = tcp_tuple_hash(tc, t);
	c = tcp_conn_lookup(tc, t, h);
	if (c != NULL && c->state == TS_TIME_WAIT && (s.flags & TH_SYN) && !(s.flags & TH_ACK) &&
	    (SEQ_GT(s.seq, c->rcv_nxt) ||
	     ((c->flags & F_TS) && s.o.has_ts && (int32_t)(s.o.tsval - c->ts_recent) > 0))) {
		/* RFC 6191: a new incarnation may reuse a TIME_WAIT tuple */
		tcp_conn_free(c);
		c = NULL;
	}
	if (c != NULL) {
		if (c->state == TS_SYN_SENT)
			input_syn_sent(c, &s);
		else {
			conn_input(c, m, &s);
			m = NULL;
		}
		if (!(c->flags & F_DEAD)) {
			tcp_app_events(c);
			tcp_output(c);
		}
		goto drop;
	}
	for (i = 0; i < tc->nls; i++)
		if (tc->ls[i].port == t->lport)
			break;
	if (i == tc->nls) {
		NET_DROP(ctx, tcp_no_listener);
		if (s.flags & TH_SYN)
			ctx->st.tcp_refused++;
		tcp_send_rst(ctx, t, &s);
		goto drop;
	}
	listen_input(ctx, &tc->ls[i], t, h, &s, &m);
	c = tcp_conn_lookup(tc, t, h);
	if (c != NULL && !(c->flags & F_DEAD)) {
		tcp_app_events(c);
		tcp_output(c);
	}
drop:
	if (m)
		rte_pktmbuf_free(m);
	tcp_reap(tc);
}

/* ICMP says the path to a flow's peer carries at most mtu bytes. */
static void tcp_pmtu_update(struct net_ctx *ctx, const struct net_tuple *t, uint16_t mtu, uint32_t seq)
{
	struct tcp_ctx *tc = T(ctx);
	struct tcp_conn *c;
	unsigned floor = t->family == NET_AF_INET ? 576 : 1280;

	if (tc == NULL)
		return;
	c = tcp_conn_lookup(tc, t, tcp_tuple_hash(tc, t));
	if (c == NULL || (c->flags & F_DEAD) || mtu >= c->pmtu)
		return;
	/* RFC 5927 4.1: the quoted segment must be one in flight, not a blind guess */
	if (SEQ_LT(seq, c->snd_una) || SEQ_GEQ(seq, c->snd_max))
		return;
	c->pmtu = MAX(mtu, (uint16_t)floor);
	mss_update(c);
	/* resend what was in flight at the new size */
	if (c->snd_una != c->snd_max && c->state >= TS_ESTABLISHED) {
		c->snd_nxt = c->snd_una;
		tcp_output(c);
	}
}

/* ---- timers ---- */

/* Retransmission timeout. */
static void rto_fire(struct tcp_conn *c)
{
	struct net_ctx *ctx = c->ctx;

	c->t_rtx = 0;
	if (++c->retries > (c->state == TS_SYN_SENT || c->state == TS_SYN_RCVD ? TCP_SYN_RETRIES
										 : TCP_RETRIES)) {
		if (c->state == TS_SYN_RCVD && (c->flags & F_PASSIVE))
			tcp_conn_free(c);
		else
			tcp_conn_end(c, TCP_END_TIMEOUT);
		return;
	}
	ctx->st.tcp_rto++;
	c->rto = MIN(c->rto * 2, TCP_RTO_MAX_US);
	c->flags &= ~F_RTT_TIMING;
	if (c->state == TS_SYN_SENT || c->state == TS_SYN_RCVD) {
		ctx->st.tcp_retransmits++;
		tcp_send_syn(c);
		rtx_start(c);
		return;
	}
	if (c->snd_una == c->snd_max)
		return;
	c->ssthresh = MAX(flight(c) / 2, 2u * c->mss);
	c->cwnd = c->mss;
	c->recover = c->snd_max;
	c->flags &= ~F_RECOVERY;
	c->dupacks = 0;
	c->nsacked = 0;              /* RFC 6675: the scoreboard may be reneged */
	c->snd_nxt = c->snd_una;
	c->t_rtx = ctx->now_us + c->rto;
	tcp_output(c);
}

/* Zero-window probe: a segment below snd_una that forces an ACK with the window. */
static void persist_fire(struct tcp_conn *c)
{
	c->t_persist = 0;
	if (c->snd_wnd > 0) {
		/* a window too small for a full segment: send what fits anyway */
		uint32_t n = tcp_send_at(c, c->snd_nxt, MIN(c->snd_wnd, (uint32_t)c->mss));

		c->snd_nxt += n;
		if (SEQ_GT(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		if (n)
			rtx_start(c);
		return;
	}
	c->ctx->st.tcp_zero_window_probes++;
	tcp_conn_emit(c, c->snd_una - 1, 0, TH_ACK);
	c->persist_backoff++;
	tcp_output(c);               /* re-arms the persist timer */
}

/* Run one connection's due timers. */
static void conn_timers(struct tcp_conn *c)
{
	uint64_t now = c->ctx->now_us;

	if (c->t_state && now >= c->t_state) {
		c->t_state = 0;
		if (c->state == TS_TIME_WAIT || c->state == TS_FIN_WAIT_2) {
			tcp_conn_end(c, TCP_END_CLOSED);
			return;
		}
	}
	if (c->t_rtx && now >= c->t_rtx) {
		rto_fire(c);
		if (c->flags & F_DEAD)
			return;
	}
	if (c->t_persist && now >= c->t_persist) {
		persist_fire(c);
		if (c->flags & F_DEAD)
			return;
	}
	if (c->t_delack && now >= c->t_delack) {
		/* the peer waited for this ACK (request/response with Nagle on its side):
		 * acknowledge the next segments at once, as Linux's quick-ACK mode does */
		c->t_delack = 0;
		c->quickacks = (uint16_t)T(c->ctx)->p.quickacks;
		tcp_send_ack(c);
	}
	if (c->t_user && now >= c->t_user) {
		c->t_user = 0;
		if (!(c->flags & F_DETACHED) && c->ops && c->ops->timeout)
			c->ops->timeout(c);
		if (c->flags & F_DEAD)
			return;
	}
	tcp_app_events(c);
	if (!(c->flags & F_DEAD)) {
		tcp_output(c);
		tcp_timer_arm(c);
	}
}

/* Deliver callbacks owed outside an input round (e.g. peer_closed after a late read). */
static void tcp_events_run(struct tcp_ctx *tc)
{
	while (tc->events != NULL) {
		struct tcp_conn *c = tc->events;

		tc->events = c->enext;
		c->enext = NULL;
		c->flags &= ~F_EVENT_PENDING;
		if (c->flags & F_DEAD)
			continue;
		tcp_app_events(c);
		if (!(c->flags & F_DEAD))
			tcp_output(c);
	}
}

/* Advance the wheel to now and fire what is due. */
static void tcp_timers(struct net_ctx *ctx)
{
	struct tcp_ctx *tc = T(ctx);
	uint64_t now_tick = ctx->now_us / 1000;
	unsigned steps = 0;

	tcp_events_run(tc);
	while (tc->wheel_tick < now_tick && steps++ < WHEEL_SLOTS) {
		uint64_t tick = ++tc->wheel_tick;
		unsigned slot = tick % WHEEL_SLOTS;
		struct tcp_conn *c, *next, *due = NULL;

		/* take the due entries off the wheel first; later laps stay filed */
		for (c = tc->wheel[slot]; c != NULL; c = next) {
			next = c->wnext;
			if (c->wheel_at / 1000 > now_tick)
				continue;       /* a later lap (when catching up, all due by now fires) */
			tcp_wheel_remove(c);
			c->in_due = 1;
			c->wnext = due;
			due = c;
		}
		while ((c = due) != NULL) {
			due = c->wnext;
			c->wnext = NULL;
			c->in_due = 0;
			if (c->flags & F_DEAD)
				continue;
			conn_timers(c);
		}
	}
	if (tc->wheel_tick < now_tick)
		tc->wheel_tick = now_tick - 1;   /* a lap behind: catch up next call */
	tcp_events_run(tc);
	tcp_reap(tc);
}

/* ---- setup ---- */

/* TCP as the IP layer calls it. */
static const struct net_protosw tcp_protosw = {
	.proto = IPPROTO_TCP,
	.hdr_min = 20,
	.drop_short = NET_DROP_tcp_short,
	.input = tcp_input,
	.ctlinput = tcp_pmtu_update,
	.timers = tcp_timers,
	.destroy = tcp_ctx_free,
};

/* Allocate the TCP state of one lcore and register TCP with its IP layer. */
int tcp_ctx_init(struct net_ctx *ctx, const struct tcp_params *p)
{
	struct tcp_ctx *tc = rte_zmalloc("tcp_ctx", sizeof(*tc), RTE_CACHE_LINE_SIZE);
	uint32_t hsize = 16;
	unsigned i;
	int rc;

	if (tc == NULL)
		return -ENOMEM;
	tc->p = *p;
	tc->conns = rte_zmalloc("tcp_conns", sizeof(struct tcp_conn) * p->max_conns,
				RTE_CACHE_LINE_SIZE);
	while (hsize < p->max_conns)
		hsize <<= 1;
	tc->htab = rte_zmalloc("tcp_htab", sizeof(*tc->htab) * hsize, RTE_CACHE_LINE_SIZE);
	rc = tc->conns == NULL || tc->htab == NULL ? -ENOMEM : net_proto_register(ctx, &tcp_protosw);
	if (rc < 0) {
		rte_free(tc->conns);
		rte_free(tc->htab);
		rte_free(tc);
		return rc;
	}
	tc->hmask = hsize - 1;
	for (i = p->max_conns; i-- > 0;) {
		tc->conns[i].lnext = tc->free;
		tc->free = &tc->conns[i];
	}
	tc->wheel_tick = ctx->now_us / 1000;
	tc->start_us = ctx->now_us;
	tc->next_port = (uint16_t)(32768 + (p->secret[0] << 8 | p->secret[1]) % 28000);
	ctx->tcp = tc;
	return 0;
}

/* Free the TCP state: every connection's buffers, the tables. */
static void tcp_ctx_free(struct net_ctx *ctx)
{
	struct tcp_ctx *tc = T(ctx);
	unsigned i;

	if (tc == NULL)
		return;
	for (i = 0; i < tc->p.max_conns; i++)
		if (tc->conns[i].ctx != NULL && !(tc->conns[i].flags & F_DEAD))
			tcp_conn_buffers_free(&tc->conns[i]);
	rte_free(tc->conns);
	rte_free(tc->htab);
	rte_free(tc);
	ctx->tcp = NULL;
}

/* Register a listening port. */
int tcp_listen(struct net_ctx *ctx, uint16_t port, const struct tcp_app_ops *ops, void *arg)
{
	struct tcp_ctx *tc = T(ctx);
	unsigned i;

	if (port == 0)
		return -EINVAL;
	for (i = 0; i < tc->nls; i++)
		if (tc->ls[i].port == port)
			return -EADDRINUSE;
	if (tc->nls == RTE_DIM(tc->ls))
		return -ENOSPC;
	tc->ls[tc->nls].port = port;
	tc->ls[tc->nls].ops = ops;
	tc->ls[tc->nls].arg = arg;
	tc->nls++;
	return 0;
}

/* Active open; the source port is one whose return traffic this worker owns. */
struct tcp_conn *tcp_connect(struct net_ctx *ctx, unsigned ifidx, uint8_t family,
			     const struct net_addr *raddr, uint16_t rport,
			     const struct tcp_app_ops *ops, void *app)
{
	struct tcp_ctx *tc = T(ctx);
	struct net_if *ifp = &ctx->ifs[ifidx];
	struct net_tuple t;
	struct tcp_conn *c, *old;
	unsigned tries;
	uint32_t h = 0;

	if (ifidx >= ctx->nifs || (family == NET_AF_INET ? !ifp->has_ip4 : !ifp->has_ip6)) {
		errno = EADDRNOTAVAIL;
		return NULL;
	}
	if (tc->nconns >= tc->p.max_conns) {
		errno = EMFILE;
		return NULL;
	}
	memset(&t, 0, sizeof(t));
	t.family = family;
	t.ifidx = (uint8_t)ifidx;
	t.raddr = *raddr;
	t.rport = rport;
	if (family == NET_AF_INET)
		memcpy(t.laddr.a, &ifp->ip4, 4);
	else
		memcpy(t.laddr.a, ifp->ip6, 16);
	for (tries = 0; tries < 65536; tries++) {
		uint16_t port = tc->next_port++;

		if (tc->next_port < 1024)
			tc->next_port = 1024;
		if (port < 1024)
			continue;
		t.lport = port;
		if (net_flow_owner(ctx, &t) != ctx->worker)
			continue;
		h = tcp_tuple_hash(tc, &t);
		old = tcp_conn_lookup(tc, &t, h);
		if (old == NULL)
			break;
		if (old->state == TS_TIME_WAIT && (old->flags & F_TS)) {
			/* reuse our own TIME_WAIT (timestamps protect the new incarnation) */
			tcp_conn_free(old);   /* reaped later: never inside a timer round */
			break;
		}
	}
	if (tries == 65536) {
		errno = EADDRINUSE;
		return NULL;
	}
	c = tcp_conn_alloc(ctx, &t, h);
	if (c == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	c->ops = ops;
	c->app = app;
	c->state = TS_SYN_SENT;
	tcp_set_iss(c, tcp_isn(ctx, &t));
	c->rcv_ws = tcp_rcv_wscale(tc);
	c->flags |= F_WS | F_SACK | F_TS;   /* offered; kept only if the peer agrees */
	tcp_send_syn(c);
	c->flags &= ~(F_WS | F_SACK | F_TS);
	c->rcv_ws = 0;
	rtx_start(c);
	tcp_timer_arm(c);
	return c;
}

/* Attach the application to a connection. */
void tcp_set_app(struct tcp_conn *c, const struct tcp_app_ops *ops, void *app)
{
	c->ops = ops;
	c->app = app;
}

void *tcp_app(const struct tcp_conn *c)
{
	return c->app;
}

const struct net_tuple *tcp_tuple(const struct tcp_conn *c)
{
	return &c->t;
}

struct net_ctx *tcp_net(const struct tcp_conn *c)
{
	return c->ctx;
}

/* ---- reading ---- */

/* Head of the receive queue, zero-copy. */
const uint8_t *tcp_peek(struct tcp_conn *c, size_t *len)
{
	if (c->rxq == NULL) {
		*len = 0;
		return NULL;
	}
	*len = c->rxq->data_len;
	return rte_pktmbuf_mtod(c->rxq, const uint8_t *);
}

size_t tcp_readable(const struct tcp_conn *c)
{
	return c->rcv_queued;
}

/* Drop consumed bytes; send a window update if the window opened enough. */
void tcp_consume(struct tcp_conn *c, size_t n)
{
	uint32_t before = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;

	while (n > 0 && c->rxq != NULL) {
		struct rte_mbuf *m = c->rxq;

		if (n < m->data_len) {
			rte_pktmbuf_adj(m, (uint16_t)n);
			c->rcv_queued -= (uint32_t)n;
			break;
		}
		n -= m->data_len;
		c->rcv_queued -= m->data_len;
		c->rxq = m->next;
		if (c->rxq == NULL)
			c->rxq_tail = NULL;
		m->next = NULL;
		rte_pktmbuf_free(m);
	}
	if ((c->flags & F_FIN_RCVD) && c->rcv_queued == 0 && !(c->flags & F_PEER_NOTIFIED) &&
	    !(c->flags & F_EVENT_PENDING)) {
		/* peer_closed() is owed: deliver it from the poll loop, not from here */
		c->flags |= F_EVENT_PENDING;
		c->enext = T(c->ctx)->events;
		T(c->ctx)->events = c;
	}
	/* window update when it grew by two segments or half the buffer (RFC 9293 3.8.6.2.2) */
	if (c->state >= TS_ESTABLISHED && !(c->flags & F_FIN_RCVD) && !(c->flags & F_DEAD)) {
		uint32_t now = tcp_rcv_window(c);

		if (now >= before + 2u * our_mss(c) || (before == 0 && now > 0) ||
		    now >= before + T(c->ctx)->p.rcvbuf / 2)
			tcp_send_ack(c);
	}
}

/* Copy out and consume. */
size_t tcp_recv(struct tcp_conn *c, void *buf, size_t len)
{
	size_t got = 0, n;
	const uint8_t *p;

	while (got < len && (p = tcp_peek(c, &n)) != NULL) {
		n = MIN(n, len - got);
		memcpy((uint8_t *)buf + got, p, n);
		got += n;
		tcp_consume(c, n);
	}
	return got;
}

/* ---- writing ---- */

size_t tcp_send_space(const struct tcp_conn *c)
{
	uint32_t cap = T(c->ctx)->p.sndbuf;

	if (c->flags & (F_FIN_QUEUED | F_DEAD))
		return 0;
	if (c->state != TS_ESTABLISHED && c->state != TS_CLOSE_WAIT &&
	    c->state != TS_SYN_SENT && c->state != TS_SYN_RCVD)
		return 0;
	return c->sbuf_len >= cap ? 0 : cap - c->sbuf_len;
}

size_t tcp_unacked(const struct tcp_conn *c)
{
	return c->sbuf_len;
}

/* Copy into the send ring and push out what the windows allow. */
size_t tcp_send(struct tcp_conn *c, const void *buf, size_t len)
{
	size_t space = tcp_send_space(c), n = MIN(space, len), first;
	uint32_t cap = T(c->ctx)->p.sndbuf, pos;

	if (n < len)
		c->flags |= F_WANT_WRITE;
	if (n == 0)
		return 0;
	if (c->sbuf == NULL) {
		c->sbuf = malloc(cap);
		if (c->sbuf == NULL) {
			c->flags |= F_WANT_WRITE;
			return 0;
		}
		c->sbuf_cap = cap;
		c->sbuf_start = 0;
	}
	pos = (c->sbuf_start + c->sbuf_len) % c->sbuf_cap;
	first = MIN(n, (size_t)(c->sbuf_cap - pos));
	memcpy(c->sbuf + pos, buf, first);
	if (first < n)
		memcpy(c->sbuf, (const uint8_t *)buf + first, n - first);
	c->sbuf_len += (uint32_t)n;
	tcp_output(c);
	return n;
}

/* Queue our FIN after the data. */
void tcp_shutdown(struct tcp_conn *c)
{
	if (c->flags & (F_FIN_QUEUED | F_DEAD))
		return;
	switch (c->state) {
	case TS_SYN_SENT:
		tcp_conn_end(c, TCP_END_ABORTED);
		return;
	case TS_SYN_RCVD:
	case TS_ESTABLISHED:
		c->state = TS_FIN_WAIT_1;
		break;
	case TS_CLOSE_WAIT:
		c->state = TS_LAST_ACK;
		break;
	default:
		return;
	}
	c->flags |= F_FIN_QUEUED;
	if (c->sbuf_len == 0)
		c->sbuf_seq = c->snd_max;    /* the FIN takes the next sequence number */
	tcp_output(c);
}

/* Shut down and forget the application. */
void tcp_close(struct tcp_conn *c)
{
	if (c->flags & F_DEAD)
		return;
	c->flags |= F_DETACHED;
	c->ops = NULL;
	c->app = NULL;
	c->t_user = 0;
	/* unread data at close means the peer must learn it was lost (RFC 9293 3.6) */
	if (c->rcv_queued > 0 && !(c->flags & F_FIN_RCVD)) {
		tcp_abort(c);
		return;
	}
	tcp_shutdown(c);
	if (c->state == TS_FIN_WAIT_2)
		c->t_state = c->ctx->now_us + TCP_FIN_WAIT2_US;
	tcp_timer_arm(c);
}

/* Reset and free. */
void tcp_abort(struct tcp_conn *c)
{
	if (c->flags & F_DEAD)
		return;
	if (c->state != TS_SYN_SENT && c->state != TS_TIME_WAIT && c->state != TS_CLOSED) {
		tcp_emit(c->ctx, NULL, &c->t, c->snd_nxt, 0, TH_RST, 0, 0, 0, NULL);
		c->ctx->st.tcp_resets_out++;
	}
	c->flags |= F_DETACHED;
	tcp_conn_free(c);
}

/* Call writable() when send space frees, even if no tcp_send() fell short. */
void tcp_want_writable(struct tcp_conn *c)
{
	c->flags |= F_WANT_WRITE;
}

void tcp_set_timeout(struct tcp_conn *c, unsigned ms)
{
	if (c->flags & F_DEAD)
		return;
	c->t_user = ms ? c->ctx->now_us + (uint64_t)ms * 1000 : 0;
	tcp_timer_arm(c);
}

const char *tcp_state_name(const struct tcp_conn *c)
{
	return state_names[c->state];
}

unsigned tcp_conn_count(const struct net_ctx *ctx)
{
	return ctx->tcp ? ctx->tcp->nconns : 0;
}
