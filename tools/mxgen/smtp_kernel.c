/*
 * smtp_kernel.c - mxgen's SMTP load client over kernel sockets: one thread,
 * one epoll set, non-blocking TCP sockets and BoringSSL clients. It drives
 * many concurrent SMTP sessions against mxgate (in the lab namespace) or a
 * peer MTA (on loopback) and measures sessions/s, TLS handshakes/s and
 * latency, with errors counted by class.
 *
 *   mxgen MODE --server IP --port 25|465 [--concurrency N] [--count N]
 *              [--duration S] [--tls-version 1.2|1.3] [--cpu C] [options]
 *
 * Modes:
 *   smtp            a whole session with a small message: greeting, EHLO,
 *                   STARTTLS, handshake, EHLO, MAIL, RCPT, DATA, message,
 *                   QUIT (port 465: handshake, greeting, EHLO, MAIL, ...)
 *   smtp-handshake  greeting, EHLO, STARTTLS, handshake, QUIT (465:
 *                   handshake, greeting, QUIT): for handshakes/s
 *   smtp-idle       --concurrency sessions do STARTTLS and EHLO, then stay
 *                   idle for --duration seconds (memory per idle session);
 *                   then every one says QUIT
 * With --plain 1, smtp sends no STARTTLS: greeting, EHLO, MAIL, RCPT, DATA,
 * message, QUIT in clear text (plain SMTP, for make bench).
 * Every handshake is a full one: a fresh SSL per session, no session cache,
 * no tickets offered (SSL_OP_NO_TICKET), no SSL_set_session. The server's
 * certificate is not verified (lab certificates are self-signed); its
 * CertificateVerify signature is checked by the protocol as always.
 *
 * Life of a run: smtp and smtp-handshake keep --concurrency sessions in
 * flight, replacing each one that ends, until --duration seconds passed or
 * --count sessions were started (--rate R: open loop instead, R sessions
 * started per second, at most --concurrency in flight; smtp_client.h);
 * then in-flight sessions get DRAIN_MS to
 * finish and the rest are aborted (timeouts). smtp-idle opens its sessions
 * with at most --ramp in set-up at once (set-up bounded by --setup-s),
 * prints "mxgen: idle: N sessions idle" on stderr when all are idle, holds
 * them for --duration seconds, then sends QUIT on each and waits DRAIN_MS.
 * After the 221 to QUIT a TLS session sends its close_notify (as MTAs do;
 * nginx waits up to 3 s for it before it closes) and waits for the
 * server's close; a reset at that point still counts as a completed
 * session. Every step of a session has --timeout-ms. A progress line goes to stderr
 * every second, one summary line to stdout at the end. A watchdog (alarm)
 * ends the process if the run overruns its time cap.
 *
 * Addresses: only 198.18.0.0/15 (the benchmarking range of the lab) or
 * 127.0.0.1, given as numbers; no name is ever looked up.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tools/common/hist.h"
#include "tools/common/opt.h"

#include "smtp_kernel.h"
#include "smtp_client.h"

#define MAX_CONCURRENCY  200000u
#define EPOLL_BATCH      512
#define POLL_MS          10          /* epoll_wait timeout: progress and starts stay timely */
#define TIMER_SCAN_NS    50000000ull /* deadlines are checked this often */
#define DRAIN_MS         5000u       /* in-flight grace after the run / for the QUITs */
#define STEP_LIMIT       64          /* steps per event on one session */
#define START_BURST      1024u       /* new sessions per loop round at most */
#define FAIL_LOG_MAX     10          /* failures described on stderr */
#define WATCHDOG_SLACK_S 30u

/* Latency histogram: log2 groups of 2^HIST_SUB_BITS linear buckets, in ns. */

/* Error classes of failed sessions. */
#define SK_ERRS(X) \
	X(connect)      /* socket()/connect() failed, or the connection was refused */ \
	X(tls)          /* handshake failed, or a TLS error afterwards */ \
	X(smtp_reply)   /* a reply with an unexpected code (e.g. 421), or malformed */ \
	X(timeout)      /* a step took longer than --timeout-ms, or drain/set-up ended */ \
	X(closed)       /* the server closed or reset the connection mid-session */

enum sk_err {
#define X(n) E_##n,
	SK_ERRS(X)
#undef X
	E__MAX
};

static const char *const err_names[E__MAX] = {
#define X(n) #n,
	SK_ERRS(X)
#undef X
};

enum sk_mode { M_SMTP, M_HANDSHAKE, M_IDLE };
static const char *const mode_names[] = { "smtp", "smtp-handshake", "smtp-idle" };

enum phase { PH_RUN, PH_DRAIN, PH_SETUP, PH_HOLD, PH_RELEASE, PH_DONE };
static const char *const phase_names[] = { "run", "drain", "setup", "hold", "release", "done" };

struct sk_opts {
	enum sk_mode mode;
	struct sockaddr_in sa;
	char server[INET_ADDRSTRLEN];
	unsigned port;
	int implicit_tls;          /* port 465: TLS from the first byte */
	unsigned concurrency;
	uint64_t count;            /* sessions to start, 0 = until --duration */
	double duration;           /* run window; smtp-idle: hold time */
	int tls_version;           /* TLS1_2_VERSION or TLS1_3_VERSION */
	int cpu;                   /* -1: not pinned */
	unsigned size;             /* message body bytes (smtp) */
	unsigned timeout_ms;       /* per step */
	unsigned ramp;             /* smtp-idle: sessions in set-up at once */
	double setup_s;            /* smtp-idle: set-up phase bound */
	const char *sni;
	int plain;                 /* smtp: no STARTTLS, the whole session in clear */
	double rate;               /* --rate: sessions per second, open loop (0: closed loop) */
};


