/*
 * port.h - DPDK port set-up for mxgate's worker lcores, the TX path
 * (per-worker burst buffers), and the impairment stage (reordering,
 * duplication) that lab and soak tests switch on from the config.
 */
#ifndef MX_PORT_H
#define MX_PORT_H

#include <stddef.h>
#include <rte_mempool.h>
#include "common/config.h"
#include "dataplane/net/net.h"

/* What port_setup() learnt about one port (shared by all workers). */
struct port_info {
	uint16_t port_id;
	struct rte_ether_addr mac;
	int tx_csum_ip4, tx_csum_l4, rx_csum;
	uint16_t reta_size;
	int rss;
};

/*
 * Configure and start a configured port with one RX and one TX queue per
 * worker. Returns 0 or -1 with a message in err.
 */
int port_setup(const struct cfg_port *cp, unsigned nworkers, const struct mx_config *cfg,
	       struct rte_mempool *pool, struct port_info *pi, char *err, size_t errlen);

/* Stop and close a port. */
void port_close(uint16_t port_id);

/* Fill a worker's view of a port (addresses, offloads, queue = worker). */
void port_if_fill(struct net_if *ifp, const struct cfg_port *cp, const struct port_info *pi,
		  unsigned idx, unsigned worker);

/* Attach an impairment stage to a worker's interface (cfg->impair.enabled). */
int port_impair_attach(struct net_if *ifp, const struct cfg_impair *imp, uint64_t seed);
void port_impair_free(struct net_if *ifp);

/* net_xmit_fn of mxgate: buffer a frame (m) or flush (m == NULL). */
void port_xmit(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m);

/* Receive a burst on a worker's queue of ifp and run it through the stack. */
unsigned port_poll(struct net_ctx *ctx, struct net_if *ifp);

#endif
