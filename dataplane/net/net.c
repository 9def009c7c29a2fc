/*
 * net.c - Ethernet, ARP, IPv4, IPv6, ICMP, ICMPv6 and neighbour discovery
 * for one worker lcore, plus flow steering between workers. Transport
 * protocols (TCP) are reached only through the table they register in
 * (net_proto_register): one indirect call per packet handed up.
 *
 * Receive is zero-copy: the frame's mbuf is handed up with its data offset
 * moved to the next header. Nothing here allocates on the receive path
 * except replies (ARP, NA, echo replies reuse the request's mbuf).
 */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <rte_ip.h>
#include <rte_icmp.h>
#include <rte_arp.h>
#include <rte_ring.h>
#include <rte_thash.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_malloc.h>

#include "net.h"

const char *const net_drop_names[NET_DROP__MAX] = {
#define X(n) #n,
	NET_DROP_REASONS(X)
#undef X
};

/* ---- neighbour cache (ARP and ND share it) ---- */

#define NEIGH_SIZE      1024        /* entries per lcore, power of two */
#define NEIGH_WAYS      4
#define NEIGH_PENDING   16          /* packets held per unresolved next hop (a burst of
				       backend SYNs after a restart fits) */
#define NEIGH_PENDING_TOTAL 1024    /* ... and per lcore, so the mbuf pool never drains here */
#define NEIGH_TTL_US    (60ull * 1000000)   /* reachable time */
#define NEIGH_REFRESH_US (5ull * 1000000)   /* re-ask this long before expiry */
#define NEIGH_RETRY_US  (1000000ull)
#define NEIGH_PROBES    3
#define NEIGH_FAIL_US   (3ull * 1000000)    /* hold-down after failing */

enum { NB_FREE = 0, NB_INCOMPLETE, NB_REACHABLE, NB_FAILED, NB_PERMANENT };

struct neigh {
	uint8_t state, family, ifidx, probes, npending;
	struct net_addr ip;
	struct rte_ether_addr mac;
	uint64_t expires_us;        /* REACHABLE: until; INCOMPLETE: next probe; FAILED: until */
	uint64_t asked_us;          /* last request sent */
	struct rte_mbuf *pending[NEIGH_PENDING];
};

struct neigh_table {
	struct neigh e[NEIGH_SIZE];
	uint64_t next_scan_us;
	unsigned npending;          /* packets held in all entries */
};

/* Steering ring entries carry a tag in the low pointer bit (mbufs are aligned). */
#define STEER_MIRROR 1ul

static const uint8_t rss_key_sym[40] = {
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

static void nd_solicit(struct net_ctx *ctx, struct net_if *ifp, const uint8_t target[16]);
static void arp_request(struct net_ctx *ctx, struct net_if *ifp, uint32_t tip, uint32_t sip);

/* Allocate the per-lcore stack. */
struct net_ctx *net_ctx_create(unsigned worker, unsigned nworkers,
			       struct rte_mempool *pool, net_xmit_fn xmit)
{
	struct net_ctx *ctx = rte_zmalloc("net_ctx", sizeof(*ctx), RTE_CACHE_LINE_SIZE);

	if (ctx == NULL)
		return NULL;
	ctx->neigh = rte_zmalloc("neigh", sizeof(*ctx->neigh), RTE_CACHE_LINE_SIZE);
	if (ctx->neigh == NULL) {
		rte_free(ctx);
		return NULL;
	}
	ctx->worker = worker;
	ctx->nworkers = nworkers;
	ctx->pool = pool;
	ctx->xmit = xmit;
	ctx->tsc_hz = rte_get_tsc_hz();
	memcpy(ctx->rss_key, rss_key_sym, sizeof(ctx->rss_key));
	ctx->nprotos = 1;             /* protosw[0]: no protocol */
	return ctx;
}

/* Add a transport protocol: its packets and hooks come to it from here on. */
int net_proto_register(struct net_ctx *ctx, const struct net_protosw *pr)
{
	if (ctx->protox[pr->proto] != 0)
		return -EEXIST;
	if (ctx->nprotos == NET_MAX_PROTOS)
		return -ENOSPC;
	ctx->protosw[ctx->nprotos] = *pr;
	ctx->protox[pr->proto] = (uint8_t)ctx->nprotos++;
	return 0;
}

/* Free the stack: the protocols' state, pending packets, the context. */
void net_ctx_free(struct net_ctx *ctx)
{
	unsigned i, j;

	if (ctx == NULL)
		return;
	for (i = 1; i < ctx->nprotos; i++)
		if (ctx->protosw[i].destroy)
			ctx->protosw[i].destroy(ctx);
	for (i = 0; i < NEIGH_SIZE; i++)
		for (j = 0; j < ctx->neigh->e[i].npending; j++)
			rte_pktmbuf_free(ctx->neigh->e[i].pending[j]);
	rte_free(ctx->neigh);
	rte_free(ctx);
}

/* Fill the derived fields of an interface: IPv4 mask, IPv6 link-local. */
void net_if_init(struct net_if *ifp)
{
	const uint8_t *m = ifp->mac.addr_bytes;

	ifp->mask4 = ifp->ip4_plen ? rte_cpu_to_be_32(~0u << (32 - ifp->ip4_plen)) : 0;
	memset(ifp->ll6, 0, 16);
	ifp->ll6[0] = 0xfe;
	ifp->ll6[1] = 0x80;
	ifp->ll6[8] = m[0] ^ 0x02;
	ifp->ll6[9] = m[1];
	ifp->ll6[10] = m[2];
	ifp->ll6[11] = 0xff;
	ifp->ll6[12] = 0xfe;
	ifp->ll6[13] = m[3];
	ifp->ll6[14] = m[4];
	ifp->ll6[15] = m[5];
}

/* An mbuf with room for headers; counts the failure. */
struct rte_mbuf *net_alloc(struct net_ctx *ctx)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(ctx->pool);

	if (m == NULL) {
		NET_DROP(ctx, nombuf);
		return NULL;
	}
	m->data_off = RTE_PKTMBUF_HEADROOM + NET_HEADROOM;
	return m;
}

/* Hand one frame to the port layer. */
void net_tx(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m)
{
	ctx->st.tx_packets++;
	ctx->st.tx_bytes += m->pkt_len;
	ctx->xmit(ctx, ifp, m);
}

/* Flush every interface's TX buffer (xmit with NULL means flush). */
void net_flush(struct net_ctx *ctx)
{
	unsigned i;

	for (i = 0; i < ctx->nifs; i++)
		ctx->xmit(ctx, &ctx->ifs[i], NULL);
}

/* ---- checksums ---- */

/*
 * Unreduced one's complement sum of len bytes, loaded in the CPU's byte
 * order as rte_raw_cksum() does (the folded sum is the same): 32-bit words
 * into 64-bit sums, which lose no carry below 2^32 words. DPDK 22.11's
 * __rte_raw_cksum adds 16 bits at a time, and on a port without checksum
 * offload (memif) every segment is summed twice: that was 8 % of a plain
 * session's work.
 */