struct conn {
	int fd;                    /* -1: slot free */
	uint32_t gen;              /* bumped on every use: stale epoll events are ignored */
	SSL *ssl;
	uint8_t st;
	uint8_t tls;               /* TLS is up or being set up */
	uint8_t tls_eof;           /* close_notify seen: waiting for the TCP FIN */
	uint8_t idle;              /* counted in nidle */
	uint64_t t0, t_hs, deadline;   /* ns; deadline 0 = none */
	uint64_t t_tls, t_250;     /* ns: the end of the handshake, the final 250 (0: none) */
	const char *out;           /* output being sent (stable until sent) */
	size_t out_len, out_off;
	size_t rlen;
	char rbuf[RBUF];
};

/* The run: options, sessions, counters. */
struct sk {
	struct sk_opts o;
	SSL_CTX *ctx;
	int ep;
	struct conn *c;
	unsigned *free_stack;
	unsigned nfree;
	unsigned active, nidle, idle_max;
	enum phase phase;
	uint64_t t_start, t_win0, t_win1, phase_end, next_scan, next_start_ok;
	uint64_t started, sessions, sessions_win, handshakes, handshakes_win;
	uint64_t errors[E__MAX];
	uint64_t codes[600];        /* unexpected reply codes seen (0: malformed) */
	char code_text[600][80];    /* the first text of each */
	unsigned fail_logged;
	struct hist h_sess, h_hs;
	struct hist lat_tls, lat_250;   /* connect to TLS done, to the final 250 (ns) */
	struct pace pace;           /* --rate: the open-loop schedule */
	char *msg;                  /* DATA: headers, body, CRLF.CRLF */
	size_t msg_len;
	char version[16], cipher[64], group[32], sigalg[48];
	struct rusage ru0, ru1;
};

static struct sk S;
static volatile sig_atomic_t quit;
static const char *prog = "mxgen";

/* ---------------------------------------------------------------- */
/* small helpers                                                     */
/* ---------------------------------------------------------------- */

/* Monotonic nanoseconds. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* the latency histogram: tools/common/hist.h */

/* Total errors. */
static uint64_t total_errors(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < E__MAX; i++)
		n += S.errors[i];
	return n;
}

/* Is the measuring window open? */
static int in_window(void)
{
	return S.phase == PH_RUN || S.phase == PH_SETUP;
}

/* ---------------------------------------------------------------- */
/* sessions                                                          */
/* ---------------------------------------------------------------- */

/* Give the slot back: free the TLS state, close the socket. */
static void conn_release(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);            /* also removes it from the epoll set */
		c->fd = -1;
	}
	if (c->idle) {
		c->idle = 0;
		S.nidle--;
	}
	c->st = S_FREE;
	c->out = NULL;
	S.active--;
	S.free_stack[S.nfree++] = (unsigned)(c - S.c);
	ERR_clear_error();
}

static void conn_done(struct conn *c);

/* A session failed: count its class, say why (the first few), let it go. */
static void conn_fail(struct conn *c, enum sk_err cls, const char *why)
{
	if (c->st == S_EOF && cls == E_closed) {
		conn_done(c);            /* a reset after the 221 to QUIT: the session is over */
		return;
	}
	S.errors[cls]++;
	if (S.fail_logged < FAIL_LOG_MAX) {
		S.fail_logged++;
		fprintf(stderr, "%s: session failed (%s) in %s after %.1f ms: %s\n", prog,
			err_names[cls], state_names[c->st], (double)(now_ns() - c->t0) / 1e6, why);
		if (S.fail_logged == FAIL_LOG_MAX)
			fprintf(stderr, "%s: (further failures are only counted)\n", prog);
	}
	conn_release(c);
}

/* A session ended as it should. */
static void conn_done(struct conn *c)
{
	uint64_t dt = now_ns() - c->t0;

	S.sessions++;
	if (in_window()) {
		S.sessions_win++;
		hist_add(&S.h_sess, dt);
		if (c->t_tls)
			hist_add(&S.lat_tls, c->t_tls - c->t0);
		if (c->t_250)
			hist_add(&S.lat_250, c->t_250 - c->t0);
	}
	conn_release(c);
}

/* Queue output; the next step sends it. buf must stay valid until sent. */
static void conn_send(struct conn *c, const char *buf, size_t len, enum ss_state next)
{
	c->out = buf;
	c->out_len = len;
	c->out_off = 0;
	c->st = (uint8_t)next;
	c->deadline = now_ns() + (uint64_t)S.o.timeout_ms * 1000000ull;
}

#define SEND_LIT(c, lit, next) conn_send(c, lit, sizeof(lit) - 1, next)

/* Open a new session in a free slot; 0, or -1 (counted) when that failed. */
static int conn_start(void)
{
	struct conn *c;
	struct epoll_event ev;
	int fd, one = 1;

	if (S.nfree == 0)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		S.errors[E_connect]++;
		if (S.fail_logged++ < FAIL_LOG_MAX)
			fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&S.o.sa, sizeof(S.o.sa)) != 0 &&
	    errno != EINPROGRESS) {
		S.errors[E_connect]++;
		if (S.fail_logged++ < FAIL_LOG_MAX)
			fprintf(stderr, "%s: connect: %s\n", prog, strerror(errno));
		close(fd);
		return -1;
	}
	c = &S.c[S.free_stack[--S.nfree]];
	c->fd = fd;
	c->gen++;
	c->ssl = NULL;
	c->st = S_CONNECTING;
	c->tls = c->tls_eof = c->idle = 0;
	c->rlen = 0;
	c->out = NULL;
	c->t0 = now_ns();
	c->t_hs = c->t_tls = c->t_250 = 0;
	c->deadline = c->t0 + (uint64_t)S.o.timeout_ms * 1000000ull;
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u64 = (uint64_t)(c - S.c) | ((uint64_t)c->gen << 32);
	S.active++;
	S.started++;
	if (epoll_ctl(S.ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		conn_fail(c, E_connect, strerror(errno));
		return -1;
	}
	return 0;
}

