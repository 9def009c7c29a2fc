/*
 * tcp_harness.c - the test network and stack shared by test_tcp.c and
 * fuzz_tcp.c (see tcp_harness.h).
 */
#include <stdio.h>
#include <string.h>
#include <rte_eal.h>
#include <rte_mbuf.h>

#include "tcp_harness.h"

const uint8_t our_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
const uint8_t our_ip4[4] = { 198, 18, 0, 2 };
const uint8_t peer_ip4[4] = { 198, 18, 0, 1 };
const uint8_t our_ip6[16] = { 0x20, 0x01, 0, 2, [15] = 2 };
const uint8_t peer_ip6[16] = { 0x20, 0x01, 0, 2, [15] = 1 };

uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (; n > 1; p += 2, n -= 2)
		sum += get16(p);
	if (n)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t l4_csum(uint8_t family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
		 const uint8_t *l4, unsigned len)
{
	unsigned alen = family == NET_AF_INET ? 4 : 16;
	uint32_t s = sum16(src, alen, 0);

	s = sum16(dst, alen, s);
	s += proto + (len >> 16) + (len & 0xffff);
	return (uint16_t)~fold(sum16(l4, len, s));
}

struct net_addr addr_of(uint8_t family, const uint8_t *a)
{
	struct net_addr n;

	memset(&n, 0, sizeof(n));
	memcpy(n.a, a, family == NET_AF_INET ? 4 : 16);
	return n;
}

struct rte_mempool *harness_eal(const char *prog, unsigned mem_mb, unsigned n)
{
	char mem[16];
	char *eal_argv[] = { (char *)prog, "--no-huge", "--no-pci", "--no-shconf", "-m", mem,
			     "-l", "0", "--log-level=*:error", "--no-telemetry", NULL };
	int eal_argc = (int)(sizeof(eal_argv) / sizeof(eal_argv[0])) - 1;

	snprintf(mem, sizeof(mem), "%u", mem_mb);
	if (rte_eal_init(eal_argc, eal_argv) < 0)
		return NULL;
	return rte_pktmbuf_pool_create(prog, n, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
}

struct net_ctx *harness_stack(struct rte_mempool *pool, net_xmit_fn xmit, const struct tcp_params *tp)
{
	struct net_ctx *ctx = net_ctx_create(0, 1, pool, xmit);
	struct net_if *ifp;
	struct rte_ether_addr pm;
	struct net_addr a;

	if (ctx == NULL)
		return NULL;
	ctx->now_us = T_START_US;
	ifp = &ctx->ifs[0];
	ifp->idx = 0;
	memcpy(ifp->mac.addr_bytes, our_mac, 6);
	ifp->mtu = IF_MTU;
	ifp->has_ip4 = 1;
	memcpy(&ifp->ip4, our_ip4, 4);
	ifp->ip4_plen = 24;
	ifp->has_gw4 = 1;
	memcpy(&ifp->gw4, peer_ip4, 4);
	ifp->has_ip6 = 1;
	memcpy(ifp->ip6, our_ip6, 16);
	ifp->ip6_prefix = 64;
	ctx->nifs = 1;
	net_if_init(ifp);
	if (tcp_ctx_init(ctx, tp) != 0) {
		net_ctx_free(ctx);
		return NULL;
	}
	memcpy(pm.addr_bytes, peer_mac, 6);
	a = addr_of(NET_AF_INET, peer_ip4);
	net_neigh_add(ctx, 0, NET_AF_INET, &a, &pm, 1);
	a = addr_of(NET_AF_INET6, peer_ip6);
	net_neigh_add(ctx, 0, NET_AF_INET6, &a, &pm, 1);
	return ctx;
}