static uint64_t csum_add(const void *p, size_t len, uint64_t sum)
{
	const uint8_t *b = p;
	uint64_t s1 = 0;

	for (; len >= 16; b += 16, len -= 16) {
		uint32_t w[4];

		memcpy(w, b, sizeof(w));
		sum += (uint64_t)w[0] + w[2];
		s1 += (uint64_t)w[1] + w[3];
	}
	for (; len >= 4; b += 4, len -= 4) {
		uint32_t w;

		memcpy(&w, b, sizeof(w));
		sum += w;
	}
	if (len >= 2) {
		uint16_t h;

		memcpy(&h, b, sizeof(h));
		sum += h;
		b += 2;
		len -= 2;
	}
	if (len) {
		uint16_t h = 0;

		memcpy(&h, b, 1);       /* the first byte of a 16-bit word, padded with 0 */
		sum += h;
	}
	return sum + s1;
}

/* A sum of csum_add() reduced to 16 bits (0 only when it was 0). */
static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * Unreduced one's complement sum of the IPv4 or IPv6 pseudo-header, word by
 * word as csum_add() would load it (a packed copy to sum cost a failed
 * store forwarding a packet).
 */
static uint64_t phdr_sum(uint8_t family, const struct net_addr *src, const struct net_addr *dst,
			 uint8_t proto, uint32_t len)
{
	unsigned words = family == NET_AF_INET ? 1 : 4;
	uint64_t sum = 0;

	for (unsigned i = 0; i < words; i++) {
		uint32_t s, d;

		memcpy(&s, src->a + 4 * i, 4);
		memcpy(&d, dst->a + 4 * i, 4);
		sum += (uint64_t)s + d;
	}
	if (family == NET_AF_INET)      /* zero, protocol, 16-bit length */
		return sum + rte_cpu_to_be_32((uint32_t)proto << 16 | (len & 0xffff));
	/* 32-bit length, three zeros, next header */
	return sum + rte_cpu_to_be_32(len) + rte_cpu_to_be_32(proto);
}

/* Internet checksum of an L4 segment with its pseudo-header. */
uint16_t net_l4_csum(uint8_t family, const struct net_addr *src, const struct net_addr *dst,
		     uint8_t proto, const void *l4, uint32_t len)
{
	uint16_t c = (uint16_t)~csum_fold(csum_add(l4, len, phdr_sum(family, src, dst, proto, len)));

	if (c == 0 && proto == IPPROTO_UDP)
		c = 0xffff;
	return c;
}

/* Pseudo-header sum only (for TX offload: the NIC adds the rest). */
static uint16_t l4_phdr_csum(uint8_t family, const struct net_addr *src,
			     const struct net_addr *dst, uint8_t proto, uint32_t len)
{
	return csum_fold(phdr_sum(family, src, dst, proto, len));
}

/* The tuple of an active open to raddr:rport from interface ifidx (our address there): 0 or -EADDRNOTAVAIL. */
int net_tuple_active(const struct net_ctx *ctx, unsigned ifidx, uint8_t family, const struct net_addr *raddr,
		     uint16_t rport, struct net_tuple *t)
{
	const struct net_if *ifp = &ctx->ifs[ifidx];

	if (ifidx >= ctx->nifs || (family == NET_AF_INET ? !ifp->has_ip4 : !ifp->has_ip6))
		return -EADDRNOTAVAIL;
	memset(t, 0, sizeof(*t));
	t->family = family;
	t->ifidx = (uint8_t)ifidx;
	t->raddr = *raddr;
	t->rport = rport;
	if (family == NET_AF_INET)
		memcpy(t->laddr.a, &ifp->ip4, 4);
	else
		memcpy(t->laddr.a, ifp->ip6, 16);
	return 0;
}

/* ---- flow steering ---- */

/* Worker that owns an inbound flow: RSS hash of (remote, local) over the RETA. */
unsigned net_flow_owner(const struct net_ctx *ctx, const struct net_tuple *t)
{
	uint32_t w[9], h;
	unsigned n, i, reta;

	if (ctx->nworkers <= 1)
		return 0;
	if (t->family == NET_AF_INET) {
		uint32_t s, d;

		memcpy(&s, t->raddr.a, 4);
		memcpy(&d, t->laddr.a, 4);
		w[0] = rte_be_to_cpu_32(s);
		w[1] = rte_be_to_cpu_32(d);
		w[2] = ((uint32_t)t->rport << 16) | t->lport;
		n = 3;
	} else {
		for (i = 0; i < 4; i++) {
			uint32_t s, d;

			memcpy(&s, t->raddr.a + 4 * i, 4);
			memcpy(&d, t->laddr.a + 4 * i, 4);
			w[i] = rte_be_to_cpu_32(s);
			w[4 + i] = rte_be_to_cpu_32(d);
		}
		w[8] = ((uint32_t)t->rport << 16) | t->lport;
		n = 9;
	}
	h = rte_softrss(w, n, ctx->rss_key);
	reta = ctx->ifs[t->ifidx].reta_size ? ctx->ifs[t->ifidx].reta_size : 128;
	return (h & (reta - 1)) % ctx->nworkers;
}

/* Hand a packet to its owner's ring. */
static void steer(struct net_ctx *ctx, unsigned owner, struct rte_mbuf *m, unsigned long tag)
{
	if (rte_ring_mp_enqueue(ctx->steer[owner], (void *)((uintptr_t)m | tag)) != 0) {
		NET_DROP(ctx, steer_full);
		rte_pktmbuf_free(m);
		return;
	}
	ctx->st.steered_out++;
}

/* Interface a frame arrived on, from its port id. */
static struct net_if *if_of_port(struct net_ctx *ctx, uint16_t port)
{
	unsigned i;

	for (i = 0; i < ctx->nifs; i++)
		if (ctx->ifs[i].port_id == port)
			return &ctx->ifs[i];
	return NULL;
}

static void arp_input(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m, int mirrored);
static void nd_learn_from(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m);

/* Drain our steering ring: re-run input for handed-over packets. */
unsigned net_steer_poll(struct net_ctx *ctx)
{
	void *objs[NET_RX_BURST];
	unsigned n, i;

	if (ctx->nworkers <= 1)
		return 0;
	n = rte_ring_sc_dequeue_burst(ctx->steer[ctx->worker], objs, NET_RX_BURST, NULL);
	for (i = 0; i < n; i++) {
		uintptr_t v = (uintptr_t)objs[i];
		struct rte_mbuf *m = (struct rte_mbuf *)(v & ~STEER_MIRROR);
		struct net_if *ifp = if_of_port(ctx, m->port);

		ctx->st.steered_in++;
		if (ifp == NULL) {
			rte_pktmbuf_free(m);
			continue;
		}
		if (v & STEER_MIRROR) {
			/* a neighbour message another worker answered: learn only */
			struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

			if (eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))
				arp_input(ctx, ifp, m, 1);
			else
				nd_learn_from(ctx, ifp, m);
			continue;
		}
		net_input(ctx, ifp, m);
	}
	return n;
}

