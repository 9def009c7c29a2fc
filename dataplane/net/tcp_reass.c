/*
 * tcp_reass.c - the receive queue of a connection: in-order payload stays
 * in the mbufs it arrived in (small segments coalesced into the tail mbuf,
 * so tiny packets cannot pin many mbufs) until the application consumes
 * it; segments beyond rcv_nxt wait in a bounded out-of-order queue, sorted
 * and trimmed of overlaps, whose blocks our SACK option describes.
 */
#include <string.h>

#include "tcp_var.h"

/* Append in-order payload (m's data is the payload) to the receive queue. */
void tcp_rxq_append(struct tcp_conn *c, struct rte_mbuf *m)
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
void tcp_reass_drain(struct tcp_conn *c)
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
int tcp_reass_insert(struct tcp_conn *c, struct rte_mbuf *m, uint32_t seq)
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
