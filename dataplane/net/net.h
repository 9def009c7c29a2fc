/*
 * net.h - the per-lcore userspace network stack: interfaces, neighbour
 * caches (ARP, IPv6 ND), IPv4/IPv6 input and output, ICMP, packet steering
 * between worker lcores, and the stack's counters. TCP lives in tcp.h.
 *
 * Everything here belongs to one worker lcore (struct net_ctx) and is
 * touched by that lcore only: no locks. The only cross-lcore traffic is
 * mbufs handed over on rte_rings (steering) and the counters, which the
 * service lcore reads without locking (plain 64-bit integers).
 *
 * Transport protocols register with the stack (struct net_protosw, as
 * FreeBSD's protosw): net.c hands them what arrives for their protocol
 * number and runs their hooks, and never calls them by name; they send
 * through net_ip_output().
 */
#ifndef MX_NET_H
#define MX_NET_H

#include <stdint.h>
#include <stddef.h>
#include <rte_mbuf.h>
#include <rte_ether.h>
#include "net_addr.h"

#define NET_MAX_IFS      4
#define NET_MAX_WORKERS  16
#define NET_TX_BURST     32
#define NET_RX_BURST     32
#define NET_HEADROOM     (14 + 40)   /* Ethernet + IPv6, the largest L2+L3 we prepend */

/* Drop reasons: every packet the stack discards is counted under one. */
#define NET_DROP_REASONS(X) \
	X(eth_short)          /* frame shorter than an Ethernet header */ \
	X(eth_type)           /* EtherType we do not speak, or not for our MAC */ \
	X(multiseg)           /* received as a chain of mbufs */ \
	X(arp_bad)            /* malformed or foreign ARP */ \
	X(ip4_short)          /* truncated IPv4 header or total length */ \
	X(ip4_bad_header)     /* version, IHL, options */ \
	X(ip4_csum)           /* bad IPv4 header checksum */ \
	X(ip4_fragment)       /* IPv4 fragments are not reassembled */ \
	X(ip4_not_ours)       /* destination is not an address of ours */ \
	X(ip4_proto)          /* protocol we do not serve */ \
	X(ip6_short)          /* truncated IPv6 header or payload */ \
	X(ip6_bad_header)     /* version, extension header chain */ \
	X(ip6_fragment)       /* IPv6 fragments are not reassembled */ \
	X(ip6_not_ours)       /* destination is not an address of ours */ \
	X(ip6_proto)          /* next header we do not serve */ \
	X(icmp_bad)           /* malformed ICMP / ICMPv6, bad checksum */ \
	X(icmp_ignored)       /* well-formed ICMP we have no use for */ \
	X(nd_bad)             /* malformed neighbour discovery */ \
	X(tcp_short)          /* truncated TCP header */ \
	X(tcp_csum)           /* bad TCP checksum */ \
	X(tcp_bad_options)    /* malformed TCP options */ \
	X(tcp_bad_flags)      /* impossible flag combinations (SYN+RST, no ACK, ...) */ \
	X(tcp_no_listener)    /* segment for no connection and no listener (RST sent) */ \
	X(tcp_conn_limit)     /* max_conns reached */ \
	X(tcp_syncookie_bad)  /* ACK that is neither a connection nor a valid cookie */ \
	X(tcp_paws)           /* PAWS: old timestamp */ \
	X(tcp_out_of_window)  /* sequence number outside the receive window */ \
	X(tcp_bad_ack)        /* ACK of data never sent, or too old */ \
	X(tcp_reasm_limit)    /* out-of-order queue limit per connection or lcore */ \
	X(tcp_rcvbuf_full)    /* data beyond the advertised window */ \
	X(tcp_challenge_limit) /* challenge ACK rate limit hit */ \
	X(udp_short)          /* truncated UDP header or length field */ \
	X(udp_csum)           /* bad UDP checksum (or none over IPv6) */ \
	X(udp_no_socket)      /* datagram for no socket, or not from its peer */ \
	X(neigh_unresolved)   /* next hop did not answer ARP / NS */ \
	X(neigh_pending_full) /* too many packets waiting for one next hop */ \
	X(no_route)           /* no interface or gateway for the destination */ \
	X(nombuf)             /* mbuf pool empty */ \
	X(tx_full)            /* NIC TX ring refused the packet */ \
	X(tx_too_big)         /* frame larger than the MTU: a stack bug if ever non-zero */ \
	X(steer_full)         /* steering ring to another worker full */

enum net_drop {
#define X(n) NET_DROP_##n,
	NET_DROP_REASONS(X)
#undef X
	NET_DROP__MAX
};