/* Copy a neighbour message to every other worker, so they all learn it. */
static void mirror(struct net_ctx *ctx, struct rte_mbuf *m)
{
	unsigned w;

	if (ctx->nworkers <= 1)
		return;
	for (w = 0; w < ctx->nworkers; w++) {
		struct rte_mbuf *c;

		if (w == ctx->worker)
			continue;
		c = rte_pktmbuf_copy(m, ctx->pool, 0, UINT32_MAX);
		if (c == NULL) {
			NET_DROP(ctx, nombuf);
			continue;
		}
		c->port = m->port;
		steer(ctx, w, c, STEER_MIRROR);
	}
}

/* ---- neighbour cache ---- */

/* Bucket index of an address. */
static unsigned neigh_bucket(uint8_t family, unsigned ifidx, const struct net_addr *ip)
{
	uint32_t h = family * 31 + ifidx, x;
	unsigned i;

	for (i = 0; i < 16; i += 4) {
		memcpy(&x, ip->a + i, 4);
		h = (h ^ x) * 0x9e3779b1u;
	}
	return (h >> 8) & (NEIGH_SIZE / NEIGH_WAYS - 1);
}

/* Find the entry of an address, or a slot for it when create is set. */
static struct neigh *neigh_find(struct net_ctx *ctx, uint8_t family, unsigned ifidx,
				const struct net_addr *ip, int create)
{
	struct neigh *b = &ctx->neigh->e[neigh_bucket(family, ifidx, ip) * NEIGH_WAYS];
	struct neigh *victim = NULL;
	unsigned i, j;

	for (i = 0; i < NEIGH_WAYS; i++)
		if (b[i].state != NB_FREE && b[i].family == family && b[i].ifidx == ifidx &&
		    memcmp(&b[i].ip, ip, sizeof(*ip)) == 0)
			return &b[i];
	if (!create)
		return NULL;
	for (i = 0; i < NEIGH_WAYS; i++) {
		if (b[i].state == NB_FREE) {
			victim = &b[i];
			break;
		}
		if (b[i].state != NB_PERMANENT &&
		    (victim == NULL || b[i].expires_us < victim->expires_us))
			victim = &b[i];
	}
	if (victim == NULL)
		return NULL;
	for (j = 0; j < victim->npending; j++) {
		rte_pktmbuf_free(victim->pending[j]);
		NET_DROP(ctx, neigh_unresolved);
	}
	ctx->neigh->npending -= victim->npending;
	memset(victim, 0, sizeof(*victim));
	victim->family = family;
	victim->ifidx = ifidx;
	victim->ip = *ip;
	return victim;
}

/* Complete an entry with a MAC and send what waited for it. */
static void neigh_resolved(struct net_ctx *ctx, struct neigh *n, const struct rte_ether_addr *mac)
{
	struct net_if *ifp = &ctx->ifs[n->ifidx];
	unsigned i;

	if (n->state == NB_PERMANENT)
		return;
	n->mac = *mac;
	n->state = NB_REACHABLE;
	n->expires_us = ctx->now_us + NEIGH_TTL_US;
	n->probes = 0;
	for (i = 0; i < n->npending; i++) {
		struct rte_mbuf *m = n->pending[i];
		struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

		eh->dst_addr = *mac;
		net_tx(ctx, ifp, m);
	}
	ctx->neigh->npending -= n->npending;
	n->npending = 0;
}

/* Update an entry we already have, or create one when told to (RFC 826 merge). */
static void neigh_learn(struct net_ctx *ctx, unsigned ifidx, uint8_t family,
			const struct net_addr *ip, const struct rte_ether_addr *mac, int create)
{
	struct neigh *n = neigh_find(ctx, family, ifidx, ip, create);

	if (n == NULL)
		return;
	if (rte_is_zero_ether_addr(mac) || !rte_is_unicast_ether_addr(mac))
		return;
	neigh_resolved(ctx, n, mac);
}

/* Add a static entry. */
int net_neigh_add(struct net_ctx *ctx, unsigned ifidx, uint8_t family,
		  const struct net_addr *ip, const struct rte_ether_addr *mac, int permanent)
{
	struct neigh *n = neigh_find(ctx, family, ifidx, ip, 1);

	if (n == NULL)
		return -ENOSPC;
	neigh_resolved(ctx, n, mac);
	if (permanent)
		n->state = NB_PERMANENT;
	return 0;
}

/* Ask for an entry's MAC (ARP request or neighbour solicitation). */
static void neigh_ask(struct net_ctx *ctx, struct neigh *n)
{
	struct net_if *ifp = &ctx->ifs[n->ifidx];

	n->asked_us = ctx->now_us;
	if (n->family == NET_AF_INET) {
		uint32_t tip;

		memcpy(&tip, n->ip.a, 4);
		arp_request(ctx, ifp, tip, ifp->ip4);
	} else {
		nd_solicit(ctx, ifp, n->ip.a);
	}
}

/* Send a frame to a next hop: now if known, else after resolution. */
static void neigh_send(struct net_ctx *ctx, struct net_if *ifp, uint8_t family,
		       const struct net_addr *nh, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct neigh *n = neigh_find(ctx, family, ifp->idx, nh, 1);

	if (n == NULL) {
		NET_DROP(ctx, neigh_pending_full);
		rte_pktmbuf_free(m);
		return;
	}
	switch (n->state) {
	case NB_PERMANENT:
		eh->dst_addr = n->mac;
		net_tx(ctx, ifp, m);
		return;
	case NB_REACHABLE:
		if (ctx->now_us < n->expires_us) {
			eh->dst_addr = n->mac;
			net_tx(ctx, ifp, m);
			if (n->expires_us - ctx->now_us < NEIGH_REFRESH_US &&
			    ctx->now_us - n->asked_us > NEIGH_RETRY_US)
				neigh_ask(ctx, n);
			return;
		}
		n->state = NB_INCOMPLETE;   /* expired: resolve again */
		n->probes = 0;
		break;
	case NB_FAILED:
		if (ctx->now_us < n->expires_us) {
			NET_DROP(ctx, neigh_unresolved);
			rte_pktmbuf_free(m);
			return;
		}
		n->state = NB_INCOMPLETE;
		n->probes = 0;
		break;
	case NB_FREE:
		n->state = NB_INCOMPLETE;
		n->probes = 0;
		break;
	default:
		break;
	}
	if (n->npending >= NEIGH_PENDING || ctx->neigh->npending >= NEIGH_PENDING_TOTAL) {
		NET_DROP(ctx, neigh_pending_full);
		rte_pktmbuf_free(m);
	} else {
		n->pending[n->npending++] = m;
		ctx->neigh->npending++;
	}
	if (n->probes == 0) {
		n->probes = 1;
		neigh_ask(ctx, n);
	}
}

