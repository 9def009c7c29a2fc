/*
 * tcp_subr.c - the connection table of one lcore's TCP: keyed hashes of a
 * connection's identity (SipHash-2-4: the table's hash, ISNs per RFC 6528,
 * timestamp offsets, the MAC of SYN cookies), lookup and allocation, the
 * indexes a connection is filed in (hash chain, timer wheel by deadline,
 * the bounded TIME_WAIT list) and its end: the last callbacks, freeing,
 * and reaping at the end of a round.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <rte_jhash.h>

#include "tcp_var.h"

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
uint64_t tcp_tuple_mac(const struct tcp_ctx *tc, const struct net_tuple *t, uint32_t extra)
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
uint32_t tcp_isn(struct net_ctx *ctx, const struct net_tuple *t)
{
	return (uint32_t)(ctx->now_us / 4) + (uint32_t)tcp_tuple_mac(T(ctx), t, 0);
}

/* ---- connection table ---- */

/*
 * Hash of a tuple for the connection table. rte_jhash() reads 32-bit words,
 * and the addresses sit at offsets 6 and 22 of struct net_tuple: copy them
 * to aligned words first (an unaligned uint32_t load is undefined behaviour;
 * found by tests/fuzz/fuzz_tcp.c under UBSan). Same bytes, same hash.
 */
uint32_t tcp_tuple_hash(const struct tcp_ctx *tc, const struct net_tuple *t)
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
struct tcp_conn *tcp_conn_lookup(struct tcp_ctx *tc, const struct net_tuple *t, uint32_t h)
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
struct tcp_conn *tcp_conn_alloc(struct net_ctx *ctx, const struct net_tuple *t, uint32_t h)
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

/* Window scale we offer for our receive buffer. */
uint8_t tcp_rcv_wscale(const struct tcp_ctx *tc)
{
	uint8_t s = 0;

	while (s < 14 && (65535u << s) < tc->p.rcvbuf)
		s++;
	return s;
}

/* Choose our initial sequence number and everything that starts from it. */
void tcp_set_iss(struct tcp_conn *c, uint32_t iss)
{
	c->iss = iss;
	c->snd_una = c->snd_nxt = c->snd_max = iss;
	c->snd_wl2 = iss;
	c->recover = iss;
	c->sbuf_seq = iss + 1;
}

/* ---- the timer wheel: connections filed by their earliest deadline ---- */

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
void tcp_wheel_remove(struct tcp_conn *c)
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

/* Is any of a connection's deadlines due at now? */
int tcp_timer_due(const struct tcp_conn *c, uint64_t now)
{
	uint64_t d = conn_deadline(c);

	return d != 0 && d <= now;
}

/*
 * File a connection in the wheel under its earliest deadline. A deadline
 * that moved later (the retransmission timer pushed on by every segment,
 * the RTO giving way to the session's timeout) leaves the connection where
 * it is filed: it is then found early, tcp_timers() sees nothing due and
 * files it again (tcp_timer_due). Most connections end before that, and
 * the unlinking and relinking per segment, which showed in the plain SMTP
 * profile, is saved.
 */
void tcp_timer_arm(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);
	uint64_t d = conn_deadline(c);
	unsigned slot;

	if (c->in_due)
		return;                  /* tcp_timers() re-arms it after firing */
	if (d == c->wheel_at || (d != 0 && c->wheel_at != 0 && d > c->wheel_at))
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

/* ---- the end of a connection ---- */

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
void tcp_conn_buffers_free(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);

	mbuf_list_free(c->rxq);
	c->rxq = c->rxq_tail = NULL;
	mbuf_list_free(c->ooo);
	c->ooo = NULL;
	tc->ooo_total -= c->ooo_bytes;
	c->ooo_bytes = 0;
	c->rcv_queued = 0;
	tcp_sbuf_free(c);
	c->sbuf_len = 0;
}

/*
 * Send rings. A session's replies are short and each is ACKed before the
 * next, so a ring is allocated and freed per reply (an idle connection
 * holds none): rings of the first size come from and go back to spares of
 * the worker (common/spare.h) rather than malloc.
 */
static struct spare *ring_spare(struct tcp_ctx *tc, uint32_t cap)
{
	return cap == TCP_SBUF_MIN ? &tc->rings : NULL;
}

uint8_t *tcp_ring_get(struct tcp_ctx *tc, uint32_t cap)
{
	return spare_get(ring_spare(tc, cap), cap);
}

void tcp_ring_put(struct tcp_ctx *tc, uint8_t *ring, uint32_t cap)
{
	spare_put(ring_spare(tc, cap), ring, cap);
}

/* Give the send ring back (emptied or not: its bytes are forgotten). */
void tcp_sbuf_free(struct tcp_conn *c)
{
	tcp_ring_put(T(c->ctx), c->sbuf, c->sbuf_cap);
	c->sbuf = NULL;
	c->sbuf_cap = c->sbuf_start = 0;
}

/* The connection is over: tell the application and free it. */
void tcp_conn_end(struct tcp_conn *c, enum tcp_end why)
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
void tcp_time_wait(struct tcp_conn *c)
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
void tcp_conn_free(struct tcp_conn *c)
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
	/* on the output list it stays (skipped as dead): it is reaped after the list is run */
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
