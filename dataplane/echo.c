/*
 * echo.c - TCP echo: every byte read is sent back. Back-pressure is
 * end to end: when our send buffer is full we stop consuming, so our
 * receive window closes and the client's sends stall.
 */
#include <stdint.h>
#include "echo.h"

static unsigned echo_idle_ms;

/* Move as much as the send buffer takes from the receive queue. */
static void echo_pump(struct tcp_conn *c)
{
	const uint8_t *p;
	size_t n, k;

	while ((p = tcp_peek(c, &n)) != NULL) {
		k = tcp_send(c, p, n);
		tcp_consume(c, k);
		if (k < n)
			break;
	}
	tcp_set_timeout(c, echo_idle_ms);
}

/* New session: arm the idle timer. */
static void echo_accept(struct tcp_conn *c, void *arg)
{
	(void)arg;
	tcp_set_timeout(c, echo_idle_ms);
}

/* The client is done and everything it sent has been queued back: close. */
static void echo_peer_closed(struct tcp_conn *c)
{
	tcp_close(c);
}

/* Idle too long: reset. */
static void echo_timeout(struct tcp_conn *c)
{
	tcp_abort(c);
}

static const struct tcp_app_ops echo_ops = {
	.accept = echo_accept,
	.readable = echo_pump,
	.writable = echo_pump,
	.peer_closed = echo_peer_closed,
	.timeout = echo_timeout,
};

int echo_start(struct net_ctx *ctx, uint16_t port, unsigned idle_ms)
{
	echo_idle_ms = idle_ms;
	return tcp_listen(ctx, port, &echo_ops, NULL);
}