/* Begin TLS on the connection (after the 220 to STARTTLS, or at once on 465). */
static int tls_start(struct conn *c)
{
	c->ssl = SSL_new(S.ctx);
	if (c->ssl == NULL || !SSL_set_fd(c->ssl, c->fd)) {
		conn_fail(c, E_tls, "SSL_new failed");
		return -1;
	}
	SSL_set_connect_state(c->ssl);
	if (S.o.sni != NULL && S.o.sni[0])
		SSL_set_tlsext_host_name(c->ssl, S.o.sni);
	c->tls = 1;
	c->st = S_HANDSHAKE;
	c->t_hs = now_ns();
	c->deadline = c->t_hs + (uint64_t)S.o.timeout_ms * 1000000ull;
	return 0;
}

/* Remember what the first handshake negotiated, for the summary. */
static void note_negotiated(SSL *ssl)
{
	const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
	const char *g = SSL_get_curve_name(SSL_get_curve_id(ssl));
	uint16_t alg = SSL_get_peer_signature_algorithm(ssl);
	const char *sn = alg ? SSL_get_signature_algorithm_name(alg, 0) : NULL;

	snprintf(S.version, sizeof(S.version), "%s", SSL_get_version(ssl));
	snprintf(S.cipher, sizeof(S.cipher), "%s", ci ? SSL_CIPHER_standard_name(ci) : "-");
	snprintf(S.group, sizeof(S.group), "%s", g ? g : "-");
	snprintf(S.sigalg, sizeof(S.sigalg), "%s", sn ? sn : "-");
}

/* The handshake completed: count it and go on with the session. */
static void tls_done(struct conn *c)
{
	S.handshakes++;
	c->t_tls = now_ns();
	if (in_window()) {
		S.handshakes_win++;
		hist_add(&S.h_hs, c->t_tls - c->t_hs);
	}
	if (!S.version[0])
		note_negotiated(c->ssl);
	if (S.o.implicit_tls) {
		c->st = S_GREETING;          /* the greeting comes over TLS */
		c->deadline = now_ns() + (uint64_t)S.o.timeout_ms * 1000000ull;
	} else if (S.o.mode == M_HANDSHAKE) {
		SEND_LIT(c, "QUIT\r\n", S_QUIT);
	} else {
		SEND_LIT(c, "EHLO " HELO_NAME "\r\n", S_EHLO2);
	}
}

/* A complete reply with this code arrived in the current state. Returns -1 if c ended. */
static int on_reply(struct conn *c, int code, const char *text, size_t tlen)
{
	if (code != want_code[c->st]) {
		char why[160];

		if (code >= 0 && code < 600) {
			if (S.codes[code]++ == 0)
				snprintf(S.code_text[code], sizeof(S.code_text[code]), "%.*s",
					 (int)(tlen > 79 ? 79 : tlen), text);
		}
		snprintf(why, sizeof(why), "reply %d, expected %d: %.*s", code, want_code[c->st],
			 (int)(tlen > 100 ? 100 : tlen), text);
		conn_fail(c, E_smtp_reply, why);
		return -1;
	}
	switch (c->st) {
	case S_GREETING:
		if (S.o.implicit_tls && S.o.mode == M_HANDSHAKE)
			SEND_LIT(c, "QUIT\r\n", S_QUIT);
		else if (S.o.implicit_tls)
			SEND_LIT(c, "EHLO " HELO_NAME "\r\n", S_EHLO2);
		else
			SEND_LIT(c, "EHLO " HELO_NAME "\r\n", S_EHLO1);
		return 0;
	case S_EHLO1:
		if (S.o.plain)
			SEND_LIT(c, "MAIL FROM:<bench@" HELO_NAME ">\r\n", S_MAIL);
		else
			SEND_LIT(c, "STARTTLS\r\n", S_STARTTLS);
		return 0;
	case S_STARTTLS:
		if (c->rlen > 0) {
			conn_fail(c, E_smtp_reply, "bytes after the 220 to STARTTLS");
			return -1;
		}
		return tls_start(c);
	case S_EHLO2:
		if (S.o.mode == M_IDLE) {
			c->st = S_IDLE;
			c->deadline = 0;
			c->idle = 1;
			S.nidle++;
			if (S.nidle > S.idle_max)
				S.idle_max = S.nidle;
			return 0;
		}
		SEND_LIT(c, "MAIL FROM:<bench@" HELO_NAME ">\r\n", S_MAIL);
		return 0;
	case S_MAIL:
		SEND_LIT(c, "RCPT TO:<sink@backend.lab.example>\r\n", S_RCPT);
		return 0;
	case S_RCPT:
		SEND_LIT(c, "DATA\r\n", S_DATA);
		return 0;
	case S_DATA:
		conn_send(c, S.msg, S.msg_len, S_DOT);
		return 0;
	case S_DOT:
		c->t_250 = now_ns();
		SEND_LIT(c, "QUIT\r\n", S_QUIT);
		return 0;
	case S_QUIT:
		if (c->tls && c->ssl != NULL) {
			/* close_notify, as MTAs send it after QUIT: a server may wait for it */
			SSL_shutdown(c->ssl);
			ERR_clear_error();
		}
		c->st = S_EOF;
		c->deadline = now_ns() + (uint64_t)S.o.timeout_ms * 1000000ull;
		return 0;
	default:
		conn_fail(c, E_smtp_reply, "reply in an unexpected state");
		return -1;
	}
}

