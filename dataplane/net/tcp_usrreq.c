/*
 * tcp_usrreq.c - the application's side of a connection (tcp_app.h): what
 * it asks of the stack (listen, connect, zero-copy reads, sends into the
 * per-connection ring, shutdown, close, abort, its timer) and the callbacks
 * the stack owes it (accept, connected, readable, writable, peer_closed),
 * delivered at the end of an input or timer round, never from inside a
 * call the application made.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_var.h"

static const char *const state_names[] = {
	"CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
	"FIN_WAIT_2", "CLOSING", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK",
};

/* Deliver the callbacks a round of input or timers made due. */
void tcp_app_events(struct tcp_conn *c)
{
	if (c->flags & (F_DETACHED | F_DEAD) || c->ops == NULL)
		return;
	if (c->flags & F_CONNECTED_CB) {
		c->flags &= ~F_CONNECTED_CB;
		if (c->ops->connected)
			c->ops->connected(c, 0);
		if (c->flags & (F_DETACHED | F_DEAD))
			return;
	}
	if ((c->flags & F_NEW_DATA) && c->rcv_queued > 0) {
		c->flags &= ~F_NEW_DATA;
		if (c->ops->readable)
			c->ops->readable(c);
		if (c->flags & (F_DETACHED | F_DEAD))
			return;
	}
	if ((c->flags & F_WANT_WRITE) && tcp_send_space(c) > 0) {
		c->flags &= ~F_WANT_WRITE;
		if (c->ops->writable)
			c->ops->writable(c);
		if (c->flags & (F_DETACHED | F_DEAD))
			return;
	}
	if ((c->flags & F_FIN_RCVD) && c->rcv_queued == 0 && !(c->flags & F_PEER_NOTIFIED)) {
		c->flags |= F_PEER_NOTIFIED;
		if (c->ops->peer_closed)
			c->ops->peer_closed(c);
	}
}

/*
 * Deliver c's callbacks, then send what they wrote: on c and on every other
 * connection they wrote to (the relay writes to the backend inside the
 * client's callback), one tcp_output() per connection once the callbacks
 * have returned rather than one per tcp_send(). The SMTP relay writes a
 * message's Received header, its body and the final dot in three calls:
 * they now leave in one segment, and the peer's ACKs of them in one too.
 */
void tcp_app_deliver(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);

	tc->in_cb++;
	tcp_app_events(c);
	tc->in_cb--;
	if (!(c->flags & F_DEAD))
		tcp_output(c);
	if (tc->in_cb > 0)
		return;
	while ((c = tc->outq) != NULL) {
		tc->outq = c->onext;
		c->onext = NULL;
		c->flags &= ~F_OUTQ;
		if (!(c->flags & F_DEAD))
			tcp_output(c);
	}
	tc->outq_tail = &tc->outq;
}

/* Send what c holds now, or once the callbacks being delivered return. */
static void output_now_or_later(struct tcp_conn *c)
{
	struct tcp_ctx *tc = T(c->ctx);

	if (tc->in_cb == 0) {
		tcp_output(c);
		return;
	}
	if (c->flags & F_OUTQ)
		return;
	c->flags |= F_OUTQ;
	c->onext = NULL;
	if (tc->outq == NULL)
		tc->outq_tail = &tc->outq;
	*tc->outq_tail = c;
	tc->outq_tail = &c->onext;
}

/* Put c on the pending-events list (run by tcp_events_run()), once. */
static void event_owed(struct tcp_conn *c)
{
	if (c->flags & F_EVENT_PENDING)
		return;
	c->flags |= F_EVENT_PENDING;
	c->enext = T(c->ctx)->events;
	T(c->ctx)->events = c;
}

/*
 * Deliver callbacks owed outside an input round (e.g. peer_closed after a
 * late read), and send the ACKs held by tcp_hold_ack() that no reply took.
 */
void tcp_events_run(struct tcp_ctx *tc)
{
	while (tc->events != NULL) {
		struct tcp_conn *c = tc->events;

		tc->events = c->enext;
		c->enext = NULL;
		c->flags &= ~(F_EVENT_PENDING | F_ACK_HOLD);
		if (c->flags & F_DEAD)
			continue;
		tcp_app_deliver(c);
	}
}

