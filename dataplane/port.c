/*
 * port.c - DPDK ports for mxgate: configuration (queues per worker, RSS
 * with the stack's symmetric key, checksum offloads, MTU), the TX burst
 * buffer of each worker, and the optional impairment stage.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "port.h"

#define IMPAIR_LINE 512
#define TX_STUCK_LIMIT 64   /* flushes without progress before the head frame is dropped */

/* A delay line: frames held until their release time, in FIFO order. */
struct imp_line {
	struct rte_mbuf *m[IMPAIR_LINE];
	uint64_t at[IMPAIR_LINE];
	unsigned head, n;
};

struct net_impair {
	unsigned reorder_pct, dup_pct, delay_us;
	uint64_t rng;
	struct imp_line rx, tx;
	uint64_t held, duplicated;
};

/* Configure a port: queues, RSS, offloads, MTU; then start it. */
int port_setup(const struct cfg_port *cp, unsigned nworkers, const struct mx_config *cfg,
	       struct rte_mempool *pool, struct port_info *pi, char *err, size_t errlen)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct rte_eth_rxconf rxc;
	struct rte_eth_txconf txc;
	static uint8_t key[40];
	uint16_t pid, q, nrx = (uint16_t)cfg->rx_ring_size, ntx = (uint16_t)cfg->tx_ring_size;
	int r;

	memset(pi, 0, sizeof(*pi));
	if (rte_eth_dev_get_port_by_name(cp->dev, &pid) != 0) {
		char names[512] = "", name[RTE_ETH_NAME_MAX_LEN];
		uint16_t p;

		RTE_ETH_FOREACH_DEV(p) {
			if (rte_eth_dev_get_name_by_port(p, name) == 0 &&
			    strlen(names) + strlen(name) + 3 < sizeof(names)) {
				strcat(names, names[0] ? ", " : "");
				strcat(names, name);
			}
		}
		snprintf(err, errlen, "%s: no DPDK port of that name (ports: %s)", cp->dev,
			 names[0] ? names : "none; add --vdev or a PCI device");
		return -1;
	}
	if ((r = rte_eth_dev_info_get(pid, &info)) != 0) {
		snprintf(err, errlen, "%s: cannot get device info: %s", cp->dev, strerror(-r));
		return -1;
	}
	if (info.max_rx_queues < nworkers || info.max_tx_queues < nworkers) {
		snprintf(err, errlen, "%s: %u workers need %u queues, the device has %u rx / %u tx",
			 cp->dev, nworkers, nworkers, info.max_rx_queues, info.max_tx_queues);
		return -1;
	}
	memset(&conf, 0, sizeof(conf));
	memset(key, 0, sizeof(key));
	for (q = 0; q < sizeof(key); q += 2) {
		key[q] = 0x6d;
		key[q + 1] = 0x5a;
	}
	if (nworkers > 1 && (info.flow_type_rss_offloads & (RTE_ETH_RSS_NONFRAG_IPV4_TCP |
							   RTE_ETH_RSS_NONFRAG_IPV6_TCP))) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = key;
		conf.rx_adv_conf.rss_conf.rss_key_len = sizeof(key);
		conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads &
			(RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV6_TCP);
		pi->rss = 1;
	}
	if ((info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) &&
	    (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
		pi->tx_csum_l4 = 1;
		pi->tx_csum_ip4 = 1;
	}
	if ((info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_CHECKSUM) == RTE_ETH_RX_OFFLOAD_CHECKSUM) {
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_CHECKSUM;
		pi->rx_csum = 1;
	}
	r = rte_eth_dev_configure(pid, (uint16_t)nworkers, (uint16_t)nworkers, &conf);
	if (r != 0) {
		snprintf(err, errlen, "%s: configure failed: %s", cp->dev, strerror(-r));
		return -1;
	}
	rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrx, &ntx);
	rxc = info.default_rxconf;
	rxc.offloads = conf.rxmode.offloads;
	txc = info.default_txconf;
	txc.offloads = conf.txmode.offloads;
	for (q = 0; q < nworkers; q++) {
		r = rte_eth_rx_queue_setup(pid, q, nrx, rte_eth_dev_socket_id(pid), &rxc, pool);
		if (r == 0)
			r = rte_eth_tx_queue_setup(pid, q, ntx, rte_eth_dev_socket_id(pid), &txc);
		if (r != 0) {
			snprintf(err, errlen, "%s: queue %u set-up failed: %s", cp->dev, q, strerror(-r));
			return -1;
		}
	}
	r = rte_eth_dev_set_mtu(pid, cp->mtu);
	if (r != 0 && r != -ENOTSUP) {
		snprintf(err, errlen, "%s: MTU %u refused: %s", cp->dev, cp->mtu, strerror(-r));
		return -1;
	}
	r = rte_eth_dev_start(pid);
	if (r != 0) {
		snprintf(err, errlen, "%s: start failed: %s", cp->dev, strerror(-r));
		return -1;
	}
	rte_eth_allmulticast_enable(pid);   /* IPv6 solicited-node multicast */
	pi->reta_size = pi->rss ? info.reta_size : 0;
	if (pi->rss && info.reta_size > 0) {
		/* queue i % nworkers, the mapping net_flow_owner() computes in software */
		struct rte_eth_rss_reta_entry64 reta[info.reta_size / RTE_ETH_RETA_GROUP_SIZE + 1];
		unsigned i;

		memset(reta, 0, sizeof(reta));
		for (i = 0; i < info.reta_size; i++) {
			reta[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ull << (i % RTE_ETH_RETA_GROUP_SIZE);
			reta[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] =
				(uint16_t)(i % nworkers);
		}
		if (rte_eth_dev_rss_reta_update(pid, reta, info.reta_size) != 0)
			pi->reta_size = 0;   /* software steering fixes what hardware does not */
	}
	rte_eth_macaddr_get(pid, &pi->mac);
	pi->port_id = pid;
	return 0;
}

