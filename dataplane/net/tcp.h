/*
 * tcp.h - TCP (RFC 9293) for one worker lcore, and the small application
 * API the SMTP layer and the echo service use: accept / readable /
 * writable / peer closed / closed callbacks, zero-copy reads out of the
 * receive mbufs, bounded sends with back-pressure.
 *
 * Lifetime: a connection is owned by the stack. The application keeps a
 * pointer to it from accept (or tcp_connect) until its closed() callback,
 * or until it calls tcp_close()/tcp_abort(), after which the stack makes
 * no more callbacks for it and frees it when the protocol is done.
 */
#ifndef MX_TCP_H
#define MX_TCP_H

#include <stdint.h>
#include <stddef.h>
#include "net.h"

struct tcp_conn;

/* Why a connection ended, as given to closed(). */
enum tcp_end {
	TCP_END_CLOSED = 0,   /* orderly: both FINs exchanged */
	TCP_END_RESET,        /* peer sent RST */
	TCP_END_TIMEOUT,      /* retransmissions exhausted */
	TCP_END_REFUSED,      /* active open answered by RST */
	TCP_END_ABORTED,      /* we aborted (tcp_abort, resource limits) */
};

/* Application callbacks; any may be NULL. */
struct tcp_app_ops {
	/* A passive connection is established; set tcp_set_app() here. */
	void (*accept)(struct tcp_conn *c, void *listen_arg);
	/* An active open completed (err 0) or failed (err < 0, closed() follows). */
	void (*connected)(struct tcp_conn *c, int err);
	/* New in-order data is waiting: use tcp_peek()/tcp_consume(). */
	void (*readable)(struct tcp_conn *c);
	/* Send space became free after tcp_send() accepted less than asked. */
	void (*writable)(struct tcp_conn *c);
	/* The peer sent FIN and every byte before it has been read. */
	void (*peer_closed)(struct tcp_conn *c);
	/* The connection is gone; c is invalid after this returns. */
	void (*closed)(struct tcp_conn *c, enum tcp_end why);
	/* The timer set with tcp_set_timeout() fired. */
	void (*timeout)(struct tcp_conn *c);
};

/* Per-lcore TCP limits and sizes (from the configuration). */
struct tcp_params {
	unsigned max_conns;
	unsigned syn_backlog;
	unsigned reasm_limit;      /* out-of-order bytes per connection */
	unsigned reasm_total;      /* out-of-order bytes per lcore */
	unsigned rcvbuf, sndbuf;
	unsigned timewait_max;
	unsigned timewait_ms;
	unsigned quickacks;        /* segments ACKed at once at the start and after a delayed
				      ACK fired (Linux's quick-ACK mode); 0 = always delay */
	uint8_t secret[16];        /* ISN and SYN-cookie key, random per process */
};

/* Create / free the TCP state of one lcore. */
int tcp_ctx_init(struct net_ctx *ctx, const struct tcp_params *p);
void tcp_ctx_free(struct net_ctx *ctx);

/* Listen on a local port, on every address of every interface. */
int tcp_listen(struct net_ctx *ctx, uint16_t port, const struct tcp_app_ops *ops, void *arg);

/*
 * Open a connection to raddr:rport from interface ifidx. The local port is
 * chosen so that the return traffic is steered to this worker.
 * Returns the connection (SYN_SENT) or NULL with errno set.
 */
struct tcp_conn *tcp_connect(struct net_ctx *ctx, unsigned ifidx, uint8_t family,
			     const struct net_addr *raddr, uint16_t rport,
			     const struct tcp_app_ops *ops, void *app);

/* Input of one TCP segment (called by the IP layer); m's data is at the TCP header. */
void tcp_input(struct net_ctx *ctx, struct net_tuple *t, struct rte_mbuf *m, unsigned len);
/* Run expired TCP timers. */
void tcp_timers(struct net_ctx *ctx);

/* Attach the application's pointer (and its callbacks) to a connection. */
void tcp_set_app(struct tcp_conn *c, const struct tcp_app_ops *ops, void *app);
void *tcp_app(const struct tcp_conn *c);
const struct net_tuple *tcp_tuple(const struct tcp_conn *c);
struct net_ctx *tcp_net(const struct tcp_conn *c);

/* Contiguous in-order bytes at the head of the receive queue, or NULL (len 0). */
const uint8_t *tcp_peek(struct tcp_conn *c, size_t *len);
/* Bytes waiting in the receive queue. */
size_t tcp_readable(const struct tcp_conn *c);
/* Drop n bytes from the head of the receive queue (opens the window). */
void tcp_consume(struct tcp_conn *c, size_t n);
/* Copy up to len bytes out and consume them; returns the count. */
size_t tcp_recv(struct tcp_conn *c, void *buf, size_t len);

/* Queue bytes for sending; returns how many were accepted (0..len). */
size_t tcp_send(struct tcp_conn *c, const void *buf, size_t len);
/* Ask for a writable() call when send space frees (an application that waits for room). */
void tcp_want_writable(struct tcp_conn *c);
/* Free send space now. */
size_t tcp_send_space(const struct tcp_conn *c);
/* Bytes queued but not yet acknowledged. */
size_t tcp_unacked(const struct tcp_conn *c);

/* Send FIN after the queued data; reading goes on. */
void tcp_shutdown(struct tcp_conn *c);
/* Shut down and detach the application: no more callbacks. */
void tcp_close(struct tcp_conn *c);
/* Send RST, free the connection now, no more callbacks. */
void tcp_abort(struct tcp_conn *c);

/* Call ops->timeout after ms milliseconds (0: cancel). */
void tcp_set_timeout(struct tcp_conn *c, unsigned ms);

/* The TCP state, for logs and tests. */
const char *tcp_state_name(const struct tcp_conn *c);

/* Connections in the table now (all states). */
unsigned tcp_conn_count(const struct net_ctx *ctx);

#endif