void tcp_delay_ack(struct tcp_conn *c)
{
	if (c->flags & (F_DEAD | F_DETACHED))
		return;
	c->flags |= F_ACK_DELAY;
}

void tcp_hold_ack(struct tcp_conn *c)
{
	if (c->flags & (F_DEAD | F_DETACHED))
		return;
	c->flags |= F_ACK_HOLD;
	event_owed(c);      /* the end of the round: tcp_timers() runs the list */
}

/* ---- opening ---- */

/* Register a listening port. */
int tcp_listen(struct net_ctx *ctx, uint16_t port, const struct tcp_app_ops *ops, void *arg)
{
	struct tcp_ctx *tc = T(ctx);
	unsigned i;

	if (port == 0)
		return -EINVAL;
	for (i = 0; i < tc->nls; i++)
		if (tc->ls[i].port == port)
			return -EADDRINUSE;
	if (tc->nls == RTE_DIM(tc->ls))
		return -ENOSPC;
	tc->ls[tc->nls].port = port;
	tc->ls[tc->nls].ops = ops;
	tc->ls[tc->nls].arg = arg;
	tc->nls++;
	return 0;
}

/* Active open; the source port is one whose return traffic this worker owns. */
struct tcp_conn *tcp_connect(struct net_ctx *ctx, unsigned ifidx, uint8_t family,
			     const struct net_addr *raddr, uint16_t rport,
			     const struct tcp_app_ops *ops, void *app)
{
	struct tcp_ctx *tc = T(ctx);
	struct net_tuple t;
	struct tcp_conn *c, *old;
	unsigned tries;
	uint32_t h = 0;

	if (net_tuple_active(ctx, ifidx, family, raddr, rport, &t) != 0) {
		errno = EADDRNOTAVAIL;
		return NULL;
	}
	if (tc->nconns >= tc->p.max_conns) {
		errno = EMFILE;
		return NULL;
	}
	for (tries = 0; tries < 65536; tries++) {
		uint16_t port = tc->next_port++;

		if (tc->next_port < 1024)
			tc->next_port = 1024;
		if (port < 1024)
			continue;
		t.lport = port;
		if (net_flow_owner(ctx, &t) != ctx->worker)
			continue;
		h = tcp_tuple_hash(tc, &t);
		old = tcp_conn_lookup(tc, &t, h);
		if (old == NULL)
			break;
		if (old->state == TS_TIME_WAIT && (old->flags & F_TS)) {
			/* reuse our own TIME_WAIT (timestamps protect the new incarnation) */
			tcp_conn_free(old);   /* reaped later: never inside a timer round */
			break;
		}
	}
	if (tries == 65536) {
		errno = EADDRINUSE;
		return NULL;
	}
	c = tcp_conn_alloc(ctx, &t, h);
	if (c == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	c->ops = ops;
	c->app = app;
	c->state = TS_SYN_SENT;
	tcp_set_iss(c, tcp_isn(ctx, &t));
	c->rcv_ws = tcp_rcv_wscale(tc);
	c->flags |= F_WS | F_SACK | F_TS;   /* offered; kept only if the peer agrees */
	tcp_send_syn(c);
	c->flags &= ~(F_WS | F_SACK | F_TS);
	c->rcv_ws = 0;
	rtx_start(c);
	tcp_timer_arm(c);
	return c;
}

/* Attach the application to a connection. */
void tcp_set_app(struct tcp_conn *c, const struct tcp_app_ops *ops, void *app)
{
	c->ops = ops;
	c->app = app;
}

void *tcp_app(const struct tcp_conn *c)
{
	return c->app;
}

const struct net_tuple *tcp_tuple(const struct tcp_conn *c)
{
	return &c->t;
}

struct net_ctx *tcp_net(const struct tcp_conn *c)
{
	return c->ctx;
}

/* ---- reading ---- */

/* Head of the receive queue, zero-copy. */
const uint8_t *tcp_peek(struct tcp_conn *c, size_t *len)
{
	if (c->rxq == NULL) {
		*len = 0;
		return NULL;
	}
	*len = c->rxq->data_len;
	return rte_pktmbuf_mtod(c->rxq, const uint8_t *);
}

size_t tcp_readable(const struct tcp_conn *c)
{
	return c->rcv_queued;
}

/* Drop consumed bytes; send a window update if the window opened enough. */
void tcp_consume(struct tcp_conn *c, size_t n)
{
	uint32_t before = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;

	while (n > 0 && c->rxq != NULL) {
		struct rte_mbuf *m = c->rxq;

		if (n < m->data_len) {
			rte_pktmbuf_adj(m, (uint16_t)n);
			c->rcv_queued -= (uint32_t)n;
			break;
		}
		n -= m->data_len;
		c->rcv_queued -= m->data_len;
		c->rxq = m->next;
		if (c->rxq == NULL)
			c->rxq_tail = NULL;
		m->next = NULL;
		rte_pktmbuf_free(m);
	}
	if ((c->flags & F_FIN_RCVD) && c->rcv_queued == 0 && !(c->flags & F_PEER_NOTIFIED))
		event_owed(c);      /* peer_closed() is owed: deliver it from the poll loop, not from here */
	/* window update when it grew by two segments or half the buffer (RFC 9293 3.8.6.2.2) */
	if (c->state >= TS_ESTABLISHED && !(c->flags & F_FIN_RCVD) && !(c->flags & F_DEAD)) {
		uint32_t now = tcp_rcv_window(c);

		if (now >= before + 2u * our_mss(c) || (before == 0 && now > 0) ||
		    now >= before + T(c->ctx)->p.rcvbuf / 2)
			tcp_send_ack(c);
	}
}

/* Copy out and consume. */
size_t tcp_recv(struct tcp_conn *c, void *buf, size_t len)
{
	size_t got = 0, n;
	const uint8_t *p;

	while (got < len && (p = tcp_peek(c, &n)) != NULL) {
		n = MIN(n, len - got);
		memcpy((uint8_t *)buf + got, p, n);
		got += n;
		tcp_consume(c, n);
	}
	return got;
}

/* ---- writing, closing ---- */

size_t tcp_send_space(const struct tcp_conn *c)
{
	uint32_t cap = T(c->ctx)->p.sndbuf;

	if (c->flags & (F_FIN_QUEUED | F_DEAD))
		return 0;
	if (c->state != TS_ESTABLISHED && c->state != TS_CLOSE_WAIT &&
	    c->state != TS_SYN_SENT && c->state != TS_SYN_RCVD)
		return 0;
	return c->sbuf_len >= cap ? 0 : cap - c->sbuf_len;
}

size_t tcp_unacked(const struct tcp_conn *c)
{
	return c->sbuf_len;
}

/*
 * Make the send ring hold at least need octets: it starts at TCP_SBUF_MIN
 * (or what the first write needs) and doubles up to the send buffer
 * (sndbuf), its content moved to the front of the new ring. An SMTP reply
 * of a few hundred octets then costs a small allocation from the C
 * library's thread cache; a ring of the whole send buffer (256 KiB) per
 * reply cost heap trimming and page faults (the plain SMTP profile in
 * docs/PERFORMANCE.md). Returns the ring's capacity, which stays as it was
 * when no memory can be had.
 */
static uint32_t sbuf_reserve(struct tcp_conn *c, uint32_t need, uint32_t max)
{
	uint32_t cap = c->sbuf_cap ? c->sbuf_cap : TCP_SBUF_MIN, first;
	uint8_t *nb;

	if (need <= c->sbuf_cap)
		return c->sbuf_cap;
	while (cap < need)
		cap *= 2;
	if (cap > max)
		cap = max;
	if ((nb = tcp_ring_get(T(c->ctx), cap)) == NULL)
		return c->sbuf_cap;
	if (c->sbuf_len > 0) {
		first = MIN(c->sbuf_len, c->sbuf_cap - c->sbuf_start);
		memcpy(nb, c->sbuf + c->sbuf_start, first);
		memcpy(nb + first, c->sbuf, c->sbuf_len - first);
	}
	tcp_sbuf_free(c);
	c->sbuf = nb;
	c->sbuf_cap = cap;
	c->sbuf_start = 0;
	return cap;
}

/* Copy into the send ring and push out what the windows allow. */
size_t tcp_send(struct tcp_conn *c, const void *buf, size_t len)
{
	size_t space = tcp_send_space(c), n = MIN(space, len), first;
	uint32_t cap, pos;

	if (n == 0) {
		if (len > 0)
			c->flags |= F_WANT_WRITE;
		return 0;
	}
	cap = sbuf_reserve(c, c->sbuf_len + (uint32_t)n, T(c->ctx)->p.sndbuf);
	n = MIN(n, (size_t)(cap - c->sbuf_len));   /* less when the ring could not grow */
	if (n < len)
		c->flags |= F_WANT_WRITE;
	if (n == 0)
		return 0;
	pos = (c->sbuf_start + c->sbuf_len) % c->sbuf_cap;
	first = MIN(n, (size_t)(c->sbuf_cap - pos));
	memcpy(c->sbuf + pos, buf, first);
	if (first < n)
		memcpy(c->sbuf, (const uint8_t *)buf + first, n - first);
	c->sbuf_len += (uint32_t)n;
	output_now_or_later(c);
	return n;
}

/* Queue our FIN after the data. */
void tcp_shutdown(struct tcp_conn *c)
{
	if (c->flags & (F_FIN_QUEUED | F_DEAD))
		return;
	switch (c->state) {
	case TS_SYN_SENT:
		tcp_conn_end(c, TCP_END_ABORTED);
		return;
	case TS_SYN_RCVD:
	case TS_ESTABLISHED:
		c->state = TS_FIN_WAIT_1;
		break;
	case TS_CLOSE_WAIT:
		c->state = TS_LAST_ACK;
		break;
	default:
		return;
	}
	c->flags |= F_FIN_QUEUED;
	if (c->sbuf_len == 0)
		c->sbuf_seq = c->snd_max;    /* the FIN takes the next sequence number */
	tcp_output(c);
}

/* Shut down and forget the application. */
void tcp_close(struct tcp_conn *c)
{
	if (c->flags & F_DEAD)
		return;
	c->flags |= F_DETACHED;
	c->ops = NULL;
	c->app = NULL;
	c->t_user = 0;
	/* unread data at close means the peer must learn it was lost (RFC 9293 3.6) */
	if (c->rcv_queued > 0 && !(c->flags & F_FIN_RCVD)) {
		tcp_abort(c);
		return;
	}
	tcp_shutdown(c);
	if (c->state == TS_FIN_WAIT_2)
		c->t_state = c->ctx->now_us + TCP_FIN_WAIT2_US;
	tcp_timer_arm(c);
}

/* Reset and free. */
void tcp_abort(struct tcp_conn *c)
{
	if (c->flags & F_DEAD)
		return;
	if (c->state != TS_SYN_SENT && c->state != TS_TIME_WAIT && c->state != TS_CLOSED) {
		tcp_emit(c->ctx, NULL, &c->t, c->snd_nxt, 0, TH_RST, 0, 0, 0, NULL);
		c->ctx->st.tcp_resets_out++;
	}
	c->flags |= F_DETACHED;
	tcp_conn_free(c);
}

/* Call writable() when send space frees, even if no tcp_send() fell short. */
void tcp_want_writable(struct tcp_conn *c)
{
	c->flags |= F_WANT_WRITE;
}

void tcp_set_timeout(struct tcp_conn *c, unsigned ms)
{
	if (c->flags & F_DEAD)
		return;
	c->t_user = ms ? c->ctx->now_us + (uint64_t)ms * 1000 : 0;
	tcp_timer_arm(c);
}

const char *tcp_state_name(const struct tcp_conn *c)
{
	return state_names[c->state];
}

unsigned tcp_conn_count(const struct net_ctx *ctx)
{
	return ctx->tcp ? ctx->tcp->nconns : 0;
}
