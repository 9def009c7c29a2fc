/*
 * udp.c - UDP for one worker lcore (udp.h): connected client sockets on
 * random local ports, registered with the IP layer as a net_protosw
 * beside TCP. A socket is found by its local port (unique per worker:
 * open addressing over a table twice the socket bound), then the
 * datagram must come from the socket's peer address and port to its
 * local address, or it is dropped. Checksums are always computed in
 * software (DNS datagrams are small); a zero checksum is accepted over
 * IPv4 only (RFC 768), never over IPv6 (RFC 8200 8.1).
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <rte_malloc.h>

#include "net.h"
#include "udp.h"

#define UDP_HDR          8
#define UDP_PORT_TRIES   512     /* random ports tried before EADDRINUSE */

struct udp_sock {
	struct net_ctx *ctx;
	const struct udp_ops *ops;
	void *app;
	struct net_tuple t;
	uint64_t due_us;             /* timer, 0 = none */
	int used;
	unsigned slot;               /* index in the port table */
};

struct udp_ctx {
	struct udp_sock *socks;      /* max entries */
	unsigned max, nopen;
	struct udp_sock **ports;     /* open addressing by local port, tsize entries */
	unsigned tsize;
	uint64_t next_due_us;        /* earliest timer (may be stale-early, never late) */
	uint8_t rnd[256];            /* getrandom(2) bytes ... */
	unsigned rnd_used;           /* ... of which this many are spent */
};

#define U(ctx) ((ctx)->udp)

/* Two unpredictable bytes (buffered getrandom; a counter mix if the kernel says no). */
uint16_t udp_random16(struct net_ctx *ctx)
{
	struct udp_ctx *uc = U(ctx);
	uint16_t v;

	if (uc->rnd_used + 2 > sizeof(uc->rnd)) {
		if (getrandom(uc->rnd, sizeof(uc->rnd), GRND_NONBLOCK) != (ssize_t)sizeof(uc->rnd)) {
			/* never expected after boot; still not constant */
			uint64_t x = ctx->now_us * 0x9e3779b97f4a7c15ull ^ (uintptr_t)uc;

			for (unsigned i = 0; i < sizeof(uc->rnd); i++, x = x * 6364136223846793005ull + 1442695040888963407ull)
				uc->rnd[i] ^= (uint8_t)(x >> 56);
		}
		uc->rnd_used = 0;
	}
	memcpy(&v, uc->rnd + uc->rnd_used, 2);
	uc->rnd_used += 2;
	return v;
}

static unsigned port_hash(const struct udp_ctx *uc, uint16_t port)
{
	return (unsigned)(port * 40503u) & (uc->tsize - 1);
}

/* The socket bound to local port, or NULL. */
static struct udp_sock *port_find(const struct udp_ctx *uc, uint16_t port)
{
	unsigned i, h = port_hash(uc, port);

	for (i = 0; i < uc->tsize; i++) {
		struct udp_sock *u = uc->ports[(h + i) & (uc->tsize - 1)];

		if (u == NULL)
			return NULL;
		if (u != (struct udp_sock *)uc && u->t.lport == port)
			return u;
	}
	return NULL;
}

