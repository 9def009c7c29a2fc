/*
 * tcp_timer.c - what fires on one lcore's timer wheel (1 ms ticks): the
 * retransmission timeout with backoff and give-up, zero-window probes, the
 * delayed ACK (and Linux's quick-ACK mode after it), the application's
 * timer, and the ends of TIME_WAIT and FIN_WAIT_2.
 */
#include "tcp_var.h"

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

	if (!tcp_timer_due(c, now)) {
		tcp_timer_arm(c);        /* filed early (see tcp_timer_arm): file it again */
		return;
	}

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
	tcp_app_deliver(c);
	if (!(c->flags & F_DEAD)) {
		tcp_timer_arm(c);
	}
}

/* Advance the wheel to now and fire what is due. */
void tcp_timers(struct net_ctx *ctx)
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
