/*
 * test_session.c - whole SMTP sessions (dataplane/smtp/session.c with its
 * relay, gate and engine) driven through a fake TCP stack: this file
 * implements net/tcp_app.h in memory, so no root, no DPDK and no network.
 * The test plays the client and the backend MTA byte by byte, moves the
 * clock and fires timers, and checks what each side received, the
 * counters and the log lines (stderr is captured while a session runs).
 *
 * Cases: banner to QUIT with the disconnect line; a relayed message with
 * XCLIENT (and LOGIN-less), with a PROXY v2 backend; backend failures:
 * connect refused with failover, no backend at all, a malformed reply, the
 * backend closing during RCPT, the backend timing out after the dot;
 * back-pressure from a full backend; the greeting delay (banner after the
 * timer; pregreet answered 554 with no banner); draining (421 only);
 * STARTTLS with a real handshake (BoringSSL as the client, in memory),
 * plaintext pipelined behind it discarded, the relayed message's Received
 * header saying ESMTPS with the TLS facts; several transactions with RSET
 * and refused recipients; the access map's Connect:, From: DISCARD and To:
 * REJECT stages. Built with ASan/UBSan.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/config.h"
#include "crypto/tls.h"
#include "dataplane/net/tcp_app.h"
#include "dataplane/smtp/session.h"
#include "dataplane/smtp/sess.h"     /* the worker's spares (TEST(starttls)) */
#include "dataplane/smtp/tx.h"
#include "dataplane/smtp/slog.h"
#include "policy/policy.h"
#include "tests/bench/hs_pairs.h"
#include "t.h"

#define BUF_MAX (1 << 16)

/* ---- a fake TCP stack (net/tcp_app.h in memory) ---- */

struct net_ctx {
	uint64_t now_us;
};

struct tcp_conn {
	const struct tcp_app_ops *ops;
	void *app;
	struct net_tuple t;
	uint8_t rx[BUF_MAX];      /* sent by the peer, not read by the application yet */
	size_t rxlen;
	char tx[BUF_MAX];         /* what the application sent (the peer's view), NUL-terminated */
	size_t txlen;
	size_t space;             /* send space the application may use */
	int client;               /* accepted (a client), not opened (a backend) */
	int shut, closed, aborted, want_writable;
	uint64_t timer_at;        /* 0: no timer */
	struct tcp_conn *next;
};

/* Listeners and connections of the fake stack. */
static struct {
	struct net_ctx ctx;
	const struct tcp_app_ops *lops[3];
	void *larg[3];
	uint16_t lport[3];
	unsigned nlisten;
	struct tcp_conn *all;            /* every connection, freed at the end */
	struct tcp_conn *connects[8];    /* active opens, in order */
	unsigned nconnects;
	int refuse_connect;              /* tcp_connect() returns NULL */
} F;

/* A new connection with this tuple. */
static struct tcp_conn *conn_new(uint8_t family, const char *raddr4, uint16_t rport, uint16_t lport)
{
	struct tcp_conn *c = calloc(1, sizeof(*c));

	c->t.family = family;
	c->t.rport = rport;
	c->t.lport = lport;
	if (family == NET_AF_INET) {
		unsigned a, b, d, e;

		sscanf(raddr4, "%u.%u.%u.%u", &a, &b, &d, &e);
		c->t.raddr.a[0] = (uint8_t)a;
		c->t.raddr.a[1] = (uint8_t)b;
		c->t.raddr.a[2] = (uint8_t)d;
		c->t.raddr.a[3] = (uint8_t)e;
		memcpy(c->t.laddr.a, "\xc6\x12\x00\x02", 4);    /* 198.18.0.2 */
	}
	c->space = BUF_MAX - 1;
	c->next = F.all;
	F.all = c;
	return c;
}

/* Record a listener (the worker listens on its SMTP ports). */
int tcp_listen(struct net_ctx *ctx, uint16_t port, const struct tcp_app_ops *ops, void *arg)
{
	(void)ctx;
	F.lops[F.nlisten] = ops;
	F.larg[F.nlisten] = arg;
	F.lport[F.nlisten++] = port;
	return 0;
}

/* An active open: recorded; the test says when it connects (or is refused). */
struct tcp_conn *tcp_connect(struct net_ctx *ctx, unsigned ifidx, uint8_t family, const struct net_addr *raddr,
			     uint16_t rport, const struct tcp_app_ops *ops, void *app)
{
	struct tcp_conn *c;

	(void)ctx;
	(void)ifidx;
	if (F.refuse_connect)
		return NULL;
	c = conn_new(family, "0.0.0.0", rport, (uint16_t)(40000 + F.nconnects));
	memcpy(c->t.raddr.a, raddr->a, 16);
	c->ops = ops;
	c->app = app;
	if (F.nconnects < 8)
		F.connects[F.nconnects] = c;
	F.nconnects++;
	return c;
}

/* Attach the application. */
void tcp_set_app(struct tcp_conn *c, const struct tcp_app_ops *ops, void *app)
{
	c->ops = ops;
	c->app = app;
}

/* Accessors of a connection and its stack. */
void *tcp_app(const struct tcp_conn *c) { return c->app; }
const struct net_tuple *tcp_tuple(const struct tcp_conn *c) { return &c->t; }
struct net_ctx *tcp_net(const struct tcp_conn *c) { (void)c; return &F.ctx; }

/* The bytes the peer sent, not read yet. */
const uint8_t *tcp_peek(struct tcp_conn *c, size_t *len)
{
	*len = c->rxlen;
	return c->rxlen ? c->rx : NULL;
}

/* How many bytes wait. */
size_t tcp_readable(const struct tcp_conn *c) { return c->rxlen; }

/* Drop n bytes read. */
void tcp_consume(struct tcp_conn *c, size_t n)
{
	memmove(c->rx, c->rx + n, c->rxlen - n);
	c->rxlen -= n;
}

/* Copy out and drop. */
size_t tcp_recv(struct tcp_conn *c, void *buf, size_t len)
{
	size_t n = len < c->rxlen ? len : c->rxlen;

	memcpy(buf, c->rx, n);
	tcp_consume(c, n);
	return n;
}

/* Append to what the peer will see, within the send space. */
size_t tcp_send(struct tcp_conn *c, const void *buf, size_t len)
{
	size_t n = len < c->space ? len : c->space;

	if (c->closed || c->aborted)
		return 0;
	if (n > BUF_MAX - 1 - c->txlen)
		n = BUF_MAX - 1 - c->txlen;
	memcpy(c->tx + c->txlen, buf, n);
	c->txlen += n;
	c->tx[c->txlen] = '\0';
	c->space -= n;
	return n;
}

/* Send space, back-pressure, shutdown. */
void tcp_want_writable(struct tcp_conn *c) { c->want_writable = 1; }
void tcp_hold_ack(struct tcp_conn *c) { (void)c; }      /* the fake has no ACKs */
void tcp_delay_ack(struct tcp_conn *c) { (void)c; }
size_t tcp_send_space(const struct tcp_conn *c) { return c->space; }
size_t tcp_unacked(const struct tcp_conn *c) { (void)c; return 0; }
void tcp_shutdown(struct tcp_conn *c) { c->shut = 1; }

/* The application lets go: FIN, no more callbacks. */
void tcp_close(struct tcp_conn *c)
{
	c->shut = 1;
	c->closed = 1;
	c->ops = NULL;
	c->app = NULL;
}

/* The application resets: no more callbacks. */
void tcp_abort(struct tcp_conn *c)
{
	c->aborted = 1;
	c->ops = NULL;
	c->app = NULL;
}

/* The connection's one timer, on the fake clock. */
void tcp_set_timeout(struct tcp_conn *c, unsigned ms)
{
	c->timer_at = ms ? F.ctx.now_us + (uint64_t)ms * 1000 : 0;
}

/* The stack as an application may know it: one worker, interface 1 inside. */
const char *tcp_state_name(const struct tcp_conn *c) { (void)c; return "ESTABLISHED"; }
unsigned tcp_conn_count(const struct net_ctx *ctx) { (void)ctx; return 0; }
uint64_t tcp_now_us(const struct net_ctx *ctx) { return ctx->now_us; }
unsigned tcp_worker(const struct net_ctx *ctx) { (void)ctx; return 0; }
unsigned tcp_nworkers(const struct net_ctx *ctx) { (void)ctx; return 1; }
unsigned tcp_lcore(const struct net_ctx *ctx) { (void)ctx; return 1; }
unsigned tcp_if_of_role(const struct net_ctx *ctx, unsigned role) { (void)ctx; return role == CFG_ROLE_INSIDE; }

/* ---- the test's side of the wire ---- */

/* The peer sends text: it arrives and the application hears readable(). */
static void say(struct tcp_conn *c, const char *text)
{
	size_t n = strlen(text);

	memcpy(c->rx + c->rxlen, text, n);
	c->rxlen += n;
	if (c->ops && c->ops->readable)
		c->ops->readable(c);
}

/* What the application sent since the last take(), as a string (then forgotten). */
static char *take(struct tcp_conn *c)
{
	static char out[BUF_MAX];

	memcpy(out, c->tx, c->txlen + 1);
	c->space += c->txlen;          /* the peer read it all: the room comes back */
	c->txlen = 0;
	c->tx[0] = '\0';
	return out;
}

/* Move the clock to t (µs) and fire the timers that are due. */
static void clock_to(uint64_t t)
{
	struct tcp_conn *c;

	F.ctx.now_us = t;
	for (c = F.all; c != NULL; c = c->next)
		if (c->timer_at && c->timer_at <= t && c->ops && c->ops->timeout) {
			c->timer_at = 0;
			c->ops->timeout(c);
		}
}

/* A client connects to listener i from addr:port. */
static struct tcp_conn *client_connect_from(unsigned i, const char *addr, uint16_t port)
{
	struct tcp_conn *c = conn_new(NET_AF_INET, addr, port, F.lport[i]);

	c->client = 1;
	F.lops[i]->accept(c, F.larg[i]);
	return c;
}

/* A client connects to listener i from 198.18.0.1:port. */
static struct tcp_conn *client_connect(unsigned i, uint16_t port)
{
	return client_connect_from(i, "198.18.0.1", port);
}

/* The client closes its side (after reading everything). */
static void client_gone(struct tcp_conn *c)
{
	if (c->ops && c->ops->peer_closed)
		c->ops->peer_closed(c);
}

/* ---- the log (stderr while a case runs) ---- */

static int log_saved = -1, log_fails;
static FILE *log_file;

