/*
 * tcp_input.c - segments from IP (RFC 9293 3.10.7): checksum and option
 * parsing, the lookup, the state machine of every state (passive open with
 * SYN cookies past the backlog, SYN_SENT and simultaneous open, the
 * acceptability test, RFC 5961 RST and SYN handling, PAWS per RFC 7323,
 * ACK and window processing, payload into the receive queue, FIN), and
 * path MTU news from ICMP.
 */
#include <string.h>
#include <netinet/in.h>

#include "tcp_var.h"

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
			/* every second segment, and every one in quick-ACK mode (tcp_output) */
			c->flags |= F_ACK_QUICK;
			if (c->quickacks > 0)
				c->quickacks--;
		} else if (c->t_delack == 0)
			c->t_delack = c->ctx->now_us + TCP_DELACK_US;
		return;
	}
	tcp_reass_insert(c, m, seq);
	c->flags |= F_ACK_NOW;                     /* duplicate ACK with SACK */
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
		if (c->sbuf_len == 0 && !(c->flags & F_FIN_QUEUED))
			tcp_sbuf_free(c);
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

	if (seglen > 0)                 /* tcp_hold_ack()/tcp_delay_ack() covered what came before */
		c->flags &= ~(F_ACK_HOLD | F_ACK_DELAY);
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
void tcp_input(struct net_ctx *ctx, struct net_tuple *t, struct rte_mbuf *m, unsigned len)
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
		if (!(c->flags & F_DEAD))
			tcp_app_deliver(c);
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
	if (c != NULL && !(c->flags & F_DEAD))
		tcp_app_deliver(c);
drop:
	if (m)
		rte_pktmbuf_free(m);
	tcp_reap(tc);
}

/* ICMP says the path to a flow's peer carries at most mtu bytes. */
void tcp_pmtu_update(struct net_ctx *ctx, const struct net_tuple *t, uint16_t mtu, uint32_t seq)
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