/*
 * A complete reply at the head of rbuf? Returns its code and consumes it
 * (1), 0 if incomplete, -1 if malformed (c failed).
 */
static int take_reply(struct conn *c, int *code, char *text, size_t textlen)
{
	const char *why = NULL;
	int r = mx_take_reply(c->rbuf, &c->rlen, code, text, textlen, &why);

	if (r < 0) {
		conn_fail(c, E_smtp_reply, why);
		S.codes[0]++;
	}
	return r;
}

/* Read what is there: >0 bytes, 0 end of stream, -1 nothing now, -2 error (c failed). */
static long conn_read(struct conn *c, char *buf, size_t len)
{
	if (c->tls && !c->tls_eof) {
		int r = SSL_read(c->ssl, buf, (int)len), e;

		if (r > 0)
			return r;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return -1;
		if (e == SSL_ERROR_ZERO_RETURN) {
			c->tls_eof = 1;      /* close_notify: the TCP FIN follows */
			return 0;
		}
		if (e == SSL_ERROR_SYSCALL && r == 0 && ERR_peek_error() == 0)
			return 0;            /* TCP end of stream without close_notify */
		{
			char why[160];

			snprintf(why, sizeof(why), "SSL_read: %s",
				 ERR_reason_error_string(ERR_peek_last_error()) ?
				 ERR_reason_error_string(ERR_peek_last_error()) : strerror(errno));
			conn_fail(c, e == SSL_ERROR_SYSCALL ? E_closed : E_tls, why);
		}
		return -2;
	}
	for (;;) {
		ssize_t n = recv(c->fd, buf, len, 0);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -1;
		conn_fail(c, E_closed, strerror(errno));
		return -2;
	}
}

/* Send pending output: 1 all sent, 0 blocked, -1 c failed. */
static int conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		size_t left = c->out_len - c->out_off;

		if (c->tls) {
			int r = SSL_write(c->ssl, c->out + c->out_off, (int)left), e;

			if (r > 0) {
				c->out_off += (size_t)r;
				continue;
			}
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
				return 0;
			conn_fail(c, e == SSL_ERROR_SYSCALL ? E_closed : E_tls, "SSL_write failed");
			return -1;
		} else {
			ssize_t n = send(c->fd, c->out + c->out_off, left, MSG_NOSIGNAL);

			if (n > 0) {
				c->out_off += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return 0;
			conn_fail(c, E_closed, n < 0 ? strerror(errno) : "send returned 0");
			return -1;
		}
	}
	c->out = NULL;
	c->out_len = c->out_off = 0;
	return 1;
}

/* One step of a session: 1 progress, 0 blocked, -1 the session ended. */
static int conn_step(struct conn *c, uint32_t events)
{
	char text[128];
	int code, r;
	long n;

	if (c->st == S_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return 0;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
			err = errno;
		if (err == EINPROGRESS)
			return 0;
		if (err != 0) {
			conn_fail(c, E_connect, strerror(err));
			return -1;
		}
		if (S.o.implicit_tls)
			return tls_start(c) == 0 ? 1 : -1;
		c->st = S_GREETING;
		c->deadline = now_ns() + (uint64_t)S.o.timeout_ms * 1000000ull;
		return 1;
	}
	if (c->out != NULL) {
		r = conn_flush(c);
		return r;                  /* 1: sent, go on; 0: wait for EPOLLOUT */
	}
	switch (c->st) {
	case S_HANDSHAKE:
		r = SSL_do_handshake(c->ssl);
		if (r == 1) {
			tls_done(c);
			return 1;
		}
		r = SSL_get_error(c->ssl, r);
		if (r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE)
			return 0;
		{
			unsigned long e = ERR_peek_last_error();
			char why[160];

			snprintf(why, sizeof(why), "handshake: %s", e ? ERR_reason_error_string(e) :
				 r == SSL_ERROR_SYSCALL ? "connection closed" : "error");
			conn_fail(c, E_tls, why);
		}
		return -1;
	case S_EOF:
		n = conn_read(c, c->rbuf, sizeof(c->rbuf));
		if (n == 0 && c->tls && c->tls_eof && c->ssl != NULL) {
			/* close_notify read; now wait for the FIN on the socket itself */
			SSL_free(c->ssl);
			c->ssl = NULL;
			return 1;
		}
		if (n == 0) {
			conn_done(c);
			return -1;
		}
		return n == -2 ? -1 : n > 0 ? 1 : 0;     /* bytes after 221: ignored */
	case S_IDLE:
		n = conn_read(c, c->rbuf + c->rlen, RBUF - c->rlen);
		if (n == -2)
			return -1;
		if (n == 0) {
			conn_fail(c, E_closed, "closed by the server while idle");
			return -1;
		}
		if (n < 0)
			return 0;
		c->rlen += (size_t)n;
		r = take_reply(c, &code, text, sizeof(text));
		if (r < 0)
			return -1;
		if (r > 0) {
			on_reply(c, code, text, strlen(text));   /* unexpected: fails the session */
			return -1;
		}
		return 1;
	default:
		break;
	}
	/* a state that waits for a reply */
	r = take_reply(c, &code, text, sizeof(text));
	if (r < 0)
		return -1;
	if (r > 0)
		return on_reply(c, code, text, strlen(text)) < 0 ? -1 : 1;
	n = conn_read(c, c->rbuf + c->rlen, RBUF - c->rlen);
	if (n == -2)
		return -1;
	if (n == 0) {
		conn_fail(c, E_closed, "closed by the server");
		return -1;
	}
	if (n < 0)
		return 0;
	c->rlen += (size_t)n;
	return 1;
}