/* Start capturing the log. */
static void log_begin(void)
{
	fflush(stderr);
	log_fails = t_fail;
	log_file = tmpfile();
	log_saved = dup(2);
	dup2(fileno(log_file), 2);
}

/* Stop capturing; the log text (static). */
static const char *log_end(void)
{
	static char text[BUF_MAX];
	size_t n;

	slog_drain();                 /* the workers' lines wait in their rings until the service lcore's drain */
	fflush(stderr);
	dup2(log_saved, 2);
	close(log_saved);
	rewind(log_file);
	n = fread(text, 1, sizeof(text) - 1, log_file);
	text[n] = '\0';
	fclose(log_file);
	if (t_fail != log_fails)
		fprintf(stderr, "(what was logged meanwhile, with the failures)\n%s", text);
	return text;
}

/* ---- the worker under test ---- */

static struct mx_config cfg;
static struct smtp_worker *W;

/* The test configuration (the lab's, plus extra lines) into *c; 0 or -1. */
static int parse_into(struct mx_config *c, const char *extra)
{
	char text[4096], err[256];

	snprintf(text, sizeof(text),
		 "hostname = mx.test\n"
		 "outside_device = net_tap0\noutside_ipv4 = 198.18.0.2/24\n"
		 "inside_device = net_tap1\ninside_ipv4 = 198.18.1.2/24\n"
		 "smtp_port = 25\n%s", extra);
	if (cfg_parse("test.conf", text, c, err, sizeof(err)) != 0) {
		fprintf(stderr, "config: %s\n", err);
		CHECK(0);
		return -1;
	}
	return 0;
}

/* A worker with this configuration (parse_into) and this TLS context (or NULL). */
static void start_tls(const char *extra, struct tls_ctx *tls)
{
	char err[256];

	memset(&F, 0, sizeof(F));
	F.ctx.now_us = 1000000;
	if (parse_into(&cfg, extra) != 0)
		return;
	W = smtp_worker_start(&F.ctx, &cfg, tls, NULL, NULL, err, sizeof(err));
	CHECK(W != NULL);
	CHECK_EQ(F.nlisten, 1);
}

/* A worker without TLS. */
static void start(const char *extra)
{
	start_tls(extra, NULL);
}

/* A counter of the worker by name. */
static uint64_t counter(const char *name)
{
	const uint64_t *v = (const uint64_t *)smtp_worker_stats(W);
	size_t i;

	for (i = 0; i < SMTP_STAT_COUNT; i++)
		if (strcmp(smtp_stat_names[i], name) == 0)
			return v[i];
	CHECK(!"no such counter");
	return 0;
}

/* Reset every client still attached (its session ends), stop the worker, free the fake connections. */
static void stop(void)
{
	struct tcp_conn *c;

	log_begin();
	for (c = F.all; c != NULL; c = c->next)
		if (c->client && c->ops != NULL && c->ops->closed != NULL)
			c->ops->closed(c, TCP_END_RESET);
	log_end();
	CHECK_EQ(counter("active"), 0);
	smtp_worker_free(W);
	W = NULL;
	while (F.all != NULL) {
		struct tcp_conn *c = F.all;

		F.all = c->next;
		free(c);
	}
}

/* The worker's labelled counters as text. */
static const char *labelled(void)
{
	static char text[BUF_MAX];
	FILE *f = fmemopen(text, sizeof(text), "w");

	smtp_worker_print_labelled(f, W, 1);
	fclose(f);
	return text;
}

#define EHLO_REPLY "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n" \
		   "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n"

/* Take the backend through greeting, EHLO and XCLIENT (offered when xclient) to ready. */
static void backend_setup(struct tcp_conn *b, int xclient)
{
	b->ops->connected(b, 0);
	say(b, "220 backend.test ESMTP\r\n");
	CHECK_STR(take(b), "EHLO mx.test\r\n");
	if (!xclient) {
		say(b, "250-backend.test\r\n250 PIPELINING\r\n");
		return;
	}
	say(b, "250-backend.test\r\n250-PIPELINING\r\n250 XCLIENT NAME ADDR PORT PROTO HELO\r\n");
	CHECK_STR(take(b), "XCLIENT ADDR=198.18.0.1 PORT=40001 NAME=[UNAVAILABLE] HELO=client.test PROTO=ESMTP\r\n");
	say(b, "220 backend.test ESMTP\r\n");
	CHECK_STR(take(b), "EHLO client.test\r\n");
	say(b, "250-backend.test\r\n250 PIPELINING\r\n");
}

/* ---- scenarios: the steps most cases go through ---- */

/* A client from 198.18.0.1:port that heard the banner and said EHLO (the replies read). */
static struct tcp_conn *client_ehlo(uint16_t port)
{
	struct tcp_conn *c = client_connect(0, port);

	take(c);
	say(c, "EHLO client.test\r\n");
	take(c);
	return c;
}

/* Backend b, just opened, greets, takes EHLO (no XCLIENT), then the client's MAIL FROM:<a@client.test>. */
static void backend_gets_mail(struct tcp_conn *b)
{
	backend_setup(b, 0);
	CHECK_STR(take(b), "MAIL FROM:<a@client.test>\r\n");
}

/* The client's MAIL FROM:<a@client.test> opens a backend that takes it: that backend (NULL: none opened). */
static struct tcp_conn *mail_via_backend(struct tcp_conn *c)
{
	unsigned n = F.nconnects;

	say(c, "MAIL FROM:<a@client.test>\r\n");
	CHECK_STR(take(c), "");                               /* the backend decides */
	CHECK_EQ(F.nconnects, n + 1);
	if (F.nconnects != n + 1)
		return NULL;
	backend_gets_mail(F.connects[n]);
	return F.connects[n];
}

/* The backend takes the MAIL, RCPT TO:<b@lab.test> and DATA (354): the message may flow (replies read). */
static void into_message(struct tcp_conn *c, struct tcp_conn *b)
{
	say(b, "250 2.1.0 Ok\r\n");
	say(c, "RCPT TO:<b@lab.test>\r\n");
	say(b, "250 2.1.5 Ok\r\n");
	say(c, "DATA\r\n");
	say(b, "354 go\r\n");
	take(c);
	take(b);
}

/* A session through to its final dot, sent (the backend owes its verdict); log captured from the start. */
static void up_to_dot(const char *conf, const char *text, struct tcp_conn **c, struct tcp_conn **b)
{
	start(conf);
	log_begin();
	*c = client_ehlo(40001);
	*b = mail_via_backend(*c);
	into_message(*c, *b);
	say(*c, text);
}

/* ---- cases ---- */

