/*
 * udp.h - UDP in our stack (RFC 768, checksums per RFC 768 and RFC 8200
 * 8.1) for clients of one worker lcore, without DPDK types: a connected
 * socket per exchange (the DNS resolver's queries), each bound to a
 * random local port whose return traffic is steered to this worker, and
 * a timer per socket. A datagram is delivered only when it comes from
 * the socket's peer address and port to its local address and port; any
 * other is dropped and counted (udp_no_socket). No listening sockets:
 * mxgate serves nothing over UDP.
 *
 * Lifetime as tcp_app.h: the application owns a socket from udp_connect()
 * until udp_close(), which may be called from its own callbacks.
 */
#ifndef MX_UDP_H
#define MX_UDP_H

#include <stddef.h>
#include <stdint.h>
#include "net_addr.h"

struct net_ctx;
struct udp_sock;

struct udp_ops {
	/* A datagram from the peer (data is valid during the call only). */
	void (*input)(struct udp_sock *u, const uint8_t *data, size_t len);
	/* The timer set with udp_set_timeout() fired. */
	void (*timeout)(struct udp_sock *u);
};

#define UDP_PAYLOAD_MAX 1232   /* what we send at most (fits IPv6's minimum MTU) */

/* UDP for this worker: at most max_socks sockets open at once; 0 or a negative errno. */
int udp_init(struct net_ctx *ctx, unsigned max_socks);

/*
 * A socket to raddr:rport from interface ifidx, on a random local port
 * (1024-65535, unused, steered to this worker). NULL with errno set:
 * EADDRNOTAVAIL (no address of that family), EMFILE (max_socks open),
 * EADDRINUSE (no free port found in a bounded number of tries).
 */
struct udp_sock *udp_connect(struct net_ctx *ctx, unsigned ifidx, uint8_t family, const struct net_addr *raddr,
			     uint16_t rport, const struct udp_ops *ops, void *app);
/* Send one datagram (len <= UDP_PAYLOAD_MAX): 0 or a negative errno. */
int udp_send(struct udp_sock *u, const void *buf, size_t len);
/* Close: no more callbacks, the port is free again. */
void udp_close(struct udp_sock *u);
/* Call ops->timeout after ms milliseconds (0: cancel). */
void udp_set_timeout(struct udp_sock *u, unsigned ms);
void *udp_app(const struct udp_sock *u);
const struct net_tuple *udp_tuple(const struct udp_sock *u);
/* Sockets open now. */
unsigned udp_sock_count(const struct net_ctx *ctx);
/* Unpredictable bits (getrandom(2), buffered per worker): query IDs, ports. */
uint16_t udp_random16(struct net_ctx *ctx);

#endif
