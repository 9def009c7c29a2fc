/*
 * tcp_var.h - what the files of our TCP share, private to dataplane/net
 * (the public headers are tcp.h, the stack's side, and tcp_app.h, the
 * application's). One worker lcore's TCP, split by concern:
 *
 *   tcp.c           set-up, teardown, registration with IP (net_protosw)
 *   tcp_input.c     segments from IP: the state machine, ACKs, FIN; ICMP news
 *   tcp_reass.c     the receive queue and the out-of-order queue
 *   tcp_output.c    segments out: options, windows, ACKs, RST, SYN, data
 *   tcp_cc.c        RTT and RTO, the SACK scoreboard, congestion control
 *   tcp_syncookie.c SYN cookies
 *   tcp_timer.c     what fires on the timer wheel
 *   tcp_subr.c      the connection table: hashes, lookup, allocation, the
 *                   timer wheel and TIME_WAIT indexes, a connection's end
 *   tcp_usrreq.c    the application's requests and the callbacks owed to it
 *
 * Calls between these files go one way only: input and timer call the
 * others; usrreq and syncookie call output and subr; cc calls output;
 * output calls subr (and net.c's output); subr and reass call no other
 * file. net.c calls none of them: it reaches TCP through the net_protosw
 * that tcp.c registers.
 */
#ifndef MX_TCP_VAR_H
#define MX_TCP_VAR_H

#include <stdint.h>
#include <rte_mbuf.h>

#include "tcp.h"
#include "common/spare.h"