TEST(banner_to_quit)
{
	struct tcp_conn *c;
	const char *log;

	start("backends = 198.18.1.1:25\n");
	log_begin();
	c = client_connect(0, 40000);
	CHECK_STR(take(c), "220 mx.test ESMTP\r\n");
	CHECK(c->timer_at != 0);                              /* the command deadline runs */
	say(c, "EHLO client.test\r\n");
	CHECK_STR(take(c), EHLO_REPLY);
	say(c, "NOOP\r\nQUIT\r\n");
	CHECK_STR(take(c), "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
	CHECK(c->shut);                                       /* FIN after the last reply */
	CHECK_EQ(counter("active"), 1);
	client_gone(c);
	CHECK(c->closed);
	smtp_worker_poll(W);
	log = log_end();
	CHECK(strstr(log, "mxgate/smtpd[") != NULL);
	CHECK(strstr(log, "]: connect from unknown[198.18.0.1]\n") != NULL);
	CHECK(strstr(log, "]: disconnect from unknown[198.18.0.1] ehlo=1 noop=1 quit=1 commands=3\n") != NULL);
	CHECK_EQ(counter("sessions"), 1);
	CHECK_EQ(counter("active"), 0);
	CHECK_EQ(F.nconnects, 0);                             /* no MAIL: no backend */
	stop();
}

TEST(relay_xclient)
{
	struct tcp_conn *c, *b;
	const char *log, *rx;

	start("backends = 198.18.1.1:25\n");
	log_begin();
	c = client_ehlo(40001);
	say(c, "MAIL FROM:<a@client.test> SIZE=100\r\n");
	CHECK_STR(take(c), "");                               /* the backend decides */
	CHECK_EQ(F.nconnects, 1);
	b = F.connects[0];
	CHECK_EQ(b->t.rport, 25);
	CHECK(memcmp(b->t.raddr.a, "\xc6\x12\x01\x01", 4) == 0);
	backend_setup(b, 1);
	CHECK_STR(take(b), "MAIL FROM:<a@client.test> SIZE=100\r\n");
	say(b, "250 2.1.0 Ok\r\n");
	CHECK_STR(take(c), "250 2.1.0 Ok\r\n");
	say(c, "RCPT TO:<b@lab.test>\r\n");
	CHECK_STR(take(b), "RCPT TO:<b@lab.test>\r\n");
	say(b, "250 2.1.5 Ok\r\n");
	CHECK_STR(take(c), "250 2.1.5 Ok\r\n");
	say(c, "DATA\r\n");
	CHECK_STR(take(b), "DATA\r\n");
	say(b, "354 End data with <CR><LF>.<CR><LF>\r\n");
	CHECK_STR(take(c), "354 End data with <CR><LF>.<CR><LF>\r\n");
	rx = take(b);
	CHECK(strncmp(rx, "Received: from client.test (unknown [198.18.0.1])\r\n\tby mx.test (mxgate) with ESMTP id "
		      "00", 86) == 0);
	CHECK(strstr(rx, "\r\n\tfor <b@lab.test>;\r\n\t") != NULL);
	say(c, "Subject: t\r\n\r\nhello\r\n..dot\r\n.\r\n");
	CHECK_STR(take(b), "Subject: t\r\n\r\nhello\r\n..dot\r\n.\r\n");
	CHECK_STR(take(c), "");                               /* 250 only after the backend's */
	say(b, "250 2.0.0 Ok: queued as 4F2A1\r\n");
	CHECK_STR(take(c), "250 2.0.0 Ok: queued as 4F2A1\r\n");
	say(c, "QUIT\r\n");
	CHECK_STR(take(c), "221 2.0.0 Bye\r\n");
	client_gone(c);
	CHECK_STR(take(b), "QUIT\r\n");                       /* an idle backend is told QUIT */
	CHECK(b->closed && !b->aborted);
	smtp_worker_poll(W);
	log = log_end();
	CHECK(strstr(log, ": client=unknown[198.18.0.1]\n") != NULL);
	CHECK(strstr(log, "/qmgr[") != NULL && strstr(log, ": from=<a@client.test>, size=28, nrcpt=1 (queue active)\n") != NULL);
	CHECK(strstr(log, "/smtp[") != NULL && strstr(log, ": to=<b@lab.test>, relay=198.18.1.1[198.18.1.1]:25, delay=") != NULL);
	CHECK(strstr(log, ", dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4F2A1)\n") != NULL);
	CHECK(strstr(log, ": removed\n") != NULL);
	CHECK(strstr(log, "ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5\n") != NULL);
	CHECK_EQ(counter("messages_accepted"), 1);
	CHECK_EQ(counter("message_bytes"), 28);
	CHECK_EQ(counter("xclient"), 1);
	CHECK_EQ(counter("backend_connects"), 1);
	CHECK_EQ(counter("backend_errors"), 0);
	stop();
}

TEST(relay_proxy_v2)
{
	static const uint8_t sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
	struct tcp_conn *c, *b;

	start("backends = 198.18.1.1:25/proxy\n");
	log_begin();
	c = client_connect(0, 40002);
	take(c);
	say(c, "HELO client.test\r\n");
	CHECK_STR(take(c), "250 mx.test\r\n");
	say(c, "MAIL FROM:<>\r\n");
	b = F.connects[0];
	b->ops->connected(b, 0);
	/* the header first: TCP over IPv4, the client's address and port, ours */
	CHECK_EQ(b->txlen, 28);
	CHECK(memcmp(b->tx, sig, 12) == 0);
	CHECK_EQ((uint8_t)b->tx[12], 0x21);
	CHECK_EQ((uint8_t)b->tx[13], 0x11);
	CHECK_EQ(((uint8_t)b->tx[14] << 8) | (uint8_t)b->tx[15], 12);
	CHECK(memcmp(b->tx + 16, "\xc6\x12\x00\x01\xc6\x12\x00\x02", 8) == 0);
	CHECK_EQ(((uint8_t)b->tx[24] << 8) | (uint8_t)b->tx[25], 40002);
	CHECK_EQ(((uint8_t)b->tx[26] << 8) | (uint8_t)b->tx[27], 25);
	take(b);
	/* then the client's own HELO, never XCLIENT */
	say(b, "220 backend.test ESMTP\r\n");
	CHECK_STR(take(b), "HELO client.test\r\n");
	say(b, "250 backend.test\r\n");
	CHECK_STR(take(b), "MAIL FROM:<>\r\n");
	say(b, "250 2.1.0 Ok\r\n");
	CHECK_STR(take(c), "250 2.1.0 Ok\r\n");
	log_end();
	CHECK_EQ(counter("proxy_v2"), 1);
	CHECK_EQ(counter("xclient"), 0);
	stop();
}

TEST(backend_refused_failover)
{
	struct tcp_conn *c, *b;
	const char *log;

	start("backends = 198.18.1.1:25 198.18.1.3:25\n");
	log_begin();
	c = client_ehlo(40001);
	say(c, "MAIL FROM:<a@client.test>\r\n");
	CHECK_EQ(F.nconnects, 1);
	F.connects[0]->ops->connected(F.connects[0], -1);    /* RST: the next backend takes the MAIL */
	CHECK_EQ(F.nconnects, 2);
	b = F.connects[1];
	CHECK(memcmp(b->t.raddr.a, "\xc6\x12\x01\x03", 4) == 0);
	backend_gets_mail(b);
	say(b, "250 2.1.0 Ok\r\n");
	CHECK_STR(take(c), "250 2.1.0 Ok\r\n");
	log = log_end();
	CHECK(strstr(log, ": lost connection with backend 0 (connect failed) while waiting for CONNECT\n") != NULL);
	CHECK_EQ(counter("backend_errors"), 1);
	CHECK_EQ(counter("backend_connects"), 2);

	/* the refused backend rests: the next session's MAIL goes to the other one */
	log_begin();
	c = client_connect(0, 40002);
	take(c);
	say(c, "EHLO client.test\r\nMAIL FROM:<x@client.test>\r\n");
	CHECK_EQ(F.nconnects, 3);
	if (F.nconnects == 3)
		CHECK(memcmp(F.connects[2]->t.raddr.a, "\xc6\x12\x01\x03", 4) == 0);
	log_end();
	stop();
}

/*
 * A backend that refuses one client at XCLIENT (Postfix's per-client
 * connection limits answer 421 there) or at its HELO right after: that
 * client's MAIL gets a 4xx with the backend's reason (421 and 5xx become
 * 451), no other backend is tried for it, and the backend does not rest:
 * the next clients still reach it. Logged and counted.
 */
TEST(backend_refuses_client)
{
	struct tcp_conn *c, *b;
	const char *log;

	start("backends = 198.18.1.1:25 198.18.1.3:25\n");
	log_begin();
	c = client_ehlo(40001);
	say(c, "MAIL FROM:<a@client.test>\r\n");
	CHECK_EQ(F.nconnects, 1);
	b = F.connects[0];
	b->ops->connected(b, 0);
	say(b, "220 backend.test ESMTP\r\n");
	CHECK_STR(take(b), "EHLO mx.test\r\n");
	say(b, "250-backend.test\r\n250 XCLIENT NAME ADDR PORT PROTO HELO\r\n");
	CHECK_STR(take(b), "XCLIENT ADDR=198.18.0.1 PORT=40001 NAME=[UNAVAILABLE] HELO=client.test PROTO=ESMTP\r\n");
	say(b, "421 4.7.0 backend.test Error: too many connections from 198.18.0.1\r\n");
	CHECK_STR(take(c), "451 4.7.0 backend.test Error: too many connections from 198.18.0.1\r\n");
	CHECK(b->aborted || b->closed);
	CHECK_EQ(F.nconnects, 1);                             /* no other backend tried for this client */
	CHECK_EQ(counter("backend_client_refused"), 1);
	/* the session goes on: the client may try again later (here: at once, the same backend) */
	say(c, "MAIL FROM:<a@client.test>\r\n");
	CHECK_EQ(F.nconnects, 2);
	if (F.nconnects == 2)
		CHECK(memcmp(F.connects[1]->t.raddr.a, "\xc6\x12\x01\x03", 4) == 0);   /* round robin */
	log = log_end();
	CHECK(strstr(log, "NOQUEUE: backend 0 unknown[198.18.1.1]:25 refused client 198.18.0.1 at XCLIENT: "
		      "421 4.7.0 backend.test Error: too many connections from 198.18.0.1; the backend stays in "
		      "service\n") != NULL);
	CHECK(strstr(log, "NOQUEUE: reject: MAIL from unknown[198.18.0.1]: 451 4.7.0 backend.test Error: too many "
		      "connections from 198.18.0.1; from=<a@client.test>") != NULL);

	/* backend 0 did not rest: the next client's MAIL (round robin) reaches it */
	log_begin();
	c = client_ehlo(40002);
	say(c, "MAIL FROM:<b@client.test>\r\n");
	CHECK_EQ(F.nconnects, 3);
	if (F.nconnects != 3) {
		log_end();
		stop();
		return;
	}
	b = F.connects[2];
	CHECK(memcmp(b->t.raddr.a, "\xc6\x12\x01\x01", 4) == 0);
	/* a 5xx to the client's own HELO after XCLIENT: this client's too, a 4xx with the backend's reason */
	b->ops->connected(b, 0);
	say(b, "220 backend.test ESMTP\r\n");
	CHECK_STR(take(b), "EHLO mx.test\r\n");
	say(b, "250-backend.test\r\n250 XCLIENT NAME ADDR PORT PROTO HELO\r\n");
	take(b);
	say(b, "220 backend.test ESMTP\r\n");
	CHECK_STR(take(b), "EHLO client.test\r\n");
	say(b, "550 5.7.1 <client.test>: Helo command rejected: go away\r\n");
	CHECK_STR(take(c), "451 4.7.1 <client.test>: Helo command rejected: go away\r\n");
	CHECK_EQ(F.nconnects, 3);
	log = log_end();
	CHECK(strstr(log, "refused client 198.18.0.1 at HELO after XCLIENT: 550 5.7.1") != NULL);
	CHECK_EQ(counter("backend_client_refused"), 2);

	/* a backend that fails our own EHLO still rests (and the MAIL fails over) */
	log_begin();
	c = client_ehlo(40003);
	say(c, "MAIL FROM:<c@client.test>\r\n");
	CHECK_EQ(F.nconnects, 4);
	if (F.nconnects == 4) {
		b = F.connects[3];
		CHECK(memcmp(b->t.raddr.a, "\xc6\x12\x01\x03", 4) == 0);   /* round robin: backend 1 */
		b->ops->connected(b, 0);
		say(b, "220 backend.test ESMTP\r\n");
		CHECK_STR(take(b), "EHLO mx.test\r\n");
		say(b, "421 4.3.2 backend.test Service shutting down\r\n");
		CHECK_EQ(F.nconnects, 5);                     /* failover to backend 0 */
		if (F.nconnects == 5)
			CHECK(memcmp(F.connects[4]->t.raddr.a, "\xc6\x12\x01\x01", 4) == 0);
	}
	log = log_end();
	CHECK(strstr(log, "lost connection with backend 1 (EHLO refused)") != NULL);
	/* backend 1 rests: the next MAIL goes to backend 0 although the cursor points at 1 */
	log_begin();
	c = client_ehlo(40004);
	say(c, "MAIL FROM:<d@client.test>\r\n");
	CHECK_EQ(F.nconnects, 6);
	if (F.nconnects == 6)
		CHECK(memcmp(F.connects[5]->t.raddr.a, "\xc6\x12\x01\x01", 4) == 0);
	log_end();
	CHECK_EQ(counter("backend_client_refused"), 2);
	stop();
}

/*
 * A PROXY v2 backend that refuses one client with a policy reply (an X.7.Y
 * enhanced code) to its greeting (Postfix's per-client connection limits,
 * which count the address of the header) or to the client's HELO: that
 * client's MAIL gets a 4xx with the backend's reason, no other backend is
 * tried for it and the backend does not rest. A greeting that says the
 * backend cannot serve (X.3.Y) still rests it and the MAIL fails over.
 */
TEST(proxy_backend_refuses_client)
{
	struct tcp_conn *c, *b;
	const char *log;

	start("backends = 198.18.1.1:25/proxy 198.18.1.3:25/proxy\n");
	log_begin();
	c = client_ehlo(40001);
	say(c, "MAIL FROM:<a@client.test>\r\n");
	CHECK_EQ(F.nconnects, 1);
	b = F.connects[0];
	b->ops->connected(b, 0);
	CHECK_EQ(b->txlen, 28);                               /* the PROXY v2 header */
	take(b);
	say(b, "421 4.7.0 backend.test Error: too many connections from 198.18.0.1\r\n");
	CHECK_STR(take(c), "451 4.7.0 backend.test Error: too many connections from 198.18.0.1\r\n");
	CHECK(b->aborted || b->closed);
	CHECK_EQ(F.nconnects, 1);                             /* no other backend tried for this client */
	CHECK_EQ(counter("backend_client_refused"), 1);
	log = log_end();
	CHECK(strstr(log, "NOQUEUE: backend 0 unknown[198.18.1.1]:25 refused client 198.18.0.1 at greeting after "
		      "PROXY: 421 4.7.0 backend.test Error: too many connections from 198.18.0.1; the backend stays "
		      "in service\n") != NULL);
	CHECK(strstr(log, "NOQUEUE: reject: MAIL from unknown[198.18.0.1]: 451 4.7.0 backend.test Error: too many "
		      "connections from 198.18.0.1; from=<a@client.test>") != NULL);
	CHECK(strstr(log, "bad greeting") == NULL);

	/* the next client (round robin: backend 1): its HELO refused by policy, a 5xx: 451 with the reason */
	log_begin();
	c = client_ehlo(40002);
	say(c, "MAIL FROM:<b@client.test>\r\n");
	CHECK_EQ(F.nconnects, 2);
	if (F.nconnects != 2) {
		log_end();
		stop();
		return;
	}
	b = F.connects[1];
	CHECK(memcmp(b->t.raddr.a, "\xc6\x12\x01\x03", 4) == 0);
	b->ops->connected(b, 0);
	take(b);
	say(b, "220 backend.test ESMTP\r\n");
	CHECK_STR(take(b), "EHLO client.test\r\n");         /* in the client's name */
	say(b, "554 5.7.1 <client.test>: Helo command rejected: Access denied\r\n");
	CHECK_STR(take(c), "451 4.7.1 <client.test>: Helo command rejected: Access denied\r\n");
	CHECK_EQ(F.nconnects, 2);
	CHECK_EQ(counter("backend_client_refused"), 2);
	log = log_end();
	CHECK(strstr(log, "backend 1 unknown[198.18.1.3]:25 refused client 198.18.0.1 at HELO after PROXY: 554 5.7.1 "
		      "<client.test>: Helo command rejected: Access denied; the backend stays in service\n") != NULL);

	/* backend 0 did not rest: the next MAIL reaches it; now it is out of service (4.3.2): rest, failover */
	log_begin();
	c = client_ehlo(40003);
	say(c, "MAIL FROM:<a@client.test>\r\n");
	CHECK_EQ(F.nconnects, 3);
	if (F.nconnects != 3) {
		log_end();
		stop();
		return;
	}
	b = F.connects[2];
	CHECK(memcmp(b->t.raddr.a, "\xc6\x12\x01\x01", 4) == 0);
	b->ops->connected(b, 0);
	take(b);
	say(b, "421 4.3.2 backend.test All server ports are busy\r\n");
	CHECK_EQ(F.nconnects, 4);                             /* failover to backend 1, which did not rest */
	CHECK_EQ(counter("backend_client_refused"), 2);
	if (F.nconnects == 4) {
		b = F.connects[3];
		CHECK(memcmp(b->t.raddr.a, "\xc6\x12\x01\x03", 4) == 0);
		b->ops->connected(b, 0);
		take(b);
		say(b, "220 backend.test ESMTP\r\n");
		CHECK_STR(take(b), "EHLO client.test\r\n");
		say(b, "250-backend.test\r\n250 PIPELINING\r\n");
		CHECK_STR(take(b), "MAIL FROM:<a@client.test>\r\n");
		say(b, "250 2.1.0 Ok\r\n");
		CHECK_STR(take(c), "250 2.1.0 Ok\r\n");
	}
	log = log_end();
	CHECK(strstr(log, "lost connection with backend 0 (bad greeting)") != NULL);
	/* backend 0 rests: the next MAIL goes to backend 1 although the cursor points at 0 */
	log_begin();
	c = client_ehlo(40004);
	say(c, "MAIL FROM:<d@client.test>\r\n");
	CHECK_EQ(F.nconnects, 5);
	if (F.nconnects == 5)
		CHECK(memcmp(F.connects[4]->t.raddr.a, "\xc6\x12\x01\x03", 4) == 0);
	log_end();
	stop();
}

/*
 * A PROXY v2 backend whose refusal says nothing about the client rests as
 * before (one backend: the next client finds none): a greeting 421 without
 * an enhanced code; a backend that does not speak PROXY (it greets, then
 * answers the header's lines with 500 5.5.2 in place of our EHLO's reply);
 * a /starttls backend refusing mxgate's own EHLO before TLS with 5.7.x.
 */
TEST(proxy_backend_down_rests)
{
	static const char *const cases[][3] = {
		{ "", "421 backend.test Too many concurrent SMTP connections; please try again later\r\n", "bad greeting" },
		{ "", "500 5.5.2 Error: bad syntax\r\n", "EHLO refused" },
		{ "/starttls", "554 5.7.1 <mx.test>: Helo command rejected: Access denied\r\n", "EHLO refused" },
	};
	char cfg[128], want[64];
	unsigned i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tcp_conn *c, *b;
		const char *log;

		snprintf(cfg, sizeof(cfg), "backends = 198.18.1.1:25/proxy%s\n", cases[i][0]);
		start(cfg);
		log_begin();
		c = client_ehlo(40001);
		say(c, "MAIL FROM:<a@client.test>\r\n");
		CHECK_EQ(F.nconnects, 1);
		b = F.connects[0];
		b->ops->connected(b, 0);
		take(b);
		if (cases[i][2][0] == 'E') {
			say(b, "220 backend.test ESMTP\r\n");
			CHECK_STR(take(b), cases[i][0][0] ? "EHLO mx.test\r\n" : "EHLO client.test\r\n");
		}
		say(b, cases[i][1]);
		CHECK(b->aborted || b->closed);
		CHECK(strncmp(take(c), "451 4.4.1 ", 10) == 0);     /* no backend left for it */
		CHECK_EQ(counter("backend_client_refused"), 0);
		/* it rests: the next client's MAIL finds no backend */
		c = client_ehlo(40002);
		say(c, "MAIL FROM:<b@client.test>\r\n");
		CHECK_EQ(F.nconnects, 1);
		CHECK(strncmp(take(c), "451 4.4.1 ", 10) == 0);
		log = log_end();
		snprintf(want, sizeof(want), "lost connection with backend 0 (%s)", cases[i][2]);
		CHECK(strstr(log, want) != NULL);
		CHECK(strstr(log, "refused client") == NULL);
		stop();
	}
}