/* Drive a session after an event until it blocks or ends (bounded). */
static void conn_drive(struct conn *c, uint32_t events)
{
	for (unsigned i = 0; i < STEP_LIMIT && c->st != S_FREE; i++) {
		if (conn_step(c, events) <= 0)
			return;
		events = 0;
	}
}

/* Fail every session whose step is overdue. */
static void scan_deadlines(uint64_t now)
{
	for (unsigned i = 0; i < S.o.concurrency; i++) {
		struct conn *c = &S.c[i];

		if (c->st != S_FREE && c->deadline && now > c->deadline) {
			char why[64];

			snprintf(why, sizeof(why), "no progress in %u ms", S.o.timeout_ms);
			conn_fail(c, E_timeout, why);
		}
	}
}

/* Abort every session still open (drain or set-up over): timeouts. */
static void abort_all(const char *why)
{
	for (unsigned i = 0; i < S.o.concurrency; i++)
		if (S.c[i].st != S_FREE)
			conn_fail(&S.c[i], E_timeout, why);
}

/* smtp-idle: every idle session says QUIT now. */
static void release_idle(void)
{
	for (unsigned i = 0; i < S.o.concurrency; i++) {
		struct conn *c = &S.c[i];

		if (c->st != S_IDLE)
			continue;
		c->idle = 0;
		S.nidle--;
		SEND_LIT(c, "QUIT\r\n", S_QUIT);
		conn_drive(c, 0);
	}
}

/* ---------------------------------------------------------------- */
/* the run                                                           */
/* ---------------------------------------------------------------- */

/* Start what the phase allows. */
static void start_sessions(uint64_t now)
{
	unsigned n = 0;

	if (quit || now < S.next_start_ok)
		return;
	if (S.o.rate > 0 && S.phase == PH_RUN) {
		while (n < START_BURST && pace_due(&S.pace, now, S.o.count)) {
			if (S.nfree == 0) {
				pace_missed(&S.pace);   /* every slot in flight: not started */
				continue;
			}
			if (conn_start() != 0) {
				S.next_start_ok = now + 10000000ull;   /* back off 10 ms */
				return;
			}
			pace_started(&S.pace, now);
			n++;
		}
		return;
	}
	while (S.nfree > 0 && n < START_BURST) {
		if (S.phase == PH_RUN) {
			if (S.o.count && S.started >= S.o.count)
				return;
		} else if (S.phase == PH_SETUP) {
			if (S.started >= S.o.concurrency || S.active - S.nidle >= S.o.ramp)
				return;
		} else {
			return;
		}
		if (conn_start() != 0) {
			S.next_start_ok = now + 10000000ull;   /* back off 10 ms */
			return;
		}
		n++;
	}
}

/* epoll_wait's timeout: POLL_MS, or less when a paced start is due sooner. */
static int poll_ms(uint64_t now)
{
	uint64_t due;

	if (S.o.rate <= 0 || S.phase != PH_RUN || pace_all_scheduled(&S.pace, S.o.count))
		return POLL_MS;
	due = pace_due_at(&S.pace);
	if (due <= now)
		return 1;           /* still due after start_sessions(): backing off, or a burst */
	due = (due - now + 999999) / 1000000;
	return due < POLL_MS ? (int)due : POLL_MS;
}

/* Close the measuring window now. */
static void window_close(uint64_t now)
{
	if (S.t_win1 == 0) {
		S.t_win1 = now;
		getrusage(RUSAGE_SELF, &S.ru1);
	}
}

/* Move between phases. */
static void phase_step(uint64_t now)
{
	switch (S.phase) {
	case PH_RUN:
		if (quit || now >= S.t_win0 + (uint64_t)(S.o.duration * 1e9) ||
		    ((S.o.rate > 0 ? pace_all_scheduled(&S.pace, S.o.count) :
				     S.o.count && S.started >= S.o.count) && S.active == 0)) {
			window_close(now);
			S.phase = PH_DRAIN;
			S.phase_end = now + DRAIN_MS * 1000000ull;
		}
		break;
	case PH_DRAIN:
	case PH_RELEASE:
		if (S.active == 0) {
			S.phase = PH_DONE;
		} else if (now >= S.phase_end || quit > 1) {
			abort_all(S.phase == PH_DRAIN ? "still open when the drain time ended"
						      : "no answer to QUIT in time");
			S.phase = PH_DONE;
		}
		break;
	case PH_SETUP:
		if (quit || now >= S.phase_end ||
		    (S.started >= S.o.concurrency && S.active == S.nidle)) {
			window_close(now);
			if (S.active != S.nidle) {
				for (unsigned i = 0; i < S.o.concurrency; i++)
					if (S.c[i].st != S_FREE && S.c[i].st != S_IDLE)
						conn_fail(&S.c[i], E_timeout, "set-up time over");
			}
			fprintf(stderr, "%s: idle: %u sessions idle (%llu failed), holding %.1f s\n",
				prog, S.nidle, (unsigned long long)total_errors(), S.o.duration);
			fflush(stderr);
			S.phase = PH_HOLD;
			S.phase_end = now + (uint64_t)(S.o.duration * 1e9);
		}
		break;
	case PH_HOLD:
		if (quit || now >= S.phase_end) {
			fprintf(stderr, "%s: releasing %u idle sessions (QUIT)\n", prog, S.nidle);
			release_idle();
			S.phase = PH_RELEASE;
			S.phase_end = now_ns() + DRAIN_MS * 1000000ull;
		}
		break;
	default:
		break;
	}
}