enum tcp_state {
	TS_CLOSED = 0, TS_LISTEN, TS_SYN_SENT, TS_SYN_RCVD, TS_ESTABLISHED,
	TS_FIN_WAIT_1, TS_FIN_WAIT_2, TS_CLOSING, TS_TIME_WAIT, TS_CLOSE_WAIT, TS_LAST_ACK,
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
#define F_OUTQ        0x20000 /* on the output list (written inside callbacks) */
#define F_ACK_HOLD    0x40000 /* tcp_hold_ack(): a pure ACK waits for the reply until the round ends */
#define F_ACK_QUICK   0x80000 /* in-order data wants its ACK now (quick-ACK mode, every second segment) */
#define F_ACK_DELAY   0x100000 /* tcp_delay_ack(): the reply waits on another connection */

#define TCP_MSS_DEFAULT_V4 536
#define TCP_MSS_DEFAULT_V6 1220
#define TCP_RTO_INIT_US    1000000u
#define TCP_RTO_MIN_US     200000u
#define TCP_RTO_MAX_US     60000000u
#define TCP_DELACK_US      40000u
#define TCP_SBUF_MIN       1024u   /* first size of a send ring (tcp_send) */
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
	struct tcp_conn *onext;          /* output list (tcp_app_deliver) */
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
	struct tcp_conn *outq, **outq_tail; /* written inside callbacks: tcp_output() once they return */
	unsigned in_cb;                  /* callbacks being delivered (tcp_app_deliver) */
	uint64_t chal_window;            /* second the challenge-ACK budget belongs to */
	unsigned chal_count;
	/* send rings of TCP_SBUF_MIN bytes freed (every reply ACKed frees its ring), for the
	   next (common/spare.h) */
	struct spare rings;
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

#define SEQ_LT(a, b)  ((int32_t)((a) - (b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((a) - (b)) <= 0)
#define SEQ_GT(a, b)  ((int32_t)((a) - (b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((a) - (b)) >= 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* The TCP state of a worker's stack. */
static inline struct tcp_ctx *T(struct net_ctx *ctx)
{
	return ctx->tcp;
}

/* Our timestamp clock: milliseconds. */
static inline uint32_t ts_now(const struct net_ctx *ctx)
{
	return (uint32_t)(ctx->now_us / 1000);
}

/* MSS we advertise: what fits our interface MTU. */
static inline uint16_t our_mss(const struct tcp_conn *c)
{
	unsigned hdr = c->t.family == NET_AF_INET ? 40 : 60;

	return (uint16_t)(c->ctx->ifs[c->t.ifidx].mtu - hdr);
}

/* Start the retransmission timer if it is not running. */
static inline void rtx_start(struct tcp_conn *c)
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

/* Our FIN has been acknowledged? */
static inline int our_fin_acked(const struct tcp_conn *c)
{
	return fin_sent(c) && SEQ_GT(c->snd_una, fin_seq(c));
}

/* Bytes in flight, for ssthresh. */
static inline uint32_t flight(const struct tcp_conn *c)
{
	return c->snd_max - c->snd_una;
}

/* Put connections freed during this round back on the free list. */
static inline void tcp_reap(struct tcp_ctx *tc)
{
	while (tc->dead != NULL) {
		struct tcp_conn *c = tc->dead;

		tc->dead = c->lnext;
		c->lnext = tc->free;
		tc->free = c;
	}
}

/* tcp_subr.c */
uint64_t tcp_tuple_mac(const struct tcp_ctx *tc, const struct net_tuple *t, uint32_t extra);
uint32_t tcp_isn(struct net_ctx *ctx, const struct net_tuple *t);
uint32_t tcp_tuple_hash(const struct tcp_ctx *tc, const struct net_tuple *t);
struct tcp_conn *tcp_conn_lookup(struct tcp_ctx *tc, const struct net_tuple *t, uint32_t h);
struct tcp_conn *tcp_conn_alloc(struct net_ctx *ctx, const struct net_tuple *t, uint32_t h);
uint8_t tcp_rcv_wscale(const struct tcp_ctx *tc);
void tcp_set_iss(struct tcp_conn *c, uint32_t iss);
void tcp_wheel_remove(struct tcp_conn *c);
void tcp_timer_arm(struct tcp_conn *c);
int tcp_timer_due(const struct tcp_conn *c, uint64_t now);
uint8_t *tcp_ring_get(struct tcp_ctx *tc, uint32_t cap);
void tcp_ring_put(struct tcp_ctx *tc, uint8_t *ring, uint32_t cap);
void tcp_sbuf_free(struct tcp_conn *c);
void tcp_conn_buffers_free(struct tcp_conn *c);
void tcp_conn_end(struct tcp_conn *c, enum tcp_end why);
void tcp_time_wait(struct tcp_conn *c);
void tcp_conn_free(struct tcp_conn *c);

/* tcp_output.c */
uint32_t tcp_rcv_window(struct tcp_conn *c);
void tcp_emit(struct net_ctx *ctx, struct tcp_conn *c, const struct net_tuple *t,
	      uint32_t seq, uint32_t ack, uint8_t flags, uint32_t wnd,
	      uint32_t data_off, uint32_t len, const struct tcp_opts *synopt);
void tcp_conn_emit(struct tcp_conn *c, uint32_t seq, uint32_t len, uint8_t flags);
void tcp_send_ack(struct tcp_conn *c);
void tcp_send_rst(struct net_ctx *ctx, const struct net_tuple *t, const struct seg *s);
void tcp_challenge_ack(struct tcp_conn *c);
void tcp_send_syn(struct tcp_conn *c);
uint32_t tcp_send_at(struct tcp_conn *c, uint32_t seq, uint32_t max_len);
void tcp_output(struct tcp_conn *c);

/* tcp_cc.c */
void tcp_rtt_sample(struct tcp_conn *c, uint32_t r);
void tcp_sack_trim(struct tcp_conn *c);
void tcp_sack_update(struct tcp_conn *c, const struct tcp_opts *o);
int tcp_rtx_hole(struct tcp_conn *c);
void tcp_fast_retransmit(struct tcp_conn *c);
void tcp_cc_ack(struct tcp_conn *c, uint32_t acked);

/* tcp_syncookie.c */
void tcp_syncookie_send(struct net_ctx *ctx, const struct net_tuple *t, const struct seg *s);
int tcp_syncookie_check(struct net_ctx *ctx, const struct net_tuple *t, const struct seg *s,
			struct tcp_opts *syn);

/* tcp_reass.c */
void tcp_rxq_append(struct tcp_conn *c, struct rte_mbuf *m);
void tcp_reass_drain(struct tcp_conn *c);
int tcp_reass_insert(struct tcp_conn *c, struct rte_mbuf *m, uint32_t seq);

/* tcp_input.c: the IP layer's input and ctlinput (struct net_protosw) */
void tcp_input(struct net_ctx *ctx, struct net_tuple *t, struct rte_mbuf *m, unsigned len);
void tcp_pmtu_update(struct net_ctx *ctx, const struct net_tuple *t, uint16_t mtu, uint32_t seq);

/* tcp_timer.c: the IP layer's timers hook */
void tcp_timers(struct net_ctx *ctx);

/* tcp_usrreq.c */
void tcp_app_events(struct tcp_conn *c);
void tcp_app_deliver(struct tcp_conn *c);
void tcp_events_run(struct tcp_ctx *tc);

#endif
