/*
 * tcp.h - TCP (RFC 9293) for one worker lcore: the stack's side, its
 * set-up (segments, ICMP news and timers then reach it through the IP
 * layer's protocol table). The application API the SMTP layer and the
 * echo service use is tcp_app.h (no DPDK), included here. What the files
 * of the implementation share is tcp_var.h.
 */
#ifndef MX_TCP_H
#define MX_TCP_H

#include <stdint.h>
#include <stddef.h>
#include "net.h"
#include "tcp_app.h"

/* Per-lcore TCP limits and sizes (from the configuration). */
struct tcp_params {
	unsigned max_conns;
	unsigned syn_backlog;
	unsigned reasm_limit;      /* out-of-order bytes per connection */
	unsigned reasm_total;      /* out-of-order bytes per lcore */
	unsigned rcvbuf, sndbuf;
	unsigned timewait_max;
	unsigned timewait_ms;
	unsigned quickacks;        /* segments ACKed at once at the start and after a delayed
				      ACK fired (Linux's quick-ACK mode); 0 = always delay */
	uint8_t secret[16];        /* ISN and SYN-cookie key, random per process */
};

/*
 * Create the TCP state of one lcore and register TCP with its IP layer
 * (struct net_protosw): segments, ICMP news and timers come to it from
 * net.c from then on, and net_ctx_free() frees it.
 */
int tcp_ctx_init(struct net_ctx *ctx, const struct tcp_params *p);

#endif