extern const char *const net_drop_names[NET_DROP__MAX];

/* Bounds of the poll-round histogram (stats.c: mxgate_worker_busy_round_seconds). */
#define NET_ROUND_BUCKETS 10

/* Counters of one worker lcore (cf. Redis server.h stat_*). */
struct net_stats {
	uint64_t rx_packets;          /* frames received from the ports */
	uint64_t rx_bytes;
	uint64_t tx_packets;          /* frames handed to the ports */
	uint64_t tx_bytes;
	uint64_t drops[NET_DROP__MAX];
	uint64_t steered_out;         /* packets handed to another worker */
	uint64_t steered_in;          /* packets received from another worker */
	uint64_t arp_requests_sent;
	uint64_t arp_replies_sent;
	uint64_t nd_solicits_sent;
	uint64_t nd_adverts_sent;
	uint64_t icmp_echo_replies;   /* ICMP and ICMPv6 echo replies sent */
	uint64_t pmtu_updates;        /* ICMP frag-needed / packet-too-big honoured */
	uint64_t tcp_passive_opens;   /* connections accepted */
	uint64_t tcp_active_opens;    /* connections we opened */
	uint64_t tcp_active_fails;    /* active opens that failed */
	uint64_t tcp_closed;          /* connections that ended (any way) */
	uint64_t tcp_refused;         /* SYNs answered by RST or dropped for limits */
	uint64_t tcp_resets_in;       /* valid RSTs received */
	uint64_t tcp_resets_out;      /* RSTs sent */
	uint64_t tcp_retransmits;     /* segments sent again */
	uint64_t tcp_rto;             /* retransmission timeouts */
	uint64_t tcp_fast_retransmits;
	uint64_t tcp_ooo_segments;    /* segments queued out of order */
	uint64_t tcp_dup_segments;    /* segments wholly already received */
	uint64_t tcp_syncookies_sent;
	uint64_t tcp_syncookies_ok;   /* connections created from a valid cookie */
	uint64_t tcp_challenge_acks;  /* RFC 5961 challenge ACKs sent */
	uint64_t tcp_timewait_recycled; /* TIME_WAIT entries evicted by the bound */
	uint64_t tcp_zero_window_probes;
	uint64_t tcp_conns;           /* gauge: connections now in the table */
	uint64_t busy_cycles;         /* TSC cycles of polls that found work */
	uint64_t idle_cycles;         /* TSC cycles of polls that found none */
	/* polls that found work, by time (bounds: stats_round_le_us; the last: above them all) */
	uint64_t busy_rounds[NET_ROUND_BUCKETS + 1];
};

/* One port as one worker lcore sees it (each worker has its own copy). */
struct net_if {
	uint16_t port_id;
	uint16_t queue;               /* this worker's RX and TX queue */
	uint8_t idx;                  /* index in net_ctx.ifs */
	uint8_t role;                 /* enum cfg_role */
	struct rte_ether_addr mac;
	uint16_t mtu;
	int has_ip4, has_gw4, has_ip6, has_gw6;
	uint32_t ip4, gw4, mask4;     /* network byte order */
	uint8_t ip4_plen;
	uint8_t ip6[16], gw6[16], ll6[16]; /* ll6: fe80:: address from the MAC */
	uint8_t ip6_prefix;
	int tx_csum_ip4, tx_csum_l4;  /* TX checksum offloads usable */
	int rx_csum;                  /* RX checksum flags are trustworthy */
	uint16_t reta_size;           /* RSS redirection table size, 0: no RSS */
	uint16_t tx_n;
	uint16_t tx_stuck;            /* flushes in a row that sent nothing */
	struct rte_mbuf *tx_buf[NET_TX_BURST];
	struct net_impair *imp;       /* NULL unless impairment is configured */
};

struct tcp_ctx;
struct udp_ctx;
struct neigh_table;
struct net_ctx;

/* Transmit hook: the port layer in mxgate, a capture in the unit tests. */
typedef void (*net_xmit_fn)(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m);

/*
 * A transport protocol as the IP layer sees it (FreeBSD's protosw). Its
 * header starts with the two ports, which steer a packet to the worker
 * that owns its flow; input() runs on that worker only.
 */
