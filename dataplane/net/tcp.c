/*
 * tcp.c - TCP per RFC 9293 for one worker lcore: its set-up, teardown and
 * registration with the IP layer. The protocol lives in tcp_*.c (see
 * tcp_var.h for which file holds what).
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
#include <rte_malloc.h>
#include <netinet/in.h>

#include "tcp_var.h"

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
	spare_drain(&tc->rings);
	rte_free(tc->conns);
	rte_free(tc->htab);
	rte_free(tc);
	ctx->tcp = NULL;
}

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