/* Retry unanswered requests, give up after NEIGH_PROBES (every 100 ms). */
static void neigh_timers(struct net_ctx *ctx)
{
	unsigned i, j;

	if (ctx->now_us < ctx->neigh->next_scan_us)
		return;
	ctx->neigh->next_scan_us = ctx->now_us + 100000;
	for (i = 0; i < NEIGH_SIZE; i++) {
		struct neigh *n = &ctx->neigh->e[i];

		if (n->state != NB_INCOMPLETE || ctx->now_us - n->asked_us < NEIGH_RETRY_US)
			continue;
		if (n->probes >= NEIGH_PROBES) {
			for (j = 0; j < n->npending; j++) {
				rte_pktmbuf_free(n->pending[j]);
				NET_DROP(ctx, neigh_unresolved);
			}
			ctx->neigh->npending -= n->npending;
			n->npending = 0;
			n->state = NB_FAILED;
			n->expires_us = ctx->now_us + NEIGH_FAIL_US;
			continue;
		}
		n->probes++;
		neigh_ask(ctx, n);
	}
}

/* Run the stack's timers. */
void net_timers(struct net_ctx *ctx)
{
	unsigned i;

	neigh_timers(ctx);
	for (i = 1; i < ctx->nprotos; i++)
		if (ctx->protosw[i].timers)
			ctx->protosw[i].timers(ctx);
}

/* ---- ARP ---- */

/* Build and send an ARP packet. */
static void arp_send(struct net_ctx *ctx, struct net_if *ifp, uint16_t op,
		     const struct rte_ether_addr *dmac, const struct rte_ether_addr *tha,
		     uint32_t sip, uint32_t tip)
{
	struct rte_mbuf *m = net_alloc(ctx);
	struct rte_ether_hdr *eh;
	struct rte_arp_hdr *ah;

	if (m == NULL)
		return;
	m->data_off = RTE_PKTMBUF_HEADROOM;
	eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eh) + sizeof(*ah));
	ah = (struct rte_arp_hdr *)(eh + 1);
	eh->dst_addr = *dmac;
	eh->src_addr = ifp->mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = RTE_ETHER_ADDR_LEN;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(op);
	ah->arp_data.arp_sha = ifp->mac;
	ah->arp_data.arp_sip = sip;
	ah->arp_data.arp_tha = *tha;
	ah->arp_data.arp_tip = tip;
	net_tx(ctx, ifp, m);
}

/* Broadcast a request for tip. */
static void arp_request(struct net_ctx *ctx, struct net_if *ifp, uint32_t tip, uint32_t sip)
{
	struct rte_ether_addr bc, zero;

	memset(&bc, 0xff, sizeof(bc));
	memset(&zero, 0, sizeof(zero));
	arp_send(ctx, ifp, RTE_ARP_OP_REQUEST, &bc, &zero, sip, tip);
	ctx->st.arp_requests_sent++;
}

/* ARP input: learn, answer requests for our address. */
static void arp_input(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m, int mirrored)
{
	struct rte_arp_hdr *ah;
	struct net_addr sip;
	uint16_t op;
	int for_us;

	if (m->data_len < sizeof(struct rte_ether_hdr) + sizeof(*ah)) {
		NET_DROP(ctx, arp_bad);
		goto out;
	}
	ah = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, sizeof(struct rte_ether_hdr));
	op = rte_be_to_cpu_16(ah->arp_opcode);
	if (ah->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    ah->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    ah->arp_hlen != 6 || ah->arp_plen != 4 ||
	    (op != RTE_ARP_OP_REQUEST && op != RTE_ARP_OP_REPLY) ||
	    !rte_is_unicast_ether_addr(&ah->arp_data.arp_sha)) {
		NET_DROP(ctx, arp_bad);
		goto out;
	}
	if (!ifp->has_ip4) {
		NET_DROP(ctx, arp_bad);
		goto out;
	}
	memset(&sip, 0, sizeof(sip));
	memcpy(sip.a, &ah->arp_data.arp_sip, 4);
	for_us = ah->arp_data.arp_tip == ifp->ip4;
	if (ah->arp_data.arp_sip == ifp->ip4 || ah->arp_data.arp_sip == 0) {
		/* someone else claims our address, or a probe: ignore */
		if (!for_us || op != RTE_ARP_OP_REQUEST || ah->arp_data.arp_sip != 0)
			goto out;
	} else {
		neigh_learn(ctx, ifp->idx, NET_AF_INET, &sip, &ah->arp_data.arp_sha, for_us);
	}
	if (mirrored)
		goto out;
	if (for_us && op == RTE_ARP_OP_REQUEST) {
		arp_send(ctx, ifp, RTE_ARP_OP_REPLY, &ah->arp_data.arp_sha, &ah->arp_data.arp_sha,
			 ifp->ip4, ah->arp_data.arp_sip);
		ctx->st.arp_replies_sent++;
	}
	if (for_us)
		mirror(ctx, m);
out:
	rte_pktmbuf_free(m);
}

/* ---- IPv6 neighbour discovery ---- */

#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY   129
#define ICMP6_PKT_TOO_BIG  2
#define ND_NS 135
#define ND_NA 136
#define ND_OPT_SLLA 1
#define ND_OPT_TLLA 2

/* Is a an address of this interface (global or link-local)? */
static int ip6_is_ours(const struct net_if *ifp, const uint8_t *a)
{
	return (ifp->has_ip6 && memcmp(a, ifp->ip6, 16) == 0) || memcmp(a, ifp->ll6, 16) == 0;
}

/* Solicited-node multicast address of a target. */
static void ip6_snma(uint8_t out[16], const uint8_t *target)
{
	static const uint8_t pfx[13] = { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff };

	memcpy(out, pfx, 13);
	memcpy(out + 13, target + 13, 3);
}

/* Build an IPv6 + ICMPv6 packet of icmp_len bytes; returns the ICMPv6 header. */
static uint8_t *icmp6_build(struct net_ctx *ctx, struct rte_mbuf **mp, const uint8_t *src,
			    const uint8_t *dst, unsigned icmp_len, uint8_t hlim)
{
	struct rte_mbuf *m = net_alloc(ctx);
	struct rte_ipv6_hdr *ip6;

	*mp = m;
	if (m == NULL)
		return NULL;
	ip6 = (struct rte_ipv6_hdr *)rte_pktmbuf_append(m, sizeof(*ip6) + icmp_len);
	memset(ip6, 0, sizeof(*ip6) + icmp_len);
	ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
	ip6->payload_len = rte_cpu_to_be_16(icmp_len);
	ip6->proto = IPPROTO_ICMPV6;
	ip6->hop_limits = hlim;
	memcpy(ip6->src_addr, src, 16);
	memcpy(ip6->dst_addr, dst, 16);
	return (uint8_t *)(ip6 + 1);
}

