/*
 * tcp_cc.c - what the sender learns from ACKs: RTT samples and the RTO
 * (RFC 6298), the SACK scoreboard (RFC 2018, 6675), slow start and
 * congestion avoidance (RFC 5681), fast retransmit and NewReno recovery
 * (RFC 6582) that repairs the holes the scoreboard shows.
 */
#include "tcp_var.h"

/* Fold an RTT sample into SRTT/RTTVAR and recompute the RTO (RFC 6298). */
void tcp_rtt_sample(struct tcp_conn *c, uint32_t r)
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

/* Drop scoreboard blocks at or below snd_una. */
void tcp_sack_trim(struct tcp_conn *c)
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
void tcp_sack_update(struct tcp_conn *c, const struct tcp_opts *o)
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
int tcp_rtx_hole(struct tcp_conn *c)
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
void tcp_fast_retransmit(struct tcp_conn *c)
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
void tcp_cc_ack(struct tcp_conn *c, uint32_t acked)
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