/*
 * XCLIENT with the attributes the backend announced only (Haraka's list has
 * no PORT); a backend that announces no ADDR gets no XCLIENT, and the
 * worker warns once.
 */
TEST(xclient_announced_attrs)
{
	struct tcp_conn *c, *b;
	const char *log, *w;

	start("backends = 198.18.1.1:25\n");
	log_begin();
	c = client_ehlo(40001);
	say(c, "MAIL FROM:<a@client.test>\r\n");
	b = F.connects[0];
	b->ops->connected(b, 0);
	say(b, "220 backend.test ESMTP\r\n");
	CHECK_STR(take(b), "EHLO mx.test\r\n");
	say(b, "250-haraka.test\r\n250-PIPELINING\r\n250 XCLIENT NAME ADDR PROTO HELO\r\n");
	CHECK_STR(take(b), "XCLIENT ADDR=198.18.0.1 NAME=[UNAVAILABLE] HELO=client.test PROTO=ESMTP\r\n");
	say(b, "220 haraka.test ESMTP\r\n");
	CHECK_STR(take(b), "EHLO client.test\r\n");
	say(b, "250 haraka.test\r\n");
	CHECK_STR(take(b), "MAIL FROM:<a@client.test>\r\n");
	say(b, "250 2.1.0 Ok\r\n");
	CHECK_STR(take(c), "250 2.1.0 Ok\r\n");
	log_end();

	/* no ADDR: no XCLIENT (twice), one warning */
	log_begin();
	for (unsigned i = 0; i < 2; i++) {
		c = client_ehlo((uint16_t)(40002 + i));
		say(c, "MAIL FROM:<a@client.test>\r\n");
		CHECK_EQ(F.nconnects, 2 + i);
		if (F.nconnects != 2 + i)
			break;
		b = F.connects[1 + i];
		b->ops->connected(b, 0);
		say(b, "220 backend.test ESMTP\r\n");
		CHECK_STR(take(b), "EHLO mx.test\r\n");
		say(b, "250-backend.test\r\n250 XCLIENT NAME HELO PROTO\r\n");
		CHECK_STR(take(b), "MAIL FROM:<a@client.test>\r\n");
	}
	log = log_end();
	w = strstr(log, "warning: backend 0 unknown[198.18.1.1]:25 offers XCLIENT without the ADDR attribute");
	CHECK(w != NULL);
	CHECK(w == NULL || strstr(strstr(w, "without the ADDR") + 1, "without the ADDR") == NULL);   /* once */
	CHECK(strstr(log, "offers no XCLIENT") == NULL);
	CHECK_EQ(counter("xclient"), 1);

	/* no XCLIENT at all: the backend sees mxgate as every client; one warning for two sessions */
	log_begin();
	for (unsigned i = 0; i < 2; i++) {
		c = client_ehlo((uint16_t)(40004 + i));
		say(c, "MAIL FROM:<a@client.test>\r\n");
		CHECK_EQ(F.nconnects, 4 + i);
		if (F.nconnects != 4 + i)
			break;
		b = F.connects[3 + i];
		b->ops->connected(b, 0);
		say(b, "220 backend.test ESMTP\r\n");
		CHECK_STR(take(b), "EHLO mx.test\r\n");
		say(b, "250-backend.test\r\n250 PIPELINING\r\n");
		CHECK_STR(take(b), "MAIL FROM:<a@client.test>\r\n");
	}
	log = log_end();
	w = strstr(log, "warning: backend 0 unknown[198.18.1.1]:25 offers no XCLIENT: it sees mxgate's address");
	CHECK(w != NULL);
	CHECK(w == NULL || strstr(strstr(w, "offers no XCLIENT") + 1, "offers no XCLIENT") == NULL);   /* once */
	stop();
}