/* Finish an ICMPv6 packet: checksum, Ethernet header, transmit. */
static void icmp6_send(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m,
		       const struct rte_ether_addr *dmac)
{
	struct rte_ipv6_hdr *ip6 = rte_pktmbuf_mtod(m, struct rte_ipv6_hdr *);
	uint8_t *icmp = (uint8_t *)(ip6 + 1);
	unsigned len = rte_be_to_cpu_16(ip6->payload_len);
	struct net_addr s, d;
	struct rte_ether_hdr *eh;
	uint16_t c;

	memcpy(s.a, ip6->src_addr, 16);
	memcpy(d.a, ip6->dst_addr, 16);
	icmp[2] = icmp[3] = 0;
	c = net_l4_csum(NET_AF_INET6, &s, &d, IPPROTO_ICMPV6, icmp, len);
	memcpy(icmp + 2, &c, 2);
	eh = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(*eh));
	eh->dst_addr = *dmac;
	eh->src_addr = ifp->mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	net_tx(ctx, ifp, m);
}

/* Multicast MAC of an IPv6 multicast address. */
static void ip6_mcast_mac(struct rte_ether_addr *mac, const uint8_t *a)
{
	mac->addr_bytes[0] = 0x33;
	mac->addr_bytes[1] = 0x33;
	memcpy(&mac->addr_bytes[2], a + 12, 4);
}

/* Send a neighbour solicitation for target. */
static void nd_solicit(struct net_ctx *ctx, struct net_if *ifp, const uint8_t target[16])
{
	uint8_t dst[16];
	const uint8_t *src;
	struct rte_ether_addr dmac;
	struct rte_mbuf *m;
	uint8_t *p;

	ip6_snma(dst, target);
	src = (target[0] == 0xfe && (target[1] & 0xc0) == 0x80) || !ifp->has_ip6 ? ifp->ll6 : ifp->ip6;
	p = icmp6_build(ctx, &m, src, dst, 32, 255);
	if (p == NULL)
		return;
	p[0] = ND_NS;
	memcpy(p + 8, target, 16);
	p[24] = ND_OPT_SLLA;
	p[25] = 1;
	memcpy(p + 26, ifp->mac.addr_bytes, 6);
	ip6_mcast_mac(&dmac, dst);
	icmp6_send(ctx, ifp, m, &dmac);
	ctx->st.nd_solicits_sent++;
}

/* Send a neighbour advertisement for target to dst. */
static void nd_advert(struct net_ctx *ctx, struct net_if *ifp, const uint8_t *target,
		      const uint8_t *dst, const struct rte_ether_addr *dmac, int solicited)
{
	struct rte_mbuf *m;
	uint8_t *p = icmp6_build(ctx, &m, target, dst, 32, 255);

	if (p == NULL)
		return;
	p[0] = ND_NA;
	p[4] = (solicited ? 0x40 : 0) | 0x20;  /* S, O */
	memcpy(p + 8, target, 16);
	p[24] = ND_OPT_TLLA;
	p[25] = 1;
	memcpy(p + 26, ifp->mac.addr_bytes, 6);
	icmp6_send(ctx, ifp, m, dmac);
	ctx->st.nd_adverts_sent++;
}

/* Find a link-layer address option of a type in ND options. */
static const struct rte_ether_addr *nd_opt_lla(const uint8_t *opt, unsigned len, uint8_t type, int *bad)
{
	const struct rte_ether_addr *found = NULL;

	while (len >= 2) {
		unsigned olen = opt[1] * 8u;

		if (olen == 0 || olen > len) {
			*bad = 1;
			return NULL;
		}
		if (opt[0] == type && olen >= 8)
			found = (const struct rte_ether_addr *)(opt + 2);
		opt += olen;
		len -= olen;
	}
	return found;
}

/* Neighbour solicitation / advertisement input. Returns 0 or -1 (malformed). */
static int nd_input(struct net_ctx *ctx, struct net_if *ifp, struct rte_ipv6_hdr *ip6,
		    uint8_t *p, unsigned len, const struct rte_ether_addr *smac, int mirrored)
{
	const struct rte_ether_addr *lla;
	struct net_addr a;
	int bad = 0;

	if (ip6->hop_limits != 255 || p[1] != 0 || len < 24 || (p[8] == 0xff))
		return -1;
	memcpy(a.a, p + 8, 16);
	if (p[0] == ND_NS) {
		static const uint8_t unspec[16];
		struct rte_ether_addr dmac;

		lla = nd_opt_lla(p + 24, len - 24, ND_OPT_SLLA, &bad);
		if (bad)
			return -1;
		if (!ip6_is_ours(ifp, p + 8))
			return 0;
		if (memcmp(ip6->src_addr, unspec, 16) == 0) {
			/* duplicate address detection: defend with an unsolicited NA */
			static const uint8_t all_nodes[16] = { 0xff, 2, [15] = 1 };

			if (!mirrored) {
				ip6_mcast_mac(&dmac, all_nodes);
				nd_advert(ctx, ifp, p + 8, all_nodes, &dmac, 0);
			}
			return 0;
		}
		memcpy(a.a, ip6->src_addr, 16);
		if (lla != NULL)
			neigh_learn(ctx, ifp->idx, NET_AF_INET6, &a, lla, 1);
		if (!mirrored)
			nd_advert(ctx, ifp, p + 8, ip6->src_addr, lla ? lla : smac, 1);
		return 1;
	}
	/* advertisement */
	lla = nd_opt_lla(p + 24, len - 24, ND_OPT_TLLA, &bad);
	if (bad)
		return -1;
	if (lla != NULL)
		neigh_learn(ctx, ifp->idx, NET_AF_INET6, &a, lla, 0);
	return 1;
}

/* Learn from an ND message another worker answered (mirror path). */
static void nd_learn_from(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(eh + 1);
	unsigned len = rte_be_to_cpu_16(ip6->payload_len);

	nd_input(ctx, ifp, ip6, (uint8_t *)(ip6 + 1), len, &eh->src_addr, 1);
	rte_pktmbuf_free(m);
}

/* ---- ICMP ---- */

/*
 * Tuple of the packet quoted in an ICMP error (our packet, so local = inner
 * src), for a protocol that takes ICMP news; its sequence-number word too.
 */
