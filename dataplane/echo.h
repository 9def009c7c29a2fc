/*
 * echo.h - the diagnostic TCP echo service (RFC 862 over our stack), so the
 * TCP/IP stack can be tested and measured without SMTP.
 */
#ifndef MX_ECHO_H
#define MX_ECHO_H

#include "dataplane/net/tcp.h"

/* Listen on port on this worker's stack; sessions idle for idle_ms are reset. */
int echo_start(struct net_ctx *ctx, uint16_t port, unsigned idle_ms);

#endif
