/*
 * tcp_harness.h - what the TCP unit test (tests/unit/test_tcp.c) and the
 * TCP fuzz target (tests/fuzz/fuzz_tcp.c) share: the test network (our
 * and the peer's MAC and addresses, the MTU, the clock's start), the EAL
 * and an mbuf pool without hugepages or PCI, a stack with one interface
 * that knows the peer's MAC, and big-endian helpers and checksums of
 * their own (independent of the stack's, so that they can judge it).
 */
#ifndef MX_TCP_HARNESS_H
#define MX_TCP_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/net/net.h"
#include "dataplane/net/tcp.h"

#define IF_MTU          1500
#define T_START_US      1000000000ull  /* the test clock starts at 1000 s */

extern const uint8_t our_mac[6], peer_mac[6];
extern const uint8_t our_ip4[4], peer_ip4[4];     /* 198.18.0.2, 198.18.0.1 (the gateway) */
extern const uint8_t our_ip6[16], peer_ip6[16];   /* 2001:2::2, 2001:2::1 */

/* Store / load big-endian integers. */
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

/* One's complement sum of a buffer added to sum (big-endian words, not folded). */
uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum);
/* Fold a 32-bit one's complement sum to 16 bits. */
uint16_t fold(uint32_t sum);
/* L4 checksum over the pseudo-header and the packet (0 when a received packet is valid). */
uint16_t l4_csum(uint8_t family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
		 const uint8_t *l4, unsigned len);

/* An address of a family from raw bytes. */
struct net_addr addr_of(uint8_t family, const uint8_t *a);

/* Start the EAL (no hugepages, no PCI, mem_mb of memory) and create a pool of n mbufs; NULL on failure. */
struct rte_mempool *harness_eal(const char *prog, unsigned mem_mb, unsigned n);

/*
 * A stack on worker 0 of 1 with the clock at T_START_US: one interface
 * (our MAC and addresses, the peer as IPv4 gateway), TCP with tp, the
 * peer's MAC known for both its addresses. NULL on failure.
 */
struct net_ctx *harness_stack(struct rte_mempool *pool, net_xmit_fn xmit, const struct tcp_params *tp);

#endif