static const struct net_protosw *icmp_quoted_tuple(const struct net_ctx *ctx, struct net_tuple *t,
						   uint32_t *seq, uint8_t family, unsigned ifidx,
						   const uint8_t *inner, unsigned len)
{
	const struct net_protosw *pr;

	memset(t, 0, sizeof(*t));
	t->family = family;
	t->ifidx = ifidx;
	if (family == NET_AF_INET) {
		const struct rte_ipv4_hdr *ih = (const struct rte_ipv4_hdr *)inner;
		unsigned ihl;

		if (len < 20 || (ih->version_ihl >> 4) != 4)
			return NULL;
		ihl = (ih->version_ihl & 0xf) * 4u;
		pr = &ctx->protosw[ctx->protox[ih->next_proto_id]];
		if (ihl < 20 || len < ihl + 8 || pr->ctlinput == NULL)
			return NULL;
		memcpy(t->laddr.a, &ih->src_addr, 4);
		memcpy(t->raddr.a, &ih->dst_addr, 4);
		inner += ihl;
	} else {
		const struct rte_ipv6_hdr *ih = (const struct rte_ipv6_hdr *)inner;

		if (len < 48)
			return NULL;
		pr = &ctx->protosw[ctx->protox[ih->proto]];
		if (pr->ctlinput == NULL)
			return NULL;
		memcpy(t->laddr.a, ih->src_addr, 16);
		memcpy(t->raddr.a, ih->dst_addr, 16);
		inner += 40;
	}
	t->lport = (uint16_t)(inner[0] << 8 | inner[1]);
	t->rport = (uint16_t)(inner[2] << 8 | inner[3]);
	*seq = (uint32_t)inner[4] << 24 | (uint32_t)inner[5] << 16 | (uint32_t)inner[6] << 8 | inner[7];
	return pr;
}

/* Path MTU news for one of our flows: steer it to the flow's owner first. */
static void pmtu_news(struct net_ctx *ctx, const struct net_protosw *pr, struct rte_mbuf *m,
		      struct net_tuple *t, unsigned mtu, uint32_t seq)
{
	unsigned owner = net_flow_owner(ctx, t);

	if (owner != ctx->worker) {
		/* the packet is re-parsed by its owner from the Ethernet header */
		rte_pktmbuf_prepend(m, (uint16_t)(m->l2_len + m->l3_len));
		steer(ctx, owner, m, 0);
		return;
	}
	ctx->st.pmtu_updates++;
	pr->ctlinput(ctx, t, (uint16_t)mtu, seq);
	rte_pktmbuf_free(m);
}

/* ICMPv4 input: echo, fragmentation needed. m's data is at the ICMP header. */
static void icmp4_input(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m, unsigned len)
{
	struct rte_icmp_hdr *ic = rte_pktmbuf_mtod(m, struct rte_icmp_hdr *);
	struct rte_ipv4_hdr *ip;
	struct rte_ether_hdr *eh;
	struct rte_ether_addr tmac;
	uint32_t tip;
	uint16_t c;

	if (len < 8 || rte_raw_cksum(ic, len) != 0xffff) {
		NET_DROP(ctx, icmp_bad);
		rte_pktmbuf_free(m);
		return;
	}
	if (ic->icmp_type == RTE_IP_ICMP_ECHO_REQUEST && ic->icmp_code == 0) {
		/* answer in place: same mbuf, swapped addresses */
		ic->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
		ic->icmp_cksum = 0;
		c = ~rte_raw_cksum(ic, len);
		ic->icmp_cksum = c;
		ip = (struct rte_ipv4_hdr *)rte_pktmbuf_prepend(m, (uint16_t)m->l3_len);
		tip = ip->src_addr;
		ip->src_addr = ip->dst_addr;
		ip->dst_addr = tip;
		ip->time_to_live = 64;
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		eh = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, (uint16_t)m->l2_len);
		tmac = eh->src_addr;
		eh->src_addr = ifp->mac;
		eh->dst_addr = tmac;
		m->ol_flags = 0;
		ctx->st.icmp_echo_replies++;
		net_tx(ctx, ifp, m);
		return;
	}
	if (ic->icmp_type == 3 /* destination unreachable */ && ic->icmp_code == 4) {
		const struct net_protosw *pr;
		struct net_tuple t;
		uint32_t seq;
		unsigned mtu = (unsigned)((const uint8_t *)ic)[6] << 8 | ((const uint8_t *)ic)[7];

		pr = icmp_quoted_tuple(ctx, &t, &seq, NET_AF_INET, ifp->idx, (const uint8_t *)ic + 8,
				       len - 8);
		if (pr != NULL && memcmp(t.laddr.a, &ifp->ip4, 4) == 0) {
			pmtu_news(ctx, pr, m, &t, mtu < 68 ? 68 : mtu, seq);
			return;
		}
		NET_DROP(ctx, icmp_bad);
		rte_pktmbuf_free(m);
		return;
	}
	NET_DROP(ctx, icmp_ignored);
	rte_pktmbuf_free(m);
}

/* ICMPv6 input: echo, ND, packet too big. m's data is at the ICMPv6 header. */
static void icmp6_input(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m,
			struct rte_ipv6_hdr *ip6, unsigned len, int dst_mcast)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod_offset(m, struct rte_ether_hdr *,
							   -(int)(m->l2_len + m->l3_len));
	struct net_addr s, d;
	int r;

	memcpy(s.a, ip6->src_addr, 16);
	memcpy(d.a, ip6->dst_addr, 16);
	if (len < 8 || net_l4_csum(NET_AF_INET6, &s, &d, IPPROTO_ICMPV6, p, len) != 0) {
		NET_DROP(ctx, icmp_bad);
		goto out;
	}
	switch (p[0]) {
	case ND_NS:
	case ND_NA:
		r = nd_input(ctx, ifp, ip6, p, len, &eh->src_addr, 0);
		if (r < 0)
			NET_DROP(ctx, nd_bad);
		else if (r > 0 && (p[0] == ND_NA || ctx->nworkers > 1)) {
			/* every worker must know the answer; put the frame back together */
			rte_pktmbuf_prepend(m, (uint16_t)(m->l2_len + m->l3_len));
			mirror(ctx, m);
		}
		goto out;
	case ICMP6_ECHO_REQUEST: {
		struct rte_mbuf *r6;
		const uint8_t *src = dst_mcast ? (ifp->has_ip6 ? ifp->ip6 : ifp->ll6) : ip6->dst_addr;
		uint8_t *q;

		if (p[1] != 0) {
			NET_DROP(ctx, icmp_bad);
			goto out;
		}
		q = icmp6_build(ctx, &r6, src, ip6->src_addr, len, 64);
		if (q == NULL)
			goto out;
		memcpy(q, p, len);
		q[0] = ICMP6_ECHO_REPLY;
		icmp6_send(ctx, ifp, r6, &eh->src_addr);
		ctx->st.icmp_echo_replies++;
		goto out;
	}
	case ICMP6_PKT_TOO_BIG: {
		const struct net_protosw *pr;
		struct net_tuple t;
		uint32_t seq;
		unsigned mtu = (unsigned)p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7];

		pr = icmp_quoted_tuple(ctx, &t, &seq, NET_AF_INET6, ifp->idx, p + 8, len - 8);
		if (pr != NULL && ip6_is_ours(ifp, t.laddr.a)) {
			pmtu_news(ctx, pr, m, &t, mtu < 1280 ? 1280 : (mtu > 65535 ? 65535 : mtu), seq);
			return;
		}
		NET_DROP(ctx, icmp_bad);
		goto out;
	}
	default:
		NET_DROP(ctx, icmp_ignored);
		goto out;
	}