/* One progress line on stderr. */
static void progress(uint64_t now, double dt)
{
	static uint64_t last_s, last_h;

	fprintf(stderr, "%s: %6.1fs %-7s sessions/s=%.0f hs/s=%.0f sessions=%llu handshakes=%llu "
		"active=%u idle=%u errors=%llu", prog, (double)(now - S.t_start) / 1e9,
		phase_names[S.phase], dt > 0 ? (double)(S.sessions - last_s) / dt : 0.0,
		dt > 0 ? (double)(S.handshakes - last_h) / dt : 0.0,
		(unsigned long long)S.sessions, (unsigned long long)S.handshakes, S.active, S.nidle,
		(unsigned long long)total_errors());
	if (total_errors()) {
		fputs(" (", stderr);
		for (unsigned i = 0, k = 0; i < E__MAX; i++)
			if (S.errors[i])
				fprintf(stderr, "%s%s=%llu", k++ ? " " : "", err_names[i],
					(unsigned long long)S.errors[i]);
		fputc(')', stderr);
	}
	fputc('\n', stderr);
	last_s = S.sessions;
	last_h = S.handshakes;
}

/* CPU seconds (user + system) between two rusages. */
static double cpu_s(const struct rusage *a, const struct rusage *b)
{
	return (double)(b->ru_utime.tv_sec - a->ru_utime.tv_sec) +
	       (double)(b->ru_utime.tv_usec - a->ru_utime.tv_usec) / 1e6 +
	       (double)(b->ru_stime.tv_sec - a->ru_stime.tv_sec) +
	       (double)(b->ru_stime.tv_usec - a->ru_stime.tv_usec) / 1e6;
}

/* The summary line on stdout, and unexpected reply codes on stderr. */
static void summary(void)
{
	double win = S.t_win1 > S.t_win0 ? (double)(S.t_win1 - S.t_win0) / 1e9 : 0;

	/* smtp-idle: no session ends inside its window (set-up); count them all */
	if (S.o.mode == M_IDLE)
		S.sessions_win = S.sessions;
	printf("mxgen %s: sessions=%llu sessions_per_s=%.1f handshakes=%llu handshakes_per_s=%.1f "
	       "p50_us=%.0f p99_us=%.0f hs_p50_us=%.0f hs_p99_us=%.0f",
	       mode_names[S.o.mode], (unsigned long long)S.sessions_win,
	       win > 0 && S.o.mode != M_IDLE ? (double)S.sessions_win / win : 0.0,
	       (unsigned long long)S.handshakes_win,
	       win > 0 ? (double)S.handshakes_win / win : 0.0,
	       hist_quantile(&S.h_sess, 0.50) / 1e3, hist_quantile(&S.h_sess, 0.99) / 1e3,
	       hist_quantile(&S.h_hs, 0.50) / 1e3, hist_quantile(&S.h_hs, 0.99) / 1e3);
	printf(" errors=%llu", (unsigned long long)total_errors());
	for (unsigned i = 0; i < E__MAX; i++)
		printf(" %s=%llu", err_names[i], (unsigned long long)S.errors[i]);
	printf(" window_s=%.3f cpu_s=%.3f sessions_total=%llu handshakes_total=%llu started=%llu",
	       win, cpu_s(&S.ru0, &S.ru1), (unsigned long long)S.sessions,
	       (unsigned long long)S.handshakes, (unsigned long long)S.started);
	if (S.o.mode == M_IDLE)
		printf(" idle_max=%u", S.idle_max);
	printf(" version=%s cipher=%s group=%s sigalg=%s", S.version[0] ? S.version : "-",
	       S.cipher[0] ? S.cipher : "-", S.group[0] ? S.group : "-",
	       S.sigalg[0] ? S.sigalg : "-");
	pace_words(stdout, &S.pace, &S.lat_tls, &S.lat_250);
	putchar('\n');
	fflush(stdout);
	for (unsigned i = 0; i < 600; i++)
		if (S.codes[i])
			fprintf(stderr, "%s: unexpected reply %u x%llu%s%s\n", prog, i,
				(unsigned long long)S.codes[i], S.code_text[i][0] ? ": " : "",
				S.code_text[i]);
}

static void on_signal(int sig)
{
	(void)sig;
	if (quit < 2)
		quit++;
}

/* Last resort (SIGALRM, both of mxgen's loops): the run did not stop within its time cap. */
void mxgen_watchdog(int sig)
{
	static const char msg[] = "mxgen: watchdog: the run overran its hard time cap\n";
	ssize_t r;

	(void)sig;
	r = write(2, msg, sizeof(msg) - 1);
	(void)r;
	_exit(4);
}

/* ---------------------------------------------------------------- */
/* command line                                                      */
/* ---------------------------------------------------------------- */