TEST(backend_none)
{
	struct tcp_conn *c;

	start("backends = 198.18.1.1:25 198.18.1.3:25\n");
	log_begin();
	c = client_connect(0, 40001);
	take(c);
	say(c, "EHLO client.test\r\nMAIL FROM:<a@client.test>\r\n");
	take(c);
	F.connects[0]->ops->connected(F.connects[0], -1);
	F.connects[1]->ops->connected(F.connects[1], -1);
	CHECK_STR(take(c), "451 4.4.1 Error: no backend available, try again later\r\n");
	/* both rest now: the next MAIL finds none at once */
	say(c, "MAIL FROM:<a@client.test>\r\n");
	CHECK_EQ(F.nconnects, 2);
	CHECK_STR(take(c), "451 4.4.1 Error: no backend available, try again later\r\n");
	/* the session goes on */
	say(c, "NOOP\r\n");
	CHECK_STR(take(c), "250 2.0.0 Ok\r\n");
	log_end();
	CHECK_EQ(counter("backend_errors"), 3);
	stop();
}

TEST(backend_malformed_reply)
{
	struct tcp_conn *c, *b;
	const char *log;

	start("backends = 198.18.1.1:25\n");
	log_begin();
	c = client_ehlo(40001);
	b = mail_via_backend(c);
	/* a reply without a code: that backend is dropped, the MAIL is tried again once */
	say(b, "hello there\r\n");
	CHECK(b->aborted);
	CHECK_EQ(F.nconnects, 2);
	b = F.connects[1];
	backend_gets_mail(b);
	/* a multi-line reply split anywhere is one reply */
	say(b, "250-2.1.0 first\r\n25");
	CHECK_STR(take(c), "");
	say(b, "0 2.1.0 Ok\r\n");
	CHECK_STR(take(c), "250-2.1.0 first\r\n250 2.1.0 Ok\r\n");
	log = log_end();
	CHECK(strstr(log, "(malformed reply) while waiting for MAIL\n") != NULL);
	CHECK_EQ(counter("backend_errors"), 1);
	stop();
}

/* A client that half-closes after its final dot still hears the backend's 250, then the close. */
TEST(client_half_close_owed)
{
	struct tcp_conn *c, *b;
	const char *log;

	up_to_dot("backends = 198.18.1.1:25\n", "Subject: t\r\n\r\nhalf-closed\r\n.\r\n", &c, &b);
	CHECK_STR(take(b), "Subject: t\r\n\r\nhalf-closed\r\n.\r\n");
	client_gone(c);                                       /* FIN: the 250 is still owed */
	CHECK(!c->closed && !c->shut && !b->aborted);
	CHECK_EQ(counter("active"), 1);
	say(b, "250 2.0.0 Ok: queued as 1\r\n");
	CHECK_STR(take(c), "250 2.0.0 Ok: queued as 1\r\n");
	CHECK(c->shut);                                       /* then FIN, nothing more owed */
	log = log_end();
	CHECK(strstr(log, "status=sent (250 2.0.0 Ok: queued as 1)") != NULL);
	CHECK(strstr(log, "lost connection") == NULL);
	CHECK_EQ(counter("messages_accepted"), 1);
	stop();
}

/* A new EHLO between transactions ends the backend's connection: the next MAIL is announced afresh. */
TEST(ehlo_again_new_backend)
{
	struct tcp_conn *c, *b;

	start("backends = 198.18.1.1:25\n");
	c = client_ehlo(40001);
	b = mail_via_backend(c);
	say(b, "250 2.1.0 Ok\r\n");
	CHECK_STR(take(c), "250 2.1.0 Ok\r\n");
	say(c, "RSET\r\n");
	CHECK_STR(take(c), "250 2.0.0 Ok\r\n");
	CHECK_STR(take(b), "RSET\r\n");
	say(b, "250 2.0.0 Ok\r\n");
	say(c, "EHLO other.test\r\n");
	take(c);
	CHECK_STR(take(b), "QUIT\r\n");                       /* told HELO=client.test: it goes */
	CHECK(b->closed);
	b = mail_via_backend(c);                              /* a new connection for the next MAIL */
	CHECK(b != NULL);
	stop();
}

TEST(backend_closes_during_rcpt)
{
	struct tcp_conn *c, *b;

	start("backends = 198.18.1.1:25\n");
	log_begin();
	c = client_ehlo(40001);
	b = mail_via_backend(c);
	say(b, "250 2.1.0 Ok\r\n");
	CHECK_STR(take(c), "250 2.1.0 Ok\r\n");
	say(c, "RCPT TO:<b@lab.test>\r\n");
	CHECK_STR(take(b), "RCPT TO:<b@lab.test>\r\n");
	b->ops->peer_closed(b);
	/* the transaction is gone with the backend: 421 and close */
	CHECK_STR(take(c), "421 4.4.2 Error: backend connection lost, try again later\r\n");
	CHECK(c->shut);
	CHECK(b->aborted);
	log_end();
	CHECK_EQ(counter("backend_errors"), 1);
	stop();
}

/*
 * The backend's refusals use up smtpd_hard_error_limit: the 421 goes out
 * with the last refusal and the connection closes then, without waiting
 * for the client to say anything more (a client that sends nothing would
 * hold its slot until the idle timeout).
 */
TEST(errors_from_answers_close_now)
{
	struct tcp_conn *c, *b;

	start("backends = 198.18.1.1:25\nsmtpd_hard_error_limit = 2\n");
	c = client_ehlo(40001);
	b = mail_via_backend(c);
	say(b, "250 2.1.0 Ok\r\n");
	CHECK_STR(take(c), "250 2.1.0 Ok\r\n");
	say(c, "RCPT TO:<a@lab.test>\r\n");
	say(b, "550 5.1.1 <a@lab.test>: Recipient address rejected\r\n");
	CHECK_STR(take(c), "550 5.1.1 <a@lab.test>: Recipient address rejected\r\n");
	CHECK(!c->shut);
	say(c, "RCPT TO:<b@lab.test>\r\n");
	say(b, "550 5.1.1 <b@lab.test>: Recipient address rejected\r\n");
	CHECK(strstr(take(c), "550 5.1.1 <b@lab.test>: Recipient address rejected\r\n421 4.7.0 ") != NULL);
	CHECK(c->shut);
	CHECK_EQ(counter("too_many_errors"), 1);
	stop();
}

TEST(backend_timeout_after_dot)
{
	struct tcp_conn *c, *b;
	const char *log;

	up_to_dot("backends = 198.18.1.1:25\nbackend_timeout_ms = 5000\n", "hello\r\n.\r\n", &c, &b);
	CHECK_STR(take(c), "");
	CHECK(strstr(take(b), "hello\r\n.\r\n") != NULL);
	/* the client's deadline is paused while the backend owes the verdict: only the backend's runs */
	CHECK_EQ(c->timer_at, 0);
	CHECK_EQ(b->timer_at, F.ctx.now_us + 5000000);
	clock_to(F.ctx.now_us + 5000000);
	CHECK_STR(take(c), "451 4.4.1 Error: backend failed, try again later\r\n");
	CHECK(b->aborted);
	CHECK(c->timer_at != 0);                              /* the client's deadline runs again */
	log = log_end();
	CHECK(strstr(log, ": timeout with backend 0 after END-OF-MESSAGE: the message may have been delivered; "
		      "the client is told 451 4.4.1 and may send it again\n") != NULL);
	CHECK_EQ(counter("backend_timeouts"), 1);
	CHECK_EQ(counter("messages_tempfailed"), 1);
	CHECK(strstr(labelled(), "mxgate_smtp_backend_timeouts_by_wait_total{lcore=\"1\",waiting=\"END-OF-MESSAGE\"} 1\n")
	      != NULL);
	stop();
}

/*
 * A backend lost inside a message that is then refused (too big) must not
 * taint the next transaction: its message goes to a fresh backend and gets
 * that backend's 250 (the failure flag used to survive and make it 451).
 */