/* Stop and close a port. */
void port_close(uint16_t port_id)
{
	rte_eth_dev_stop(port_id);
	rte_eth_dev_close(port_id);
}

/* A worker's view of a port. */
void port_if_fill(struct net_if *ifp, const struct cfg_port *cp, const struct port_info *pi,
		  unsigned idx, unsigned worker)
{
	memset(ifp, 0, sizeof(*ifp));
	ifp->port_id = pi->port_id;
	ifp->queue = (uint16_t)worker;
	ifp->idx = (uint8_t)idx;
	ifp->role = (uint8_t)cp->role;
	ifp->mac = pi->mac;
	ifp->mtu = cp->mtu;
	ifp->has_ip4 = cp->has_ip4;
	ifp->ip4 = cp->ip4;
	ifp->ip4_plen = cp->ip4_plen;
	ifp->has_gw4 = cp->has_gw4;
	ifp->gw4 = cp->gw4;
	ifp->has_ip6 = cp->has_ip6;
	memcpy(ifp->ip6, cp->ip6, 16);
	ifp->ip6_prefix = cp->ip6_prefix;
	ifp->has_gw6 = cp->has_gw6;
	memcpy(ifp->gw6, cp->gw6, 16);
	ifp->tx_csum_ip4 = pi->tx_csum_ip4;
	ifp->tx_csum_l4 = pi->tx_csum_l4;
	ifp->rx_csum = pi->rx_csum;
	ifp->reta_size = pi->reta_size;
	net_if_init(ifp);
}

/* ---- impairment ---- */

/* xorshift64*: cheap randomness for the impairment stage. */
static unsigned imp_rand100(struct net_impair *imp)
{
	imp->rng ^= imp->rng >> 12;
	imp->rng ^= imp->rng << 25;
	imp->rng ^= imp->rng >> 27;
	return (unsigned)((imp->rng * 2685821657736338717ull) >> 33) % 100;
}

int port_impair_attach(struct net_if *ifp, const struct cfg_impair *cfg, uint64_t seed)
{
	struct net_impair *imp;

	if (!cfg->enabled)
		return 0;
	imp = rte_zmalloc("impair", sizeof(*imp), 0);
	if (imp == NULL)
		return -1;
	imp->reorder_pct = cfg->reorder_pct;
	imp->dup_pct = cfg->dup_pct;
	imp->delay_us = cfg->delay_us;
	imp->rng = seed | 1;
	ifp->imp = imp;
	return 0;
}

void port_impair_free(struct net_if *ifp)
{
	struct imp_line *lines[2];
	unsigned i, k;

	if (ifp->imp == NULL)
		return;
	lines[0] = &ifp->imp->rx;
	lines[1] = &ifp->imp->tx;
	for (k = 0; k < 2; k++)
		for (i = 0; i < lines[k]->n; i++)
			rte_pktmbuf_free(lines[k]->m[(lines[k]->head + i) % IMPAIR_LINE]);
	rte_free(ifp->imp);
	ifp->imp = NULL;
}

