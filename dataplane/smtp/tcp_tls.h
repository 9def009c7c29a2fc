/*
 * tcp_tls.h - a TLS transport (crypto/tls.h struct tls_transport) over a
 * connection of our TCP stack, shared by the client side (sess_tls.c) and
 * the backend side (relay.c). A NULL connection reads as gone.
 */
#ifndef MX_TCP_TLS_H
#define MX_TCP_TLS_H

#include <stddef.h>
#include <stdint.h>
#include "dataplane/net/tcp_app.h"

/* Read for TLS: >0 bytes, 0 the connection is gone, -1 nothing now. */
static inline long tcp_tls_read(struct tcp_conn *c, uint8_t *buf, size_t len)
{
	size_t n;

	if (c == NULL)
		return 0;
	n = tcp_recv(c, buf, len);
	return n > 0 ? (long)n : -1;
}

/* Write for TLS: the bytes accepted, -1 the connection is gone. */
static inline long tcp_tls_write(struct tcp_conn *c, const uint8_t *buf, size_t len)
{
	return c == NULL ? -1 : (long)tcp_send(c, buf, len);
}

#endif