struct net_protosw {
	uint8_t proto;                /* IP protocol number (IPPROTO_TCP) */
	uint8_t hdr_min;              /* shortest header; a shorter packet is dropped ... */
	enum net_drop drop_short;     /* ... and counted under this reason */
	/* One packet for a local address; m's data is at the L4 header, len its length. */
	void (*input)(struct net_ctx *ctx, struct net_tuple *t, struct rte_mbuf *m, unsigned len);
	/* ICMP: the path of flow t carries at most mtu bytes; seq is from the quoted header. */
	void (*ctlinput)(struct net_ctx *ctx, const struct net_tuple *t, uint16_t mtu, uint32_t seq);
	void (*timers)(struct net_ctx *ctx);   /* from net_timers() */
	void (*destroy)(struct net_ctx *ctx);  /* from net_ctx_free() */
};

#define NET_MAX_PROTOS 4              /* protosw[0] is the empty entry */

/* The whole stack of one worker lcore. */
struct net_ctx {
	unsigned worker;              /* 0..nworkers-1 */
	unsigned nworkers;
	unsigned lcore_id;
	uint64_t now_us;              /* set by the poll loop (or the tests) */
	uint64_t tsc_hz;
	struct rte_mempool *pool;
	struct net_if ifs[NET_MAX_IFS];
	unsigned nifs;
	struct rte_ring *steer[NET_MAX_WORKERS]; /* each worker's inbound ring */
	uint8_t rss_key[40];
	net_xmit_fn xmit;
	struct neigh_table *neigh;
	struct tcp_ctx *tcp;          /* TCP's state (tcp*.c) */
	struct udp_ctx *udp;          /* UDP's state (udp.c), NULL unless a client needs it */
	uint8_t protox[256];          /* IP protocol number -> index in protosw, 0 = none */
	struct net_protosw protosw[NET_MAX_PROTOS];
	unsigned nprotos;             /* entries used, the empty one included */
	struct net_stats st;
} __rte_cache_aligned;

#define NET_DROP(ctx, reason) ((ctx)->st.drops[NET_DROP_##reason]++)

/* Create a stack for one worker; ifs must be filled by the caller after. */
struct net_ctx *net_ctx_create(unsigned worker, unsigned nworkers,
			       struct rte_mempool *pool, net_xmit_fn xmit);
/* Free a stack and everything it holds. */
void net_ctx_free(struct net_ctx *ctx);

/* Derive mask and link-local address of an interface after its fields are set. */
void net_if_init(struct net_if *ifp);

/* Process one received frame (takes ownership of m). */
void net_input(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m);
/* Process packets other workers handed over to us. */
unsigned net_steer_poll(struct net_ctx *ctx);
/* Run expired timers: neighbour retries, then each protocol's. */
void net_timers(struct net_ctx *ctx);
/* Send every buffered frame of every interface. */
void net_flush(struct net_ctx *ctx);

/* Register a transport protocol (copied); 0, -EEXIST or -ENOSPC. */
int net_proto_register(struct net_ctx *ctx, const struct net_protosw *pr);

/* Queue a complete frame for transmission on ifp (counts it). */
void net_tx(struct net_ctx *ctx, struct net_if *ifp, struct rte_mbuf *m);

/*
 * Send an L4 packet: m's data starts at the L4 header, with headroom for
 * IP and Ethernet. Prepends the IP header (proto), computes checksums
 * (the L4 checksum field at l4_csum_off is filled), resolves the next hop.
 * Takes ownership of m. Returns 0 or a negative errno (m freed).
 */
int net_ip_output(struct net_ctx *ctx, const struct net_tuple *t, uint8_t proto,
		  struct rte_mbuf *m, unsigned l4_csum_off);

/* The tuple of an active open (TCP, UDP) from interface ifidx, lport 0: 0, or -EADDRNOTAVAIL. */
int net_tuple_active(const struct net_ctx *ctx, unsigned ifidx, uint8_t family, const struct net_addr *raddr,
		     uint16_t rport, struct net_tuple *t);

/* Which worker owns the flow of an inbound packet with this tuple. */
unsigned net_flow_owner(const struct net_ctx *ctx, const struct net_tuple *t);

/* Add a neighbour entry by hand (tests, static entries). */
int net_neigh_add(struct net_ctx *ctx, unsigned ifidx, uint8_t family,
		  const struct net_addr *ip, const struct rte_ether_addr *mac, int permanent);

/* Send gratuitous ARP and unsolicited NA for every interface address. */
void net_announce(struct net_ctx *ctx);

/* Allocate an mbuf with NET_HEADROOM + room reserved; counts nombuf. */
struct rte_mbuf *net_alloc(struct net_ctx *ctx);

/* Sum of one's complement over a buffer, folded later (helpers for tests too). */
uint16_t net_l4_csum(uint8_t family, const struct net_addr *src, const struct net_addr *dst,
		     uint8_t proto, const void *l4, uint32_t len);

#endif