/* Hold a frame back; returns 0 or -1 when the line is full. */
static int imp_hold(struct imp_line *l, struct rte_mbuf *m, uint64_t at)
{
	if (l->n == IMPAIR_LINE)
		return -1;
	l->m[(l->head + l->n) % IMPAIR_LINE] = m;
	l->at[(l->head + l->n) % IMPAIR_LINE] = at;
	l->n++;
	return 0;
}

/* Next frame whose time has come, or NULL. */
static struct rte_mbuf *imp_release(struct imp_line *l, uint64_t now)
{
	struct rte_mbuf *m;

	if (l->n == 0 || l->at[l->head] > now)
		return NULL;
	m = l->m[l->head];
	l->head = (l->head + 1) % IMPAIR_LINE;
	l->n--;
	return m;
}

/*
 * Decide a frame's fate: 0 = pass now, 1 = held (reordered). *dup gets a
 * copy to send as well when it is to be duplicated.
 */
static int imp_judge(struct net_ctx *ctx, struct net_impair *imp, struct imp_line *l,
		     struct rte_mbuf *m, struct rte_mbuf **dup)
{
	*dup = NULL;
	if (imp->dup_pct && imp_rand100(imp) < imp->dup_pct) {
		*dup = rte_pktmbuf_copy(m, ctx->pool, 0, UINT32_MAX);
		if (*dup)
			imp->duplicated++;
	}
	if (imp->reorder_pct && imp_rand100(imp) < imp->reorder_pct &&
	    imp_hold(l, m, ctx->now_us + imp->delay_us) == 0) {
		imp->held++;
		return 1;
	}
	return 0;
}

/* ---- TX ---- */

/*
 * Send the buffered burst. What the port refuses stays buffered for the
 * next flush (a tap refuses while the kernel drains its socket buffer);
 * only a frame that finds the buffer still full is dropped and counted.
 */
static void tx_flush(struct net_ctx *ctx, struct net_if *ifp)
{
	uint16_t sent;

	if (ifp->tx_n == 0)
		return;
	sent = rte_eth_tx_burst(ifp->port_id, ifp->queue, ifp->tx_buf, ifp->tx_n);
	if (sent == 0 && ++ifp->tx_stuck >= TX_STUCK_LIMIT) {
		/* the head frame is refused again and again: it will never go */
		NET_DROP(ctx, tx_full);
		rte_pktmbuf_free(ifp->tx_buf[0]);
		sent = 1;
	}
	if (sent > 0) {
		ifp->tx_stuck = 0;
		if (sent < ifp->tx_n)
			memmove(ifp->tx_buf, ifp->tx_buf + sent,
				(ifp->tx_n - sent) * sizeof(ifp->tx_buf[0]));
	}
	ifp->tx_n = (uint16_t)(ifp->tx_n - sent);
}

/* Add a frame to the burst buffer, flushing when full. */
static void tx_buffer(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m)
{
	if (ifp->tx_n == NET_TX_BURST)
		tx_flush(ctx, ifp);
	if (ifp->tx_n == NET_TX_BURST) {
		NET_DROP(ctx, tx_full);
		rte_pktmbuf_free(m);
		return;
	}
	ifp->tx_buf[ifp->tx_n++] = m;
}

void port_xmit(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m)
{
	struct rte_mbuf *dup;

	if (m == NULL) {
		if (ifp->imp)
			while ((dup = imp_release(&ifp->imp->tx, ctx->now_us)) != NULL)
				tx_buffer(ctx, ifp, dup);
		tx_flush(ctx, ifp);
		return;
	}
	if (ifp->imp) {
		int held = imp_judge(ctx, ifp->imp, &ifp->imp->tx, m, &dup);

		if (dup)
			tx_buffer(ctx, ifp, dup);
		if (held)
			return;
	}
	tx_buffer(ctx, ifp, m);
}

/* ---- RX ---- */

unsigned port_poll(struct net_ctx *ctx, struct net_if *ifp)
{
	struct rte_mbuf *pkts[NET_RX_BURST], *dup;
	unsigned n, i, work;

	n = rte_eth_rx_burst(ifp->port_id, ifp->queue, pkts, NET_RX_BURST);
	work = n;
	for (i = 0; i < n; i++) {
		if (ifp->imp) {
			int held = imp_judge(ctx, ifp->imp, &ifp->imp->rx, pkts[i], &dup);

			if (dup)
				net_input(ctx, ifp, dup);
			if (held)
				continue;
		}
		net_input(ctx, ifp, pkts[i]);
	}
	if (ifp->imp)
		while ((dup = imp_release(&ifp->imp->rx, ctx->now_us)) != NULL) {
			net_input(ctx, ifp, dup);
			work++;
		}
	return work;
}
