/*
 * udp_none.c - udp.h for unit tests whose stack has no UDP (test_session
 * links the DNS files through session.c but configures no dns_servers):
 * every socket fails to open. test_dns has an in-memory UDP of its own.
 */
#include <errno.h>
#include "dataplane/net/udp.h"

int udp_init(struct net_ctx *ctx, unsigned max_socks)
{
	(void)ctx;
	(void)max_socks;
	return -ENOSYS;
}

struct udp_sock *udp_connect(struct net_ctx *ctx, unsigned ifidx, uint8_t family, const struct net_addr *raddr,
			     uint16_t rport, const struct udp_ops *ops, void *app)
{
	(void)ctx, (void)ifidx, (void)family, (void)raddr, (void)rport, (void)ops, (void)app;
	errno = ENOSYS;
	return NULL;
}

int udp_send(struct udp_sock *u, const void *buf, size_t len)
{
	(void)u, (void)buf, (void)len;
	return -ENOSYS;
}

void udp_close(struct udp_sock *u)
{
	(void)u;
}

void udp_set_timeout(struct udp_sock *u, unsigned ms)
{
	(void)u, (void)ms;
}

void *udp_app(const struct udp_sock *u)
{
	(void)u;
	return NULL;
}

const struct net_tuple *udp_tuple(const struct udp_sock *u)
{
	(void)u;
	return NULL;
}

unsigned udp_sock_count(const struct net_ctx *ctx)
{
	(void)ctx;
	return 0;
}

uint16_t udp_random16(struct net_ctx *ctx)
{
	(void)ctx;
	return 0;
}