void smtp_kernel_usage(FILE *f, const char *p)
{
	fprintf(f,
		"usage: %s smtp|smtp-handshake|smtp-idle --server IP --port 25|465 [options]\n"
		"  (kernel sockets, epoll, BoringSSL; no EAL options)\n"
		"  smtp            greeting, EHLO, STARTTLS, handshake, EHLO, MAIL, RCPT, DATA, QUIT\n"
		"  smtp-handshake  greeting, EHLO, STARTTLS, handshake, QUIT (465: handshake, greeting, QUIT)\n"
		"  smtp-idle       --concurrency sessions do STARTTLS and EHLO, stay idle --duration s, QUIT\n"
		"options:\n"
		"  --server IP         198.18.0.0/15 or 127.0.0.1 (numbers only)\n"
		"  --port P            25 or 587 (STARTTLS), 465 (TLS from the first byte)\n"
		"  --concurrency N     sessions in flight (idle: sessions held) [64]\n"
		"  --count N           start at most N sessions [no limit]\n"
		"  --duration S        run window in seconds (idle: hold time) [10]\n"
		"  --tls-version V     1.2 or 1.3 (exactly that version) [1.3]\n"
		"  --cpu C             pin the process to CPU C\n"
		"  --size B            message body bytes (smtp) [512]\n"
		"  --timeout-ms N      longest wait for any one step of a session [10000]\n"
		"  --ramp N            idle: sessions in set-up at once [256]\n"
		"  --setup-s S         idle: set-up phase bound [120]\n"
		"  --sni NAME          server name sent in the ClientHello [mx.lab.example]\n"
		"  --plain 0|1         smtp: 1 = no STARTTLS, the session in clear text [0]\n"
		"  --rate R[/s]        open loop: start R sessions per second, at most --concurrency\n"
		"                      in flight (a due session beyond that is missed) [closed loop]\n"
		"Output: a progress line per second on stderr, one summary line on stdout.\n"
		"Exit: 0, 1 set-up failure, 2 usage, 3 the run had errors, 4 watchdog.\n", p);
}


/* Seconds in (0, hi], or exit 2. */
static double seconds(const char *name, const char *s, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !(v > 0) || v > hi) {
		fprintf(stderr, "%s: %s: '%s' is not seconds in (0, %g]\n", prog, name, s, hi);
		exit(2);
	}
	return v;
}

int smtp_kernel_is_mode(const char *name)
{
	for (unsigned i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (name != NULL && strcmp(name, mode_names[i]) == 0)
			return 1;
	return 0;
}

/* Fill o from argv (argv[0] = mode); exits 2 on anything wrong. */
static void parse(int argc, char **argv, struct sk_opts *o)
{
	int have_server = 0, have_port = 0;
	unsigned m;

	memset(o, 0, sizeof(*o));
	o->concurrency = 64;
	o->duration = 10;
	o->tls_version = TLS1_3_VERSION;
	o->cpu = -1;
	o->size = 512;
	o->timeout_ms = 10000;
	o->ramp = 256;
	o->setup_s = 120;
	o->sni = "mx.lab.example";
	for (m = 0; m < sizeof(mode_names) / sizeof(mode_names[0]); m++)
		if (!strcmp(argv[0], mode_names[m]))
			o->mode = (enum sk_mode)m;
	for (int i = 1; i < argc; i += 2) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(k, "-h") || !strcmp(k, "--help")) {
			smtp_kernel_usage(stdout, prog);
			exit(0);
		}
		if (v == NULL) {
			fprintf(stderr, "%s: option %s needs a value\n", prog, k);
			exit(2);
		}
		if (!strcmp(k, "--server")) {
			struct in_addr a;
			uint32_t h;

			if (inet_pton(AF_INET, v, &a) != 1) {
				fprintf(stderr, "%s: --server: '%s' is not an IPv4 address (numbers only, "
					"no names)\n", prog, v);
				exit(2);
			}
			h = ntohl(a.s_addr);
			if ((h & 0xfffe0000u) != 0xc6120000u && h != 0x7f000001u) {
				fprintf(stderr, "%s: --server: %s is outside 198.18.0.0/15 and is not "
					"127.0.0.1: refused\n", prog, v);
				exit(2);
			}
			o->sa.sin_family = AF_INET;
			o->sa.sin_addr = a;
			snprintf(o->server, sizeof(o->server), "%s", v);
			have_server = 1;
		} else if (!strcmp(k, "--port")) {
			o->port = (unsigned)opt_num(prog, k, v, 1, 65535);
			have_port = 1;
		} else if (!strcmp(k, "--concurrency")) {
			o->concurrency = (unsigned)opt_num(prog, k, v, 1, MAX_CONCURRENCY);
		} else if (!strcmp(k, "--count")) {
			o->count = opt_num(prog, k, v, 1, UINT64_MAX / 2);
		} else if (!strcmp(k, "--duration")) {
			o->duration = seconds(k, v, 86400);
		} else if (!strcmp(k, "--tls-version")) {
			if (!strcmp(v, "1.3"))
				o->tls_version = TLS1_3_VERSION;
			else if (!strcmp(v, "1.2"))
				o->tls_version = TLS1_2_VERSION;
			else {
				fprintf(stderr, "%s: --tls-version: 1.2 or 1.3, not '%s'\n", prog, v);
				exit(2);
			}
		} else if (!strcmp(k, "--cpu")) {
			o->cpu = (int)opt_num(prog, k, v, 0, CPU_SETSIZE - 1);
		} else if (!strcmp(k, "--size")) {
			o->size = (unsigned)opt_num(prog, k, v, 0, 10000000);
		} else if (!strcmp(k, "--timeout-ms")) {
			o->timeout_ms = (unsigned)opt_num(prog, k, v, 100, 600000);
		} else if (!strcmp(k, "--ramp")) {
			o->ramp = (unsigned)opt_num(prog, k, v, 1, MAX_CONCURRENCY);
		} else if (!strcmp(k, "--setup-s")) {
			o->setup_s = seconds(k, v, 3600);
		} else if (!strcmp(k, "--sni")) {
			o->sni = v;
		} else if (!strcmp(k, "--rate")) {
			o->rate = pace_rate_opt(prog, v);
		} else if (!strcmp(k, "--plain")) {
			o->plain = (int)opt_num(prog, k, v, 0, 1);
		} else {
			fprintf(stderr, "%s: unknown option %s\n", prog, k);
			smtp_kernel_usage(stderr, prog);
			exit(2);
		}
	}
	if (!have_server || !have_port) {
		fprintf(stderr, "%s: --server and --port are required\n", prog);
		exit(2);
	}
	o->sa.sin_port = htons((uint16_t)o->port);
	o->implicit_tls = o->port == 465;
	if (o->rate > 0 && o->mode == M_IDLE) {
		fprintf(stderr, "%s: --rate is for smtp and smtp-handshake\n", prog);
		exit(2);
	}
	if (o->plain && (o->mode != M_SMTP || o->implicit_tls)) {
		fprintf(stderr, "%s: --plain 1 is for the smtp mode on a STARTTLS port\n", prog);
		exit(2);
	}
}