TEST(backend_failure_not_carried_over)
{
	struct tcp_conn *c, *b, *b2;
	char big[200];

	start("backends = 198.18.1.1:25\nmessage_size_limit = 100\n");
	log_begin();
	c = client_ehlo(40001);
	b = mail_via_backend(c);
	into_message(c, b);
	say(c, "first\r\n");
	b->ops->peer_closed(b);
	memset(big, 'x', 150);
	memcpy(big + 150, "\r\n.\r\n", 6);
	say(c, big);
	CHECK_STR(take(c), "552 5.3.4 Message size exceeds fixed limit\r\n");
	b2 = mail_via_backend(c);
	if (b2 == NULL) {
		stop();
		return;
	}
	say(b2, "250 2.1.0 Ok\r\n");
	say(c, "RCPT TO:<b@lab.test>\r\n");
	say(b2, "250 2.1.5 Ok\r\n");
	say(c, "DATA\r\n");
	say(b2, "354 go\r\n");
	CHECK_STR(take(c), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
	say(c, "second\r\n.\r\n");
	CHECK(strstr(take(b2), "second\r\n.\r\n") != NULL);
	say(b2, "250 2.0.0 Ok: queued\r\n");
	CHECK_STR(take(c), "250 2.0.0 Ok: queued\r\n");
	log_end();
	CHECK_EQ(counter("messages_accepted"), 1);
	stop();
}

TEST(backpressure)
{
	struct tcp_conn *c, *b;
	char line[1001];
	unsigned i;

	start("backends = 198.18.1.1:25\n");
	log_begin();
	c = client_ehlo(40001);
	b = mail_via_backend(c);
	into_message(c, b);
	/* the backend has room for little: the message stops at a line boundary and waits */
	b->space = 3000;
	memset(line, 'x', 998);
	memcpy(line + 998, "\r\n", 3);
	for (i = 0; i < 10; i++)
		memcpy(c->rx + c->rxlen + i * 1000, line, 1000);
	c->rxlen += 10000;
	c->ops->readable(c);
	CHECK(b->want_writable);
	CHECK(c->rxlen > 0);                                  /* held in the client's window */
	CHECK_EQ(b->txlen % 1000, 0);
	CHECK(b->timer_at != 0);                              /* waiting for send space: the backend's timer */
	CHECK_EQ(c->timer_at, 0);                             /* not the client's fault */
	/* the backend drains: the rest flows */
	take(b);
	b->space = BUF_MAX - 1;
	b->want_writable = 0;
	b->ops->writable(b);
	CHECK_EQ(c->rxlen, 0);
	say(c, ".\r\n");
	say(b, "250 2.0.0 Ok\r\n");
	CHECK_STR(take(c), "250 2.0.0 Ok\r\n");
	log_end();
	CHECK_EQ(counter("message_bytes"), 10000);
	stop();
}

/*
 * A message of more short lines than one pump takes, all in the client's
 * window at once, and then nothing more from the client (it sent it all
 * and waits for the reply): the worker's polls must finish it, since no
 * new bytes will announce the rest.
 */
TEST(more_lines_than_a_pump)
{
	static char msg[(SESS_PUMP_ROUNDS + 1000) * 3 + 3];
	struct tcp_conn *c, *b;
	unsigned i, nlines = SESS_PUMP_ROUNDS + 1000;
	size_t want = (size_t)nlines * 3;

	for (i = 0; i < nlines; i++)
		memcpy(msg + i * 3, "x\r\n", 3);
	memcpy(msg + want, ".\r\n", 3);
	start("backends = 198.18.1.1:25\n");
	log_begin();
	c = client_ehlo(40001);
	b = mail_via_backend(c);
	into_message(c, b);
	memcpy(c->rx + c->rxlen, msg, sizeof(msg));
	c->rxlen += sizeof(msg);
	c->ops->readable(c);
	CHECK(c->rxlen > 0);                                  /* one pump's share */
	for (i = 0; i < 4 && c->rxlen > 0; i++)
		smtp_worker_poll(W);
	CHECK_EQ(c->rxlen, 0);
	/* every line and the dot went to the backend */
	CHECK(b->txlen >= sizeof(msg) && memcmp(b->tx + b->txlen - sizeof(msg), msg, sizeof(msg)) == 0);
	say(b, "250 2.0.0 Ok\r\n");
	CHECK_STR(take(c), "250 2.0.0 Ok\r\n");
	log_end();
	CHECK_EQ(counter("message_bytes"), want);
	stop();
}

TEST(greeting_delay)
{
	struct tcp_conn *c;
	const char *log;

	start("backends = 198.18.1.1:25\nsmtpd_greet_delay_ms = 2000\n");
	log_begin();
	/* the banner comes when the delay is over */
	c = client_connect(0, 40001);
	CHECK_STR(take(c), "");
	clock_to(F.ctx.now_us + 2000000);
	CHECK_STR(take(c), "220 mx.test ESMTP\r\n");
	say(c, "QUIT\r\n");
	CHECK_STR(take(c), "221 2.0.0 Bye\r\n");
	/* a client that talks first hears only the 554, never the banner */
	c = client_connect(0, 40002);
	say(c, "EHLO robot\r\n");
	CHECK_STR(take(c), "554 5.5.1 Error: talking before the greeting\r\n");
	CHECK(c->shut);
	log = log_end();
	CHECK(strstr(log, "]: PREGREET 12 after 0 from [198.18.0.1]:40002\n") != NULL);
	CHECK_EQ(counter("pregreet"), 1);
	stop();
}

/*
 * sendmail's connection control in the access map: GreetPause replaces
 * smtpd_greet_delay_ms (0: none) and its pregreet reply is sendmail's;
 * ClientConn counts open sessions and frees them at their end;
 * ClientRate counts every attempt in the last 60 s, refused ones too, and
 * forgets them once the window has passed.
 */
TEST(client_control)
{
	struct pol_builder *pb = pol_builder_new();
	struct pol_snapshot *pol;
	struct tcp_conn *c, *d, *e;
	char err[256];
	const char *log;

	CHECK_EQ(pol_add(pb, "GreetPause:198.18.0.1", "1500", err, sizeof(err)), 0);
	CHECK_EQ(pol_add(pb, "GreetPause:198.18.0.3", "0", err, sizeof(err)), 0);
	CHECK_EQ(pol_add(pb, "ClientConn:198.18.0.3", "2", err, sizeof(err)), 0);
	CHECK_EQ(pol_add(pb, "ClientRate:198.18.0.4", "2", err, sizeof(err)), 0);
	pol = pol_build(pb, err, sizeof(err));
	CHECK(pol != NULL);
	start("backends = 198.18.1.1:25\nsmtpd_greet_delay_ms = 4000\n");
	smtp_worker_set_policy(W, pol);
	log_begin();
	/* GreetPause 1500 instead of the 4000 of the configuration */
	c = client_connect(0, 40001);
	clock_to(F.ctx.now_us + 1499000);
	CHECK_STR(take(c), "");
	clock_to(F.ctx.now_us + 1000);
	CHECK_STR(take(c), "220 mx.test ESMTP\r\n");
	/* talking first under GreetPause: sendmail's greeting words */
	c = client_connect(0, 40002);
	say(c, "EHLO robot\r\n");
	CHECK_STR(take(c), "554 5.5.1 mx.test ESMTP not accepting messages\r\n");
	CHECK(c->shut);
	/* GreetPause 0: no pause at all, though smtpd_greet_delay_ms says 4000 */
	c = client_connect_from(0, "198.18.0.3", 40003);
	CHECK_STR(take(c), "220 mx.test ESMTP\r\n");
	/* ClientConn 2: the third open session is refused, a closed one makes room */
	d = client_connect_from(0, "198.18.0.3", 40004);
	CHECK_STR(take(d), "220 mx.test ESMTP\r\n");
	e = client_connect_from(0, "198.18.0.3", 40005);
	CHECK_STR(take(e), "421 4.3.2 Too many open connections.\r\n");
	CHECK(e->shut);
	client_gone(e);
	client_gone(d);
	d = client_connect_from(0, "198.18.0.3", 40006);
	CHECK_STR(take(d), "220 mx.test ESMTP\r\n");
	/* ClientRate 2: the third attempt within the minute is refused, and counts */
	for (uint16_t p = 40010; p < 40012; p++) {
		c = client_connect_from(0, "198.18.0.4", p);
		clock_to(F.ctx.now_us + 4000000);   /* smtpd_greet_delay_ms */
		CHECK_STR(take(c), "220 mx.test ESMTP\r\n");
		client_gone(c);
	}
	c = client_connect_from(0, "198.18.0.4", 40012);
	CHECK_STR(take(c), "421 4.3.2 Connection rate limit exceeded.\r\n");
	client_gone(c);
	clock_to(F.ctx.now_us + 30000000);
	c = client_connect_from(0, "198.18.0.4", 40013);  /* still within the window */
	CHECK_STR(take(c), "421 4.3.2 Connection rate limit exceeded.\r\n");
	client_gone(c);
	clock_to(F.ctx.now_us + 61000000);          /* every attempt now older than 60 s */
	c = client_connect_from(0, "198.18.0.4", 40014);
	clock_to(F.ctx.now_us + 4000000);
	CHECK_STR(take(c), "220 mx.test ESMTP\r\n");
	log = log_end();
	CHECK(strstr(log, "NOQUEUE: reject: CONNECT from unknown[198.18.0.3]: 421 4.3.2 Too many open "
		      "connections.; proto=SMTP\n") != NULL);
	CHECK(strstr(log, "NOQUEUE: reject: CONNECT from unknown[198.18.0.4]: 421 4.3.2 Connection rate "
		      "limit exceeded.; proto=SMTP\n") != NULL);
	CHECK(strstr(log, "]: PREGREET 12 after 0 from [198.18.0.1]:40002\n") != NULL);
	CHECK_EQ(counter("client_conn_refused"), 1);
	CHECK_EQ(counter("client_rate_refused"), 2);
	CHECK_EQ(counter("pregreet"), 1);
	CHECK(strstr(labelled(), "tag=\"GreetPause\",action=\"reject\"} 1\n") != NULL);
	CHECK(strstr(labelled(), "tag=\"ClientRate\",action=\"reject\"} 2\n") != NULL);
	stop();
	pol_snapshot_free(pol);
	pol_builder_free(pb);
}

TEST(draining)
{
	struct tcp_conn *c;

	start("backends = 198.18.1.1:25\n");
	smtp_worker_set_draining(W, 1);
	log_begin();
	c = client_connect(0, 40001);
	CHECK_STR(take(c), "421 4.3.2 Service shutting down, try again later\r\n");
	CHECK(c->shut);
	log_end();
	smtp_worker_set_draining(W, 0);
	log_begin();
	c = client_connect(0, 40002);
	CHECK_STR(take(c), "220 mx.test ESMTP\r\n");
	log_end();
	stop();
}

TEST(transactions)
{
	struct tcp_conn *c, *b;
	const char *log, *rx;

	start("backends = 198.18.1.1:25\n");
	log_begin();
	c = client_ehlo(40001);
	b = mail_via_backend(c);
	say(b, "250 2.1.0 Ok\r\n");
	say(c, "RCPT TO:<one@lab.test>\r\n");
	say(b, "250 2.1.5 Ok\r\n");
	/* RSET: the backend's transaction too; the next one starts afresh */
	say(c, "RSET\r\n");
	CHECK_STR(take(b), "RCPT TO:<one@lab.test>\r\nRSET\r\n");
	say(b, "250 2.0.0 Ok\r\n");
	CHECK_STR(take(c), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n");
	say(c, "MAIL FROM:<b@client.test>\r\n");
	say(b, "250 2.1.0 Ok\r\n");
	say(c, "RCPT TO:<two@lab.test>\r\n");
	say(b, "250 2.1.5 Ok\r\n");
	say(c, "RCPT TO:<nobody@lab.test>\r\n");
	say(b, "550 5.1.1 <nobody@lab.test>: Recipient address rejected\r\n");
	say(c, "RCPT TO:<three@lab.test>\r\n");
	say(b, "250 2.1.5 Ok\r\n");
	say(c, "DATA\r\n");
	take(b);
	say(b, "354 go\r\n");
	CHECK_STR(take(c), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <nobody@lab.test>: Recipient address "
		  "rejected\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
	rx = take(b);
	CHECK(strstr(rx, " for <") == NULL && strstr(rx, "\tfor <") == NULL);   /* two recipients: no "for" */
	say(c, "x\r\n.\r\n");
	say(b, "250 2.0.0 Ok: queued as A\r\n");
	/* a third transaction with one recipient: "for <it>" */
	say(c, "MAIL FROM:<c@client.test>\r\n");
	say(b, "250 2.1.0 Ok\r\n");
	say(c, "RCPT TO:<four@lab.test>\r\n");
	say(b, "250 2.1.5 Ok\r\n");
	say(c, "DATA\r\n");
	take(b);
	say(b, "354 go\r\n");
	CHECK(strstr(take(b), "\r\n\tfor <four@lab.test>;\r\n") != NULL);
	say(c, "y\r\n.\r\n");
	say(b, "250 2.0.0 Ok: queued as B\r\n");
	log = log_end();
	CHECK(strstr(log, ": from=<b@client.test>, size=3, nrcpt=2 (queue active)\n") != NULL);
	CHECK(strstr(log, ": to=<two@lab.test>, relay=198.18.1.1[198.18.1.1]:25, ") != NULL);
	CHECK(strstr(log, ": to=<three@lab.test>, relay=198.18.1.1[198.18.1.1]:25, ") != NULL);
	CHECK(strstr(log, "status=sent (250 2.0.0 Ok: queued as A)\n") != NULL);
	CHECK(strstr(log, ": from=<c@client.test>, size=3, nrcpt=1 (queue active)\n") != NULL);
	CHECK(strstr(log, ": to=<four@lab.test>, relay=198.18.1.1[198.18.1.1]:25, ") != NULL);
	CHECK(strstr(log, "status=sent (250 2.0.0 Ok: queued as B)\n") != NULL);
	/* the recipient refused after one was taken: the queue ID, not NOQUEUE */
	CHECK(strstr(log, ": reject: RCPT from unknown[198.18.0.1]: 550 5.1.1 <nobody@lab.test>: Recipient address "
		      "rejected; from=<b@client.test> to=<nobody@lab.test> proto=ESMTP helo=<client.test>\n") != NULL);
	CHECK(strstr(log, "NOQUEUE: reject: RCPT") == NULL);
	/* three transactions took recipients: three queue IDs, each in Postfix's long form */
	{
		const char *p = log, *q;
		char ids[3][SLOG_QID_MAX];
		int n = 0;

		while ((q = strstr(p, ": client=unknown[198.18.0.1]\n")) != NULL && n < 3) {
			const char *s = q;

			while (s > log && s[-1] != ' ')
				s--;
			snprintf(ids[n++], sizeof(ids[0]), "%.*s", (int)(q - s), s);
			p = q + 1;
		}
		CHECK_EQ(n, 3);
		CHECK(n == 3 && strcmp(ids[0], ids[1]) != 0 && strcmp(ids[1], ids[2]) != 0);
		CHECK(n == 3 && strlen(ids[1]) >= 12 && strchr(ids[1], 'z') != NULL);
	}
	CHECK_EQ(counter("messages_accepted"), 2);
	CHECK_EQ(F.nconnects, 1);                             /* one backend connection for all three */
	stop();
}

/* malloc fails for blocks of this size (the test is linked with -Wl,--wrap=malloc); 0: never */
static size_t malloc_fail_size;
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
	return malloc_fail_size != 0 && n == malloc_fail_size ? NULL : __real_malloc(n);
}

/* No memory for a transaction: MAIL gets 451 4.3.0, logged and counted; the session goes on. */
TEST(out_of_memory_at_mail)
{
	struct tcp_conn *c;
	const char *log;

	start("backends = 198.18.1.1:25\n");
	log_begin();
	c = client_ehlo(40003);
	malloc_fail_size = sizeof(struct smtp_tx_paths);
	say(c, "MAIL FROM:<a@client.test>\r\n");
	malloc_fail_size = 0;
	CHECK_STR(take(c), "451 4.3.0 Error: insufficient system resources\r\n");
	CHECK_EQ(F.nconnects, 0);                             /* nothing went to a backend */
	CHECK_EQ(counter("out_of_memory"), 1);
	CHECK(mail_via_backend(c) != NULL);                   /* the next MAIL goes through */
	log = log_end();
	CHECK(strstr(log, "warning: out of memory for a transaction from unknown[198.18.0.1]\n") != NULL);
	stop();
}

TEST(policy_stages)
{
	struct pol_builder *pb = pol_builder_new();
	struct pol_snapshot *pol;
	struct tcp_conn *c, *b;
	char err[256];
	const char *log;

	CHECK_EQ(pol_add(pb, "Connect:198.18.0.9", "REJECT", err, sizeof(err)), 0);
	CHECK_EQ(pol_add(pb, "From:spam.test", "DISCARD", err, sizeof(err)), 0);
	CHECK_EQ(pol_add(pb, "To:blocked.test", "REJECT", err, sizeof(err)), 0);
	CHECK_EQ(pol_add(pb, "To:lab.test", "RELAY", err, sizeof(err)), 0);
	pol = pol_build(pb, err, sizeof(err));
	CHECK(pol != NULL);
	start("backends = 198.18.1.1:25\n");
	smtp_worker_set_policy(W, pol);
	log_begin();
	/* Connect: REJECT: the refusal instead of the banner, and close */
	c = client_connect_from(0, "198.18.0.9", 40001);
	CHECK_STR(take(c), "550 5.7.1 Access denied\r\n");
	CHECK(c->shut);
	/* DISCARD: accepted, nothing reaches a backend */
	c = client_connect(0, 40002);
	take(c);
	say(c, "EHLO client.test\r\nMAIL FROM:<x@spam.test>\r\nRCPT TO:<a@lab.test>\r\nDATA\r\n");
	CHECK_STR(take(c), EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
	say(c, "spam\r\n.\r\n");
	CHECK_STR(take(c), "250 2.0.0 Ok: discarded\r\n");
	CHECK_EQ(F.nconnects, 0);
	/* the next transaction is not discarded; To: REJECT answers without the backend */
	say(c, "MAIL FROM:<y@client.test>\r\n");
	CHECK_EQ(F.nconnects, 1);
	b = F.connects[0];
	backend_setup(b, 0);
	CHECK_STR(take(b), "MAIL FROM:<y@client.test>\r\n");
	say(b, "250 2.1.0 Ok\r\n");
	say(c, "RCPT TO:<z@blocked.test>\r\n");
	CHECK_STR(take(c), "250 2.1.0 Ok\r\n550 5.2.1 <z@blocked.test>: Mailbox disabled for this recipient\r\n");
	CHECK_STR(take(b), "");
	log = log_end();
	CHECK(strstr(log, "NOQUEUE: reject: CONNECT from unknown[198.18.0.9]: 550 5.7.1 Access denied; proto=SMTP\n") != NULL);
	CHECK(strstr(log, "NOQUEUE: discard: MAIL from unknown[198.18.0.1]: <x@spam.test>: Sender address triggers DISCARD "
		      "action; from=<x@spam.test> proto=ESMTP helo=<client.test>\n") != NULL);
	CHECK(strstr(log, "NOQUEUE: reject: RCPT from unknown[198.18.0.1]: 550 5.2.1 <z@blocked.test>: Mailbox disabled for this recipient; "
		      "from=<y@client.test> to=<z@blocked.test> proto=ESMTP helo=<client.test>\n") != NULL);
	CHECK_EQ(counter("policy_connect_rejects"), 1);
	CHECK_EQ(counter("policy_discards"), 1);
	CHECK_EQ(counter("policy_rcpt_rejects"), 1);
	CHECK(strstr(labelled(), "mxgate_smtp_policy_decisions_total{lcore=\"1\",tag=\"From\",action=\"discard\"} 1\n")
	      != NULL);
	stop();
	pol_snapshot_free(pol);
	pol_builder_free(pb);
}

/* ---- STARTTLS with a real handshake ---- */

/* A self-signed P-256 certificate for mx.test as PEM, and its key. */
static void make_cert(char **chain, size_t *chain_len, char **key, size_t *key_len)
{
	EVP_PKEY *k = EVP_PKEY_new();
	EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);

	EC_KEY_generate_key(ec);
	EVP_PKEY_assign_EC_KEY(k, ec);
	hs_self_signed(k, "mx.test", chain, chain_len, key, key_len);
	EVP_PKEY_free(k);
}

/* The test's TLS client over the fake connection: memory BIOs both ways. */
struct tcli {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out;            /* server to client, client to server */
};

/* Move bytes both ways until nothing moves: client records to the session, its records back. */
static void tls_pump(struct tcli *t, struct tcp_conn *c)
{
	unsigned round;

	for (round = 0; round < 50; round++) {
		const uint8_t *p;
		size_t n, moved = 0;

		SSL_do_handshake(t->ssl);
		BIO_mem_contents(t->out, &p, &n);
		if (n > 0) {
			memcpy(c->rx + c->rxlen, p, n);
			c->rxlen += n;
			BIO_reset(t->out);
			if (c->ops && c->ops->readable)
				c->ops->readable(c);
			moved += n;
		}
		smtp_worker_poll(W);          /* the private-key door */
		if (c->txlen > 0) {
			BIO_write(t->in, c->tx, (int)c->txlen);
			moved += c->txlen;
			take(c);
			if (c->ops && c->ops->writable)
				c->ops->writable(c);
		}
		if (moved == 0)
			break;
	}
}

/* Send text through TLS and return what came back decrypted (static). */
static const char *tls_say(struct tcli *t, struct tcp_conn *c, const char *text)
{
	static char out[BUF_MAX];
	size_t o = 0;
	int n;

	if (text != NULL)
		SSL_write(t->ssl, text, (int)strlen(text));
	tls_pump(t, c);
	while (o < sizeof(out) - 1 && (n = SSL_read(t->ssl, out + o, (int)(sizeof(out) - 1 - o))) > 0)
		o += (size_t)n;
	out[o] = '\0';
	return out;
}

TEST(starttls)
{
	struct tls_server_cfg scfg;
	struct tls_ctx *tls;
	struct tcli t;
	struct tcp_conn *c, *b;
	char *chain, *key, err[256];
	size_t chain_len, key_len;
	const char *log, *rx;

	make_cert(&chain, &chain_len, &key, &key_len);
	memset(&scfg, 0, sizeof(scfg));
	scfg.certs[0].chain_file = "mem";
	scfg.certs[0].key_file = "mem";
	scfg.certs[0].chain_pem = chain;
	scfg.certs[0].chain_pem_len = chain_len;
	scfg.certs[0].key_pem = key;
	scfg.certs[0].key_pem_len = key_len;
	scfg.ncerts = 1;
	scfg.min_version = 0x0303;
	tls = tls_ctx_new(&scfg, err, sizeof(err));
	CHECK(tls != NULL);
	if (tls == NULL) {
		fprintf(stderr, "tls: %s\n", err);
		return;
	}
	start_tls("backends = 198.18.1.1:25\n", tls);
	log_begin();
	c = client_connect(0, 40001);
	CHECK_STR(take(c), "220 mx.test ESMTP\r\n");
	say(c, "EHLO client.test\r\n");
	CHECK(strstr(take(c), "\r\n250 STARTTLS\r\n") != NULL);
	/* a command pipelined behind STARTTLS in the same packet is discarded (CVE-2011-0411) */
	say(c, "STARTTLS\r\nMAIL FROM:<evil@x>\r\n");
	CHECK_STR(take(c), "220 2.0.0 Ready to start TLS\r\n");
	CHECK_EQ(c->rxlen, 0);

	memset(&t, 0, sizeof(t));
	t.ctx = SSL_CTX_new(TLS_method());
	t.ssl = SSL_new(t.ctx);
	t.in = BIO_new(BIO_s_mem());
	t.out = BIO_new(BIO_s_mem());
	SSL_set_bio(t.ssl, t.in, t.out);
	SSL_set_connect_state(t.ssl);
	SSL_set_tlsext_host_name(t.ssl, "mx.test");
	tls_pump(&t, c);
	CHECK_EQ(SSL_is_init_finished(t.ssl), 1);
	CHECK_EQ(counter("starttls"), 1);
	CHECK_EQ(counter("starttls_injection"), 1);
	CHECK_EQ(counter("tls_v13"), 1);

	/* a new session inside TLS (RFC 3207 4.2): EHLO again, no STARTTLS offered */
	rx = tls_say(&t, c, "MAIL FROM:<a@client.test>\r\n");
	CHECK_STR(rx, "503 5.5.1 Error: send HELO/EHLO first\r\n");
	rx = tls_say(&t, c, "EHLO client.test\r\n");
	CHECK(strncmp(rx, "250-mx.test\r\n", 13) == 0);
	CHECK(strstr(rx, "STARTTLS") == NULL);
	/* the message relayed: its Received header says ESMTPS with the TLS facts */
	rx = tls_say(&t, c, "MAIL FROM:<a@client.test>\r\n");
	CHECK_EQ(F.nconnects, 1);
	b = F.connects[0];
	backend_gets_mail(b);
	say(b, "250 2.1.0 Ok\r\n");
	CHECK_STR(tls_say(&t, c, NULL), "250 2.1.0 Ok\r\n");
	CHECK_STR(tls_say(&t, c, "RCPT TO:<b@lab.test>\r\n"), "");
	CHECK_STR(take(b), "RCPT TO:<b@lab.test>\r\n");
	say(b, "250 2.1.5 Ok\r\n");
	CHECK_STR(tls_say(&t, c, "DATA\r\n"), "250 2.1.5 Ok\r\n");
	CHECK_STR(take(b), "DATA\r\n");
	say(b, "354 go\r\n");
	CHECK_STR(tls_say(&t, c, NULL), "354 End data with <CR><LF>.<CR><LF>\r\n");
	rx = take(b);
	CHECK(strstr(rx, " (mxgate) with ESMTPS id ") != NULL);
	CHECK(strstr(rx, "\r\n\t(version=TLSv1.3 cipher=") != NULL);
	CHECK(strstr(rx, " verify=NOT)") != NULL);
	tls_say(&t, c, "hi\r\n.\r\n");
	CHECK_STR(take(b), "hi\r\n.\r\n");
	say(b, "250 2.0.0 Ok: queued\r\n");
	CHECK_STR(tls_say(&t, c, "QUIT\r\n"), "250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n");
	/*
	 * the output and TLS input buffers the session drained went to the
	 * worker's spares (its line buffer goes when it is freed), the TLS input
	 * wiped of the decrypted commands
	 */
	CHECK(W->spare_out.n >= 1 && W->spare_tin.n >= 1);
	{
		static const uint8_t zero[TLS_IN_MAX];
		uint8_t *tin = spare_get(&W->spare_tin, TLS_IN_MAX);

		CHECK(tin != NULL && memcmp(tin, zero, TLS_IN_MAX) == 0);
		spare_put(&W->spare_tin, tin, TLS_IN_MAX);
	}
	log = log_end();
	CHECK(strstr(log, "Anonymous TLS connection established from unknown[198.18.0.1]: TLSv1.3 with cipher ")
	      != NULL);
	CHECK(strstr(log, ": from=<a@client.test>, size=4, nrcpt=1 (queue active)") != NULL);
	CHECK(strstr(log, "status=sent (250 2.0.0 Ok: queued)") != NULL);
	stop();
	SSL_free(t.ssl);
	SSL_CTX_free(t.ctx);
	tls_ctx_free(tls);
	free(chain);
	free(key);
}

/*
 * SIGHUP's swap (smtp_worker_set_config, smtp_worker_sync): new sessions
 * take the new recipient limit and backends; a session open across two
 * swaps keeps its limit and its backend connection; once a worker has
 * synced past a configuration, nothing reads it (it is overwritten here).
 */
/* The backend b takes the MAIL of client c, then n recipients <to>, each relayed and taken. */
static void rcpts_through(struct tcp_conn *c, struct tcp_conn *b, const char *to, unsigned n)
{
	char line[128];

	say(b, "250 2.1.0 Ok\r\n");
	CHECK_STR(take(c), "250 2.1.0 Ok\r\n");
	snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", to);
	while (n-- > 0) {
		say(c, line);
		CHECK_STR(take(b), line);
		say(b, "250 2.1.5 Ok\r\n");
		CHECK_STR(take(c), "250 2.1.5 Ok\r\n");
	}
}

TEST(config_swap)
{
	static struct mx_config a, b;
	struct tcp_conn *c1, *b1, *c2, *b2, *c3, *b3;

	start("backends = 198.18.1.1:25\nsmtpd_recipient_limit = 100\n");
	log_begin();
	c1 = client_ehlo(40001);
	b1 = mail_via_backend(c1);
	CHECK(b1 != NULL);
	if (b1 == NULL) {
		log_end();
		stop();
		return;
	}

	parse_into(&a, "backends = 198.18.1.3:2526\nsmtpd_recipient_limit = 1\n");
	smtp_worker_set_config(W, &a);
	smtp_worker_sync(W);
	c2 = client_ehlo(40002);
	b2 = mail_via_backend(c2);
	CHECK(b2 != NULL && b2->t.rport == 2526 && memcmp(b2->t.raddr.a, "\xc6\x12\x01\x03", 4) == 0);
	if (b2 != NULL) {
		rcpts_through(c2, b2, "x1@lab.test", 1);
		say(c2, "RCPT TO:<x2@lab.test>\r\n");
		CHECK_STR(take(c2), "452 4.5.3 Error: too many recipients\r\n");
		CHECK_STR(take(b2), "");
	}

	parse_into(&b, "backends = 198.18.1.4:2527\nsmtpd_recipient_limit = 3\n");
	smtp_worker_set_config(W, &b);
	smtp_worker_sync(W);
	memset(&a, 0x5a, sizeof(a));          /* what the service lcore frees after the grace period */
	c3 = client_ehlo(40003);
	b3 = mail_via_backend(c3);
	CHECK(b3 != NULL && b3->t.rport == 2527 && memcmp(b3->t.raddr.a, "\xc6\x12\x01\x04", 4) == 0);
	if (b3 != NULL) {
		rcpts_through(c3, b3, "y@lab.test", 3);
		say(c3, "RCPT TO:<y@lab.test>\r\n");
		CHECK_STR(take(c3), "452 4.5.3 Error: too many recipients\r\n");
	}

	/* the first session: its limit (100) and its backend, through to the message's 250 */
	rcpts_through(c1, b1, "z@lab.test", 5);
	say(c1, "DATA\r\n");
	CHECK_STR(take(b1), "DATA\r\n");
	say(b1, "354 go\r\n");
	CHECK(strncmp(take(c1), "354 ", 4) == 0);
	take(b1);
	say(c1, "Subject: t\r\n\r\nacross two swaps\r\n.\r\n");
	CHECK_STR(take(b1), "Subject: t\r\n\r\nacross two swaps\r\n.\r\n");
	say(b1, "250 2.0.0 Ok: queued as 1\r\n");
	CHECK_STR(take(c1), "250 2.0.0 Ok: queued as 1\r\n");
	CHECK_EQ(F.nconnects, 3);
	log_end();
	stop();
}

/*
 * A first message line that starts with white space, with or without a
 * transparency dot before it, gets an empty line first: the backend must
 * not read it as a continuation of mxgate's Received header. A dot followed
 * by anything else does not.
 */
TEST(first_line_white_space)
{
	static const struct { const char *line; int empty; } t[] = {
		{ " (Authenticated sender: admin)\r\n", 1 },
		{ "\tby trusted.example\r\n", 1 },
		{ ". (Authenticated sender: admin)\r\n", 1 },
		{ ".\tby trusted.example\r\n", 1 },
		{ "..dots\r\n", 0 },
		{ ".x\r\n", 0 },
		{ "Subject: fine\r\n", 0 },
	};
	struct tcp_conn *c, *b;
	char want[128];
	unsigned i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		start("backends = 198.18.1.1:25\n");
		c = client_ehlo(40001);
		say(c, "MAIL FROM:<a@client.test>\r\n");
		b = F.connects[0];
		backend_setup(b, 1);
		take(b);
		say(b, "250 2.1.0 Ok\r\n");
		take(c);
		say(c, "RCPT TO:<b@lab.test>\r\n");
		take(b);
		say(b, "250 2.1.5 Ok\r\n");
		take(c);
		say(c, "DATA\r\n");
		take(b);
		say(b, "354 go\r\n");
		take(c);
		take(b);                        /* our Received header */
		say(c, t[i].line);
		snprintf(want, sizeof(want), "%s%s", t[i].empty ? "\r\n" : "", t[i].line);
		CHECK_STR(take(b), want);
		stop();
	}
}

int main(void)
{
	RUN(banner_to_quit);
	RUN(first_line_white_space);
	RUN(relay_xclient);
	RUN(relay_proxy_v2);
	RUN(backend_refused_failover);
	RUN(backend_refuses_client);
	RUN(proxy_backend_refuses_client);
	RUN(proxy_backend_down_rests);
	RUN(xclient_announced_attrs);
	RUN(backend_none);
	RUN(backend_malformed_reply);
	RUN(client_half_close_owed);
	RUN(ehlo_again_new_backend);
	RUN(backend_closes_during_rcpt);
	RUN(errors_from_answers_close_now);
	RUN(backend_timeout_after_dot);
	RUN(backend_failure_not_carried_over);
	RUN(backpressure);
	RUN(more_lines_than_a_pump);
	RUN(greeting_delay);
	RUN(client_control);
	RUN(draining);
	RUN(starttls);
	RUN(transactions);
	RUN(out_of_memory_at_mail);
	RUN(policy_stages);
	RUN(config_swap);
	return t_done("test_session");
}