/* Datagram input: m's data at the UDP header, len bytes. */
static void udp_input(struct net_ctx *ctx, struct net_tuple *t, struct rte_mbuf *m, unsigned len)
{
	struct udp_ctx *uc = U(ctx);
	const uint8_t *h = rte_pktmbuf_mtod(m, const uint8_t *);
	unsigned ulen = (unsigned)(h[4] << 8 | h[5]);
	struct udp_sock *u;

	if (ulen < UDP_HDR || ulen > len || ulen > m->data_len) {
		NET_DROP(ctx, udp_short);
		goto out;
	}
	/* over a valid datagram the sum is all ones (net_l4_csum gives 0xffff for UDP) */
	if ((h[6] | h[7]) == 0 ? t->family == NET_AF_INET6
			       : net_l4_csum(t->family, &t->raddr, &t->laddr, IPPROTO_UDP, h, ulen) != 0xffff) {
		NET_DROP(ctx, udp_csum);
		goto out;
	}
	u = uc != NULL ? port_find(uc, t->lport) : NULL;
	if (u == NULL || u->t.family != t->family || u->t.rport != t->rport ||
	    memcmp(&u->t.raddr, &t->raddr, sizeof(t->raddr)) != 0 ||
	    memcmp(&u->t.laddr, &t->laddr, sizeof(t->laddr)) != 0) {
		NET_DROP(ctx, udp_no_socket);
		goto out;
	}
	if (u->ops && u->ops->input)
		u->ops->input(u, h + UDP_HDR, ulen - UDP_HDR);
out:
	rte_pktmbuf_free(m);
}

/* Timers due now (sockets may close themselves from the callback). */
static void udp_timers(struct net_ctx *ctx)
{
	struct udp_ctx *uc = U(ctx);
	uint64_t now = ctx->now_us, next = UINT64_MAX;
	unsigned i;

	if (uc == NULL || uc->nopen == 0 || now < uc->next_due_us)
		return;
	uc->next_due_us = UINT64_MAX;
	for (i = 0; i < uc->max; i++) {
		struct udp_sock *u = &uc->socks[i];

		if (!u->used || u->due_us == 0)
			continue;
		if (u->due_us <= now) {
			u->due_us = 0;
			if (u->ops && u->ops->timeout)
				u->ops->timeout(u);   /* may close u, or open and arm others */
		} else if (u->due_us < next) {
			next = u->due_us;
		}
	}
	if (next < uc->next_due_us)
		uc->next_due_us = next;
}

static void udp_ctx_free(struct net_ctx *ctx)
{
	struct udp_ctx *uc = U(ctx);

	if (uc == NULL)
		return;
	rte_free(uc->socks);
	rte_free(uc->ports);
	rte_free(uc);
	ctx->udp = NULL;
}

/* UDP as the IP layer calls it. */
static const struct net_protosw udp_protosw = {
	.proto = IPPROTO_UDP,
	.hdr_min = UDP_HDR,
	.drop_short = NET_DROP_udp_short,
	.input = udp_input,
	.timers = udp_timers,
	.destroy = udp_ctx_free,
};

int udp_init(struct net_ctx *ctx, unsigned max_socks)
{
	struct udp_ctx *uc;
	int rc;

	if (ctx->udp != NULL)
		return -EEXIST;
	if (max_socks == 0 || max_socks > 32768)
		return -EINVAL;
	uc = rte_zmalloc("udp_ctx", sizeof(*uc), RTE_CACHE_LINE_SIZE);
	if (uc == NULL)
		return -ENOMEM;
	uc->max = max_socks;
	for (uc->tsize = 16; uc->tsize < 2 * max_socks; uc->tsize <<= 1)
		;
	uc->socks = rte_zmalloc("udp_socks", sizeof(*uc->socks) * max_socks, RTE_CACHE_LINE_SIZE);
	uc->ports = rte_zmalloc("udp_ports", sizeof(*uc->ports) * uc->tsize, RTE_CACHE_LINE_SIZE);
	uc->rnd_used = sizeof(uc->rnd);
	uc->next_due_us = UINT64_MAX;
	rc = uc->socks == NULL || uc->ports == NULL ? -ENOMEM : net_proto_register(ctx, &udp_protosw);
	if (rc < 0) {
		rte_free(uc->socks);
		rte_free(uc->ports);
		rte_free(uc);
		return rc;
	}
	ctx->udp = uc;
	return 0;
}