/* Enough descriptors for the sessions (raises the soft limit if it can). */
static int fd_limit(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		fprintf(stderr, "%s: %u sessions need %u descriptors; the hard limit is %llu "
			"(ulimit -n)\n", prog, S.o.concurrency, need, (unsigned long long)rl.rlim_max);
		return -1;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

int smtp_kernel_main(int argc, char **argv)
{
	struct epoll_event evs[EPOLL_BATCH];
	uint64_t t_last;
	unsigned cap_s;

	parse(argc, argv, &S.o);
	if (S.o.cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(S.o.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0) {
			fprintf(stderr, "%s: cannot pin to CPU %d: %s\n", prog, S.o.cpu, strerror(errno));
			return 1;
		}
	}
	if (fd_limit(S.o.concurrency + 64) != 0) {
		fprintf(stderr, "%s: cannot raise the descriptor limit for %u sessions\n", prog,
			S.o.concurrency);
		return 1;
	}
	S.ctx = SSL_CTX_new(TLS_method());
	if (S.ctx == NULL ||
	    !SSL_CTX_set_min_proto_version(S.ctx, (uint16_t)S.o.tls_version) ||
	    !SSL_CTX_set_max_proto_version(S.ctx, (uint16_t)S.o.tls_version)) {
		fprintf(stderr, "%s: cannot create the TLS context\n", prog);
		return 1;
	}
	SSL_CTX_set_verify(S.ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(S.ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(S.ctx, SSL_OP_NO_TICKET);
	S.c = calloc(S.o.concurrency, sizeof(*S.c));
	S.free_stack = calloc(S.o.concurrency, sizeof(*S.free_stack));
	if (S.c == NULL || S.free_stack == NULL || (S.msg = mx_body("From: <bench@" HELO_NAME ">\r\n"
					"To: <sink@backend.lab.example>\r\n"
					"Subject: mxgen\r\n\r\n", S.o.size, &S.msg_len)) == NULL) {
		fprintf(stderr, "%s: out of memory for %u sessions\n", prog, S.o.concurrency);
		return 1;
	}
	for (unsigned i = S.o.concurrency; i-- > 0;) {
		S.c[i].fd = -1;
		S.free_stack[S.nfree++] = i;
	}
	S.ep = epoll_create1(EPOLL_CLOEXEC);
	if (S.ep < 0) {
		fprintf(stderr, "%s: epoll_create1: %s\n", prog, strerror(errno));
		return 1;
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, mxgen_watchdog);
	cap_s = (unsigned)(S.o.duration + (S.o.mode == M_IDLE ? S.o.setup_s : 0) +
			   2 * DRAIN_MS / 1000 + S.o.timeout_ms / 1000 + WATCHDOG_SLACK_S);
	alarm(cap_s);

	fprintf(stderr, "%s: %s to %s port %u (%s), %u %s, %s%.1f s, TLS %s, CPU %d\n", prog,
		mode_names[S.o.mode], S.o.server, S.o.port,
		S.o.implicit_tls ? "TLS" : S.o.plain ? "plain" : "STARTTLS",
		S.o.concurrency, S.o.mode == M_IDLE ? "sessions" : "in flight",
		S.o.mode == M_IDLE ? "hold " : "", S.o.duration,
		S.o.tls_version == TLS1_3_VERSION ? "1.3" : "1.2", S.o.cpu >= 0 ? S.o.cpu : -1);

	S.t_start = S.t_win0 = t_last = now_ns();
	S.next_scan = S.t_start + TIMER_SCAN_NS;
	getrusage(RUSAGE_SELF, &S.ru0);
	if (S.o.mode == M_IDLE) {
		S.phase = PH_SETUP;
		S.phase_end = S.t_start + (uint64_t)(S.o.setup_s * 1e9);
	} else {
		S.phase = PH_RUN;
		S.pace.rate = S.o.rate;
		pace_begin(&S.pace, S.t_win0);
	}
	while (S.phase != PH_DONE) {
		uint64_t now = now_ns();
		int n;

		start_sessions(now);
		n = epoll_wait(S.ep, evs, EPOLL_BATCH, poll_ms(now));
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "%s: epoll_wait: %s\n", prog, strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			unsigned idx = (unsigned)(evs[i].data.u64 & 0xffffffffu);
			struct conn *c = &S.c[idx];

			if (c->st == S_FREE || c->gen != (uint32_t)(evs[i].data.u64 >> 32))
				continue;    /* ended earlier in this batch */
			conn_drive(c, evs[i].events);
		}
		now = now_ns();
		if (now >= S.next_scan) {
			scan_deadlines(now);
			S.next_scan = now + TIMER_SCAN_NS;
		}
		phase_step(now);
		if (now - t_last >= 1000000000ull) {
			progress(now, (double)(now - t_last) / 1e9);
			t_last = now;
		}
	}
	window_close(now_ns());
	alarm(0);
	summary();
	for (unsigned i = 0; i < S.o.concurrency; i++)
		if (S.c[i].st != S_FREE)
			conn_release(&S.c[i]);
	close(S.ep);
	SSL_CTX_free(S.ctx);
	free(S.msg);
	free(S.c);
	free(S.free_stack);
	return total_errors() ? 3 : 0;
}
