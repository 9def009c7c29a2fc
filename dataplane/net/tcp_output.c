/*
 * tcp_output.c - what one lcore's TCP sends: the window we advertise,
 * options (MSS, window scale, SACK-permitted, timestamps, SACK blocks of
 * our out-of-order queue), segments of a connection and stateless ones
 * (RST, SYN cookie), ACKs and RFC 5961 challenge ACKs, SYN and SYN-ACK,
 * and new data as far as the send and congestion windows allow, with
 * sender silly-window avoidance and the persist timer. Nagle is off.
 */
#include <string.h>
#include <netinet/in.h>

#include "tcp_var.h"

/* Receive window we can offer now (bytes). */
static uint32_t rcv_space(const struct tcp_conn *c)
{
	uint32_t used = c->rcv_queued + c->ooo_bytes, buf = T(c->ctx)->p.rcvbuf;

	return used >= buf ? 0 : buf - used;
}

/* Window to advertise: never shrinks the right edge, avoids silly windows. */
uint32_t tcp_rcv_window(struct tcp_conn *c)
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
void tcp_emit(struct net_ctx *ctx, struct tcp_conn *c, const struct net_tuple *t,
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
void tcp_conn_emit(struct tcp_conn *c, uint32_t seq, uint32_t len, uint8_t flags)
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
		c->flags &= ~(F_ACK_NOW | F_ACK_QUICK);
	}
	tcp_emit(c->ctx, c, &c->t, seq, (flags & TH_ACK) ? c->rcv_nxt : 0, flags, wnd,
	     len ? seq - c->sbuf_seq : 0, len, NULL);
}

/* An ACK now, with our current window and SACK blocks. */
void tcp_send_ack(struct tcp_conn *c)
{
	tcp_conn_emit(c, c->snd_nxt, 0, TH_ACK);
}

/* Reply RST to a segment that belongs to nothing (RFC 9293 3.10.7.1). */
void tcp_send_rst(struct net_ctx *ctx, const struct net_tuple *t, const struct seg *s)
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
void tcp_challenge_ack(struct tcp_conn *c)
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

/* Send our SYN or SYN-ACK. */
void tcp_send_syn(struct tcp_conn *c)
{
	uint8_t flags = c->state == TS_SYN_SENT ? TH_SYN : TH_SYN | TH_ACK;

	tcp_conn_emit(c, c->iss, 0, flags);
	c->snd_nxt = c->iss + 1;
	c->snd_max = c->iss + 1;
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
uint32_t tcp_send_at(struct tcp_conn *c, uint32_t seq, uint32_t max_len)
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
void tcp_output(struct tcp_conn *c)
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
	if (c->flags & F_ACK_QUICK) {
		/*
		 * In-order data owed an ACK now. When the reply waits on another
		 * connection (tcp_delay_ack: the relay's backend) and this is the
		 * first unacknowledged segment, it becomes a delayed ACK, which the
		 * reply carries if it comes within TCP_DELACK_US.
		 */
		if ((c->flags & F_ACK_DELAY) && c->delack_segs < 2) {
			if (c->t_delack == 0)
				c->t_delack = c->ctx->now_us + TCP_DELACK_US;
		} else {
			c->flags |= F_ACK_NOW;
		}
		c->flags &= ~F_ACK_QUICK;
	}
	if ((c->flags & (F_ACK_NOW | F_ACK_HOLD)) == F_ACK_NOW)
		tcp_send_ack(c);
	tcp_timer_arm(c);
}