out:
	rte_pktmbuf_free(m);
}

/* ---- IP input ---- */

/*
 * Hand an L4 packet (m's data at its header, len bytes) to the worker that
 * owns its flow, or to its protocol here. t has family, interface and
 * addresses; the ports are read here.
 */
static void l4_deliver(struct net_ctx *ctx, const struct net_protosw *pr, struct rte_mbuf *m,
		       struct net_tuple *t, unsigned len)
{
	const uint8_t *th = rte_pktmbuf_mtod(m, const uint8_t *);
	unsigned owner;

	if (m->data_len < pr->hdr_min) {
		ctx->st.drops[pr->drop_short]++;
		rte_pktmbuf_free(m);
		return;
	}
	t->rport = (uint16_t)(th[0] << 8 | th[1]);
	t->lport = (uint16_t)(th[2] << 8 | th[3]);
	owner = net_flow_owner(ctx, t);
	if (owner != ctx->worker) {
		rte_pktmbuf_prepend(m, (uint16_t)(m->l2_len + m->l3_len));
		steer(ctx, owner, m, 0);
		return;
	}
	pr->input(ctx, t, m, len);
}

/* IPv4 input; m's data is at the IPv4 header. */
static void ip4_input(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod(m, struct rte_ipv4_hdr *);
	const struct net_protosw *pr;
	unsigned ihl, tot;
	struct net_tuple t;

	if (m->data_len < sizeof(*ip)) {
		NET_DROP(ctx, ip4_short);
		goto drop;
	}
	ihl = (ip->version_ihl & 0xf) * 4u;
	tot = rte_be_to_cpu_16(ip->total_length);
	if ((ip->version_ihl >> 4) != 4 || ihl < 20) {
		NET_DROP(ctx, ip4_bad_header);
		goto drop;
	}
	if (ihl > m->data_len || tot < ihl || tot > m->data_len) {
		NET_DROP(ctx, ip4_short);
		goto drop;
	}
	if (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_BAD) {
		NET_DROP(ctx, ip4_csum);
		goto drop;
	}
	if (!(ifp->rx_csum && (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_GOOD)) &&
	    rte_raw_cksum(ip, ihl) != 0xffff) {
		NET_DROP(ctx, ip4_csum);
		goto drop;
	}
	if (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) {
		NET_DROP(ctx, ip4_fragment);
		goto drop;
	}
	if (!ifp->has_ip4 || ip->dst_addr != ifp->ip4) {
		NET_DROP(ctx, ip4_not_ours);
		goto drop;
	}
	/* strip Ethernet padding */
	if (m->data_len > tot)
		rte_pktmbuf_trim(m, (uint16_t)(m->data_len - tot));
	m->l3_len = ihl;
	rte_pktmbuf_adj(m, (uint16_t)ihl);
	if (ip->next_proto_id == IPPROTO_ICMP) {
		icmp4_input(ctx, ifp, m, tot - ihl);
		return;
	}
	pr = &ctx->protosw[ctx->protox[ip->next_proto_id]];
	if (pr->input == NULL) {
		NET_DROP(ctx, ip4_proto);
		goto drop;
	}
	memset(&t, 0, sizeof(t));
	t.family = NET_AF_INET;
	t.ifidx = ifp->idx;
	memcpy(t.laddr.a, &ip->dst_addr, 4);
	memcpy(t.raddr.a, &ip->src_addr, 4);
	l4_deliver(ctx, pr, m, &t, tot - ihl);
	return;
drop:
	rte_pktmbuf_free(m);
}

/* IPv6 input; m's data is at the IPv6 header. */
static void ip6_input(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m)
{
	struct rte_ipv6_hdr *ip6 = rte_pktmbuf_mtod(m, struct rte_ipv6_hdr *);
	static const uint8_t all_nodes[16] = { 0xff, 2, [15] = 1 };
	unsigned plen, off = sizeof(*ip6), hops = 0;
	uint8_t nh, snma[16];
	int mcast = 0;
	const struct net_protosw *pr;
	struct net_tuple t;

	if (m->data_len < sizeof(*ip6)) {
		NET_DROP(ctx, ip6_short);
		goto drop;
	}
	if ((rte_be_to_cpu_32(ip6->vtc_flow) >> 28) != 6) {
		NET_DROP(ctx, ip6_bad_header);
		goto drop;
	}
	plen = rte_be_to_cpu_16(ip6->payload_len);
	if (plen + sizeof(*ip6) > m->data_len) {
		NET_DROP(ctx, ip6_short);
		goto drop;
	}
	if (!ip6_is_ours(ifp, ip6->dst_addr)) {
		mcast = 1;
		if (memcmp(ip6->dst_addr, all_nodes, 16) != 0) {
			ip6_snma(snma, ifp->ll6);
			if (memcmp(ip6->dst_addr, snma, 16) != 0) {
				if (!ifp->has_ip6) {
					NET_DROP(ctx, ip6_not_ours);
					goto drop;
				}
				ip6_snma(snma, ifp->ip6);
				if (memcmp(ip6->dst_addr, snma, 16) != 0) {
					NET_DROP(ctx, ip6_not_ours);
					goto drop;
				}
			}
		}
	}
	if (m->data_len > plen + sizeof(*ip6))
		rte_pktmbuf_trim(m, (uint16_t)(m->data_len - plen - sizeof(*ip6)));
	/* walk the extension headers we tolerate */
	nh = ip6->proto;
	for (;;) {
		const uint8_t *x;

		pr = &ctx->protosw[ctx->protox[nh]];
		if (pr->input != NULL || nh == IPPROTO_ICMPV6)
			break;
		if (nh == IPPROTO_FRAGMENT) {
			NET_DROP(ctx, ip6_fragment);
			goto drop;
		}
		if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS) {
			NET_DROP(ctx, ip6_proto);
			goto drop;
		}
		if (++hops > 4 || off + 8 > m->data_len) {
			NET_DROP(ctx, ip6_bad_header);
			goto drop;
		}
		x = rte_pktmbuf_mtod_offset(m, const uint8_t *, off);
		if (nh == IPPROTO_ROUTING && x[3] != 0) {
			/* segments left: we are not the final destination */
			NET_DROP(ctx, ip6_bad_header);
			goto drop;
		}
		nh = x[0];
		off += (x[1] + 1u) * 8;
		if (off > m->data_len) {
			NET_DROP(ctx, ip6_bad_header);
			goto drop;
		}
	}
	m->l3_len = off;
	rte_pktmbuf_adj(m, (uint16_t)off);
	if (nh == IPPROTO_ICMPV6) {
		icmp6_input(ctx, ifp, m, ip6, m->data_len, mcast);
		return;
	}
	if (mcast) {
		NET_DROP(ctx, ip6_not_ours);
		goto drop;
	}
	memset(&t, 0, sizeof(t));
	t.family = NET_AF_INET6;
	t.ifidx = ifp->idx;
	memcpy(t.laddr.a, ip6->dst_addr, 16);
	memcpy(t.raddr.a, ip6->src_addr, 16);
	l4_deliver(ctx, pr, m, &t, m->data_len);
	return;