struct udp_sock *udp_connect(struct net_ctx *ctx, unsigned ifidx, uint8_t family, const struct net_addr *raddr,
			     uint16_t rport, const struct udp_ops *ops, void *app)
{
	struct udp_ctx *uc = U(ctx);
	struct udp_sock *u = NULL;
	struct net_tuple t;
	unsigned i, tries, h;

	if (uc == NULL || net_tuple_active(ctx, ifidx, family, raddr, rport, &t) != 0) {
		errno = EADDRNOTAVAIL;
		return NULL;
	}
	if (uc->nopen >= uc->max) {
		errno = EMFILE;
		return NULL;
	}
	for (tries = 0; tries < UDP_PORT_TRIES; tries++) {
		t.lport = (uint16_t)(1024 + udp_random16(ctx) % (65536 - 1024));
		if (net_flow_owner(ctx, &t) == ctx->worker && port_find(uc, t.lport) == NULL)
			break;
	}
	if (tries == UDP_PORT_TRIES) {
		errno = EADDRINUSE;
		return NULL;
	}
	for (i = 0; i < uc->max; i++)
		if (!uc->socks[i].used) {
			u = &uc->socks[i];
			break;
		}
	/* a slot in the port table: empty or a tombstone (the table is twice the bound) */
	h = port_hash(uc, t.lport);
	for (i = 0; uc->ports[(h + i) & (uc->tsize - 1)] != NULL &&
		    uc->ports[(h + i) & (uc->tsize - 1)] != (struct udp_sock *)uc; i++)
		;
	memset(u, 0, sizeof(*u));
	u->used = 1;
	u->ctx = ctx;
	u->ops = ops;
	u->app = app;
	u->t = t;
	u->slot = (h + i) & (uc->tsize - 1);
	uc->ports[u->slot] = u;
	uc->nopen++;
	return u;
}

int udp_send(struct udp_sock *u, const void *buf, size_t len)
{
	struct net_ctx *ctx = u->ctx;
	struct rte_mbuf *m;
	uint8_t *h;

	if (len > UDP_PAYLOAD_MAX)
		return -EMSGSIZE;
	if ((m = net_alloc(ctx)) == NULL)
		return -ENOBUFS;
	h = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(UDP_HDR + len));
	if (h == NULL) {
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	h[0] = (uint8_t)(u->t.lport >> 8);
	h[1] = (uint8_t)u->t.lport;
	h[2] = (uint8_t)(u->t.rport >> 8);
	h[3] = (uint8_t)u->t.rport;
	h[4] = (uint8_t)((UDP_HDR + len) >> 8);
	h[5] = (uint8_t)(UDP_HDR + len);
	memcpy(h + UDP_HDR, buf, len);
	return net_ip_output(ctx, &u->t, IPPROTO_UDP, m, 6);   /* fills the checksum (0 sent as 0xffff) */
}

void udp_close(struct udp_sock *u)
{
	struct udp_ctx *uc;
	unsigned next;

	if (u == NULL || !u->used)
		return;
	uc = U(u->ctx);
	/* a tombstone unless the next slot is empty (then the chain may end here) */
	next = (u->slot + 1) & (uc->tsize - 1);
	uc->ports[u->slot] = uc->ports[next] == NULL ? NULL : (struct udp_sock *)uc;
	u->used = 0;
	u->ops = NULL;
	u->due_us = 0;
	uc->nopen--;
	if (uc->nopen == 0)       /* nothing open: no tombstones needed */
		memset(uc->ports, 0, sizeof(*uc->ports) * uc->tsize);
}

void udp_set_timeout(struct udp_sock *u, unsigned ms)
{
	struct udp_ctx *uc = U(u->ctx);

	if (ms == 0) {
		u->due_us = 0;
		return;
	}
	u->due_us = u->ctx->now_us + (uint64_t)ms * 1000;
	if (u->due_us < uc->next_due_us)
		uc->next_due_us = u->due_us;
}

void *udp_app(const struct udp_sock *u)
{
	return u->app;
}

const struct net_tuple *udp_tuple(const struct udp_sock *u)
{
	return &u->t;
}

unsigned udp_sock_count(const struct net_ctx *ctx)
{
	return ctx->udp ? ctx->udp->nopen : 0;
}
