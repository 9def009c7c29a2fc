/*
 * tcp_app.h - the application API of our TCP stack, without DPDK: what the
 * SMTP sessions, their relay and the echo service use (accept / readable /
 * writable / peer closed / closed / timeout callbacks, zero-copy reads,
 * bounded sends with back-pressure, a timer per connection), and what an
 * application may know of its worker's stack (clock, worker, interfaces).
 * tcp_usrreq.c implements it over DPDK; a unit test can implement it in memory
 * (tests/unit/test_session.c).
 *
 * Lifetime: a connection is owned by the stack. The application keeps a
 * pointer to it from accept (or tcp_connect) until its closed() callback,
 * or until it calls tcp_close()/tcp_abort(), after which the stack makes
 * no more callbacks for it and frees it when the protocol is done.
 */
#ifndef MX_TCP_APP_H
#define MX_TCP_APP_H

#include <stdint.h>
#include <stddef.h>
#include "net_addr.h"

struct net_ctx;
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

/*
 * The application will answer what it has read later in this poll round
 * (the TLS server's flight once the private-key operation it queued has
 * run): the ACK owed to the segments received so far waits for that reply
 * and rides on it, instead of leaving alone now. If no reply is sent, the
 * ACK leaves at the end of the round (the stack's timers); a segment that
 * arrives meanwhile is ACKed as usual. Only pure ACKs wait, and never
 * beyond the round in which the hold was asked.
 */
void tcp_hold_ack(struct tcp_conn *c);

/*
 * The reply to what the application has read waits on another connection
 * (the relay's backend): the ACK owed to the last segment, which quick-ACK
 * mode would send at once, becomes a delayed ACK (TCP_DELACK_US, 40 ms),
 * so that the reply carries it if it comes in time. Only the first
 * unacknowledged segment waits (every second one is ACKed as usual), and
 * only until the peer's next segment. A call from readable().
 */
void tcp_delay_ack(struct tcp_conn *c);

/* Call ops->timeout after ms milliseconds (0: cancel). */
void tcp_set_timeout(struct tcp_conn *c, unsigned ms);

/* The TCP state, for logs and tests. */
const char *tcp_state_name(const struct tcp_conn *c);

/* Connections in the table now (all states). */
unsigned tcp_conn_count(const struct net_ctx *ctx);

/* What an application may know of its worker's stack (tcp_app.c). */
uint64_t tcp_now_us(const struct net_ctx *ctx);        /* the poll loop's clock */
unsigned tcp_worker(const struct net_ctx *ctx);        /* this worker, 0..tcp_nworkers()-1 */
unsigned tcp_nworkers(const struct net_ctx *ctx);
unsigned tcp_lcore(const struct net_ctx *ctx);         /* its EAL lcore */
/* The index of the (last) interface with this role (enum cfg_role), 0 when none has it. */
unsigned tcp_if_of_role(const struct net_ctx *ctx, unsigned role);

#endif