drop:
	rte_pktmbuf_free(m);
}

/* Frame input: Ethernet demultiplexing. */
void net_input(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eh;
	uint16_t type;

	ctx->st.rx_packets++;
	ctx->st.rx_bytes += m->pkt_len;
	if (m->nb_segs != 1) {
		NET_DROP(ctx, multiseg);
		rte_pktmbuf_free(m);
		return;
	}
	if (m->data_len < sizeof(*eh)) {
		NET_DROP(ctx, eth_short);
		rte_pktmbuf_free(m);
		return;
	}
	eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	if (!rte_is_same_ether_addr(&eh->dst_addr, &ifp->mac) && !rte_is_multicast_ether_addr(&eh->dst_addr)) {
		NET_DROP(ctx, eth_type);
		rte_pktmbuf_free(m);
		return;
	}
	type = rte_be_to_cpu_16(eh->ether_type);
	m->l2_len = sizeof(*eh);
	m->port = ifp->port_id;
	switch (type) {
	case RTE_ETHER_TYPE_ARP:
		arp_input(ctx, ifp, m, 0);
		return;
	case RTE_ETHER_TYPE_IPV4:
		rte_pktmbuf_adj(m, sizeof(*eh));
		ip4_input(ctx, ifp, m);
		return;
	case RTE_ETHER_TYPE_IPV6:
		rte_pktmbuf_adj(m, sizeof(*eh));
		ip6_input(ctx, ifp, m);
		return;
	default:
		NET_DROP(ctx, eth_type);
		rte_pktmbuf_free(m);
		return;
	}
}

/* ---- IP output ---- */

/* Is a within the on-link prefix of ifp (IPv6)? */
static int ip6_onlink(const struct net_if *ifp, const uint8_t *a)
{
	unsigned bits = ifp->ip6_prefix, i;

	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return 1;
	if (!ifp->has_ip6)
		return 0;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (a[i] != ifp->ip6[i])
			return 0;
	return bits == 0 || ((a[i] ^ ifp->ip6[i]) & (0xff00 >> bits)) == 0;
}

/* Prepend IP and Ethernet, checksum, and send toward the next hop. */
int net_ip_output(struct net_ctx *ctx, const struct net_tuple *t, uint8_t proto,
		  struct rte_mbuf *m, unsigned l4_csum_off)
{
	struct net_if *ifp = &ctx->ifs[t->ifidx];
	uint32_t l4len = m->pkt_len;
	uint8_t *l4 = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_ether_hdr *eh;
	struct net_addr nh;
	uint16_t c;
	int offload = ifp->tx_csum_l4 && proto == IPPROTO_TCP;

	memset(&nh, 0, sizeof(nh));
	l4[l4_csum_off] = l4[l4_csum_off + 1] = 0;
	if (offload) {
		c = l4_phdr_csum(t->family, &t->laddr, &t->raddr, proto, l4len);
		m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
	} else {
		c = net_l4_csum(t->family, &t->laddr, &t->raddr, proto, l4, l4len);
	}
	memcpy(l4 + l4_csum_off, &c, 2);
	m->l4_len = 20;
	m->l2_len = sizeof(*eh);
	if (t->family == NET_AF_INET) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)rte_pktmbuf_prepend(m, sizeof(*ip));
		uint32_t dst;

		memcpy(&dst, t->raddr.a, 4);
		ip->version_ihl = 0x45;
		ip->type_of_service = 0;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(l4len + sizeof(*ip)));
		ip->packet_id = 0;
		ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
		ip->time_to_live = 64;
		ip->next_proto_id = proto;
		ip->hdr_checksum = 0;
		memcpy(&ip->src_addr, t->laddr.a, 4);
		ip->dst_addr = dst;
		m->l3_len = sizeof(*ip);
		if (offload && ifp->tx_csum_ip4)
			m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
		else {
			if (offload)
				m->ol_flags |= RTE_MBUF_F_TX_IPV4;
			ip->hdr_checksum = rte_ipv4_cksum(ip);
		}
		if (((dst ^ ifp->ip4) & ifp->mask4) == 0)
			memcpy(nh.a, &dst, 4);
		else if (ifp->has_gw4)
			memcpy(nh.a, &ifp->gw4, 4);
		else {
			NET_DROP(ctx, no_route);
			rte_pktmbuf_free(m);
			return -ENETUNREACH;
		}
	} else {
		struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)rte_pktmbuf_prepend(m, sizeof(*ip6));

		ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip6->payload_len = rte_cpu_to_be_16((uint16_t)l4len);
		ip6->proto = proto;
		ip6->hop_limits = 64;
		memcpy(ip6->src_addr, t->laddr.a, 16);
		memcpy(ip6->dst_addr, t->raddr.a, 16);
		m->l3_len = sizeof(*ip6);
		if (offload)
			m->ol_flags |= RTE_MBUF_F_TX_IPV6;
		if (ip6_onlink(ifp, t->raddr.a))
			nh = t->raddr;
		else if (ifp->has_gw6)
			memcpy(nh.a, ifp->gw6, 16);
		else {
			NET_DROP(ctx, no_route);
			rte_pktmbuf_free(m);
			return -ENETUNREACH;
		}
	}
	if (m->pkt_len > ifp->mtu) {
		NET_DROP(ctx, tx_too_big);
		rte_pktmbuf_free(m);
		return -EMSGSIZE;
	}
	eh = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(*eh));
	eh->src_addr = ifp->mac;
	eh->ether_type = rte_cpu_to_be_16(t->family == NET_AF_INET ? RTE_ETHER_TYPE_IPV4
							    : RTE_ETHER_TYPE_IPV6);
	neigh_send(ctx, ifp, t->family, &nh, m);
	return 0;
}

/* Gratuitous ARP and unsolicited NA for our addresses (at start). */
void net_announce(struct net_ctx *ctx)
{
	static const uint8_t all_nodes[16] = { 0xff, 2, [15] = 1 };
	struct rte_ether_addr dmac;
	unsigned i;

	ip6_mcast_mac(&dmac, all_nodes);
	for (i = 0; i < ctx->nifs; i++) {
		struct net_if *ifp = &ctx->ifs[i];

		if (ifp->has_ip4)
			arp_request(ctx, ifp, ifp->ip4, ifp->ip4);
		if (ifp->has_ip6)
			nd_advert(ctx, ifp, ifp->ip6, all_nodes, &dmac, 0);
		nd_advert(ctx, ifp, ifp->ll6, all_nodes, &dmac, 0);
	}
}
