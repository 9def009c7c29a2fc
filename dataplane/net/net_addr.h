/*
 * net_addr.h - the addresses and connection identities the stack hands to
 * applications, without DPDK (included by net.h and tcp_app.h).
 */
#ifndef MX_NET_ADDR_H
#define MX_NET_ADDR_H

#include <stdint.h>

#define NET_AF_INET  4
#define NET_AF_INET6 6

/* An address of either family: IPv4 in the first 4 bytes, rest zero. */
struct net_addr {
	uint8_t a[16];
};

/* A connection's identity, from our point of view. Ports in host order. */
struct net_tuple {
	uint8_t family;               /* NET_AF_INET or NET_AF_INET6 */
	uint8_t ifidx;                /* interface the local address belongs to */
	uint16_t lport, rport;
	struct net_addr laddr, raddr;
};

#endif
