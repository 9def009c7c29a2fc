/*
 * tcp_app.c - what an application may know of its worker's stack (the
 * accessors of tcp_app.h), so that applications need not see struct
 * net_ctx and DPDK.
 */
#include "dataplane/net/net.h"
#include "dataplane/net/tcp_app.h"

/* The poll loop's clock, in microseconds. */
uint64_t tcp_now_us(const struct net_ctx *ctx)
{
	return ctx->now_us;
}

/* This worker's index. */
unsigned tcp_worker(const struct net_ctx *ctx)
{
	return ctx->worker;
}

/* How many workers share the traffic. */
unsigned tcp_nworkers(const struct net_ctx *ctx)
{
	return ctx->nworkers;
}

/* The worker's EAL lcore. */
unsigned tcp_lcore(const struct net_ctx *ctx)
{
	return ctx->lcore_id;
}

/* The last interface with this role, or 0. */
unsigned tcp_if_of_role(const struct net_ctx *ctx, unsigned role)
{
	unsigned i, idx = 0;

	for (i = 0; i < ctx->nifs; i++)
		if (ctx->ifs[i].role == role)
			idx = i;
	return idx;
}
