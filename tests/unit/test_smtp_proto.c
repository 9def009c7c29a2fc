/*
 * test_smtp_proto.c - unit tests of dataplane/smtp/smtp_proto.c written as
 * transcripts (Postfix .in/.ref, OpenSMTPD smtpscript): a small driver plays
 * the session, feeding a client script in exact byte chunks, answering owed
 * events from a scripted backend MTA and writing everything into one text:
 * the engine's replies as lines, its events as "#EVENT ..." lines. Each
 * test compares that text with the expected one. Scripts are also replayed
 * split at every byte position, and random input in random chunks checks
 * that the engine never overflows, never consumes more than it was given,
 * and never ends DATA on anything but CRLF.CRLF.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/smtp/smtp_proto.h"
#include "common/spare.h"
#include "t.h"

#define HOST     "mx.example"
#define RXQ_MAX  (1 << 17)
#define TR_MAX   (1 << 18)

/* A failure-only check: loops use it so that passes are not counted by the thousand. */
#define QCHECK(c) do { if (!(c)) CHECK(c); } while (0)

#define EHLO_REPLY_TLS \
	"250-" HOST "\n250-PIPELINING\n250-SIZE 10485760\n250-8BITMIME\n" \
	"250-ENHANCEDSTATUSCODES\n250-SMTPUTF8\n250 STARTTLS\n"
#define EHLO_REPLY_NOTLS \
	"250-" HOST "\n250-PIPELINING\n250-SIZE 10485760\n250-8BITMIME\n" \
	"250-ENHANCEDSTATUSCODES\n250 SMTPUTF8\n"
#define GREETING "220 " HOST " ESMTP\n"
#define BACKEND_354 "354 End data with <CR><LF>.<CR><LF>\n"
#define BACKEND_QUEUED "250 2.0.0 Ok: queued as 4F2A1\n"

/* The session as the tests play it. */
struct drv {
	struct smtp_cfg cfg;
	struct smtp_proto p;
	size_t rxlen;
	size_t trlen;
	int closed;			/* QUIT or CLOSE seen */
	int hold;			/* leave owed events unanswered */
	int no_drain;			/* the client reads nothing: output stays queued */
	const char *data_answer;	/* the backend's answer to DATA (default 354) */
	const char *end_answer;		/* ... to the end of DATA (default 250) */
	unsigned auth_454;		/* answer the next this many AUTH with 454 (no check made) */
	uint8_t tail[5];		/* the last octets the engine used */
	int mid_line;			/* the client read part of a reply line */
	size_t arg_len;			/* the last MAIL/RCPT path's length */
	/* big buffers last: setup() clears only what comes before them */
	uint8_t rxq[RXQ_MAX];		/* received, not yet used by the engine */
	char tr[TR_MAX];		/* the transcript */
};

static struct drv D;

static const char *const ev_names[] = {
	"NEED_INPUT", "WAIT", "HELO", "STARTTLS", "MAIL", "RCPT", "DATA", "LINE", "END",
	"AUTH", "RSET", "QUIT", "CLOSE",
};

static const char *const why_names[] = {
	"OK", "LINE_TOO_LONG", "BARE_NEWLINE", "TOO_MANY_ERRORS", "TOO_BIG", "TOO_MANY_RCPTS",
	"PIPELINED_STARTTLS", "AUTH_FAILURES", "NON_SMTP", "NUL", "NO_MEMORY", "UTF8_UNDECLARED",
};
_Static_assert(sizeof(why_names) / sizeof(why_names[0]) == SMTP_R_MAX, "why_names");

/* ---- the driver ---- */

/* Append to the transcript. */
static void tr_add(struct drv *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tr_add(struct drv *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(d->tr + d->trlen, TR_MAX - d->trlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		d->trlen += (size_t)n < TR_MAX - d->trlen ? (size_t)n : TR_MAX - d->trlen - 1;
}

/* Send all output: into the transcript, CRLF as "\n"; a bare CR or LF shows as <BAD>. */
static void drain(struct drv *d)
{
	size_t len, i;
	const char *out = smtp_proto_output(&d->p, &len);

	QCHECK(len <= SMTP_OUT_MAX);
	for (i = 0; i < len; i++) {
		if (out[i] == '\r' && i + 1 < len && out[i + 1] == '\n') {
			tr_add(d, "\n");
			i++;
		} else if (out[i] == '\r' || out[i] == '\n') {
			tr_add(d, "<BAD>");
		} else {
			tr_add(d, "%c", out[i]);
		}
	}
	QCHECK(len == 0 || (len >= 2 && out[len - 2] == '\r' && out[len - 1] == '\n'));
	smtp_proto_output_done(&d->p, len);
}

/* A fresh session with the test configuration. */
static void setup(enum smtp_mode mode, int tls_available)
{
	smtp_proto_free(&D.p);
	memset(&D, 0, offsetof(struct drv, rxq));
	D.tr[0] = '\0';
	D.cfg.hostname = HOST;
	D.cfg.mode = mode;
	D.cfg.tls_available = tls_available;
	D.cfg.size_limit = 10485760;
	D.cfg.max_rcpts = 100;
	D.cfg.max_errors = 100;
	smtp_proto_init(&D.p, &D.cfg, 0);
	drain(&D);
}

/* The scripted backend MTA's reply to an owed event. */
static const char *backend(struct drv *d, int owed, const char *arg)
{
	switch (owed) {
	case SMTP_EV_MAIL:
		return strncmp(arg, "tempfail", 8) == 0 ? "451 4.3.0 Error: queue file write error\r\n"
							: "250 2.1.0 Ok\r\n";
	case SMTP_EV_RCPT:
		return strncmp(arg, "unknown", 7) == 0 ? "550 5.1.1 Recipient address rejected: User unknown\r\n"
						       : "250 2.1.5 Ok\r\n";
	case SMTP_EV_DATA:
		return d->data_answer ? d->data_answer : "354 End data with <CR><LF>.<CR><LF>\r\n";
	case SMTP_EV_AUTH:
		if (d->auth_454) {
			d->auth_454--;
			return "454 4.7.0 Temporary authentication failure: another authentication in progress\r\n";
		}
		return strcmp(arg, "alice") == 0 && d->p.wk->params[0] == 's' ?
		       "235 2.7.0 Authentication successful\r\n" :
		       "535 5.7.8 Error: authentication failed: authentication failure\r\n";
	default:
		return d->end_answer ? d->end_answer : "250 2.0.0 Ok: queued as 4F2A1\r\n";
	}
}

/* Answer whatever is owed with the backend's reply. */
static void answer(struct drv *d)
{
	const char *r = backend(d, d->p.owed, d->p.owed == SMTP_EV_AUTH ? d->p.wk->arg : smtp_proto_arg(&d->p));

	QCHECK(d->p.owed != 0);
	QCHECK(smtp_proto_answer(&d->p, r, strlen(r)) == 0);
}

/* ev.arg of the last SMTP_R_BARE_NEWLINE close: which bare ending it was. */
static char last_bare[4];

/* Write an event into the transcript. */
static void record(struct drv *d, enum smtp_ev e, const struct smtp_evinfo *ev, size_t used)
{
	size_t i;

	switch (e) {
	case SMTP_EV_HELO:
		tr_add(d, "#HELO %s\n", ev->arg);
		break;
	case SMTP_EV_MAIL:
	case SMTP_EV_RCPT:
		tr_add(d, "#%s <%s>%s%s\n", ev_names[e], ev->arg, ev->params[0] ? " " : "", ev->params);
		d->arg_len = strlen(ev->arg);
		break;
	case SMTP_EV_DATA_LINE:
		if (ev->len < 2 || ev->data[ev->len - 2] != '\r' || ev->data[ev->len - 1] != '\n') {
			/* a part of a longer line: the buffer's worth, a dot more when stuffed */
			QCHECK(ev->len == SMTP_TEXT_MAX - 2 || (ev->len == SMTP_TEXT_MAX - 1 && ev->data[0] == '.'));
			QCHECK(memchr(ev->data, '\r', ev->len) == NULL && memchr(ev->data, '\n', ev->len) == NULL);
			if (used >= ev->len)
				QCHECK(memcmp(d->rxq + used - ev->len, ev->data, ev->len) == 0);
			tr_add(d, "#PART [%zu octets]\n", ev->len);
			break;
		}
		QCHECK(ev->len <= SMTP_TEXT_MAX + 1);
		for (i = 0; i + 2 < ev->len; i++)
			QCHECK(ev->data[i] != '\r' && ev->data[i] != '\n');
		/* exactly the bytes received, when the whole line came in this buffer */
		if (used >= ev->len)
			QCHECK(memcmp(d->rxq + used - ev->len, ev->data, ev->len) == 0);
		if (ev->len > 80) {
			tr_add(d, "#LINE [%zu octets]\n", ev->len);
			break;
		}
		tr_add(d, "#LINE ");
		for (i = 0; i + 2 < ev->len; i++) {
			if (ev->data[i] >= 0x20 && ev->data[i] < 0x7f && ev->data[i] != '\\')
				tr_add(d, "%c", ev->data[i]);
			else
				tr_add(d, "\\x%02x", ev->data[i]);
		}
		tr_add(d, "\n");
		break;
	case SMTP_EV_DATA_END:
	case SMTP_EV_CLOSE:
		if (ev->error == SMTP_R_BARE_NEWLINE)
			snprintf(last_bare, sizeof(last_bare), "%s", ev->arg);
		if (ev->error != SMTP_OK)
			tr_add(d, "#%s %s\n", ev_names[e], why_names[ev->error]);
		else
			tr_add(d, "#%s\n", ev_names[e]);
		break;
	case SMTP_EV_STARTTLS:
		tr_add(d, "#STARTTLS discarded=%zu\n", d->rxlen - used);
		break;
	case SMTP_EV_AUTH:
		tr_add(d, "#AUTH%s %s %.*s\n", ev->auth_malformed ? "(malformed)" : "", ev->arg, (int)ev->len,
		       (const char *)ev->data);
		break;
	case SMTP_EV_NEED_INPUT:
	case SMTP_EV_WAIT:
		break;
	default:
		tr_add(d, "#%s\n", ev_names[e]);
		break;
	}
}

/* Run the engine over the receive queue until it needs input or an answer. */
static void pump_events(struct drv *d)
{
	while (!d->closed) {
		struct smtp_evinfo ev;
		size_t used = (size_t)-1, out_before = d->p.out_len;
		enum smtp_ev e = smtp_proto_input(&d->p, d->rxq, d->rxlen, &used, &ev);

		QCHECK(used <= d->rxlen);
		if (used > d->rxlen)
			used = d->rxlen;
		QCHECK(d->p.out_len <= SMTP_OUT_MAX);
		if (!d->no_drain)
			drain(d);
		record(d, e, &ev, used);
		if (e == SMTP_EV_STARTTLS) {
			/* CVE-2011-0411: the session drops what came after the command */
			d->rxlen = 0;
			smtp_proto_tls_started(&d->p);
			tr_add(d, "#TLS\n");
			continue;
		}
		memmove(d->rxq, d->rxq + used, d->rxlen - used);
		d->rxlen -= used;
		switch (e) {
		case SMTP_EV_NEED_INPUT:
			if (d->rxlen == 0 || d->no_drain || (used == 0 && out_before == 0))
				return;
			break;
		case SMTP_EV_WAIT:
			QCHECK(used == 0 && d->p.owed != 0);
			if (d->hold)
				return;
			answer(d);
			break;
		case SMTP_EV_MAIL:
		case SMTP_EV_RCPT:
		case SMTP_EV_DATA:
		case SMTP_EV_AUTH:
			QCHECK(d->p.owed == (int)e);
			if (d->hold)
				return;
			answer(d);
			break;
		case SMTP_EV_DATA_END:
			if (ev.error != SMTP_OK) {
				QCHECK(d->p.owed == 0);
				break;
			}
			QCHECK(d->p.owed == SMTP_EV_DATA_END);
			if (d->hold)
				return;
			answer(d);
			break;
		case SMTP_EV_QUIT:
		case SMTP_EV_CLOSE:
			d->closed = 1;
			break;
		default:
			QCHECK(d->p.owed == 0);
			break;
		}
	}
	if (!d->no_drain)
		drain(d);
}

/*
 * As the session's loop does: the events, then the engine's buffers released
 * (they must not be needed again: ASan finds any later use). A half-read
 * line, an owed answer or an AUTH exchange keeps them.
 */
static void pump(struct drv *d)
{
	pump_events(d);
	smtp_proto_trim(&d->p);
	QCHECK(d->p.wk == NULL || smtp_proto_mid_line(&d->p) || d->p.owed || d->p.sasl);
}

/* The client sends n bytes. */
static void feed(struct drv *d, const void *buf, size_t n)
{
	QCHECK(n <= RXQ_MAX - d->rxlen);
	if (n > RXQ_MAX - d->rxlen)
		n = RXQ_MAX - d->rxlen;
	memcpy(d->rxq + d->rxlen, buf, n);
	d->rxlen += n;
	pump(d);
}

/* The client sends a string. */
static void say(struct drv *d, const char *s)
{
	feed(d, s, strlen(s));
}

/* The transcript so far, and start a new one. */
static const char *take(struct drv *d)
{
	static char copy[TR_MAX];

	memcpy(copy, d->tr, d->trlen + 1);
	d->trlen = 0;
	d->tr[0] = '\0';
	return copy;
}

/* Play a script of chunks in a fresh session; returns the transcript after the greeting. */
static const char *play(enum smtp_mode mode, const char *const *chunks)
{
	setup(mode, 1);
	take(&D);
	for (; *chunks; chunks++)
		say(&D, *chunks);
	return take(&D);
}

/* ---- transcripts ---- */

/* A session with AUTH available, TLS up (as after STARTTLS), EHLO done. */
static void auth_session(enum smtp_mode mode)
{
	setup(mode, 1);
	D.cfg.auth_available = 1;
	smtp_proto_tls_started(&D.p);
	say(&D, "EHLO c.example\r\n");
	take(&D);
}

TEST(auth)
{
	/* base64("\0alice\0secret"), ("\0alice\0wrong"), ("bob\0alice\0secret") */
	static const char plain_ok[] = "AGFsaWNlAHNlY3JldA==", plain_bad[] = "AGFsaWNlAHdyb25n",
			  plain_authz[] = "Ym9iAGFsaWNlAHNlY3JldA==";
	char line[1200];

	/* offered only once TLS is up, and not without users */
	setup(SMTP_MODE_MX, 1);
	D.cfg.auth_available = 1;
	take(&D);
	say(&D, "EHLO c.example\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	CHECK_STR(take(&D), EHLO_REPLY_TLS "#HELO c.example\n"
		  "538 5.7.11 Encryption required for requested authentication mechanism\n");
	smtp_proto_tls_started(&D.p);
	say(&D, "EHLO c.example\r\n");
	CHECK_STR(take(&D), "250-" HOST "\n250-PIPELINING\n250-SIZE 10485760\n250-8BITMIME\n"
		  "250-ENHANCEDSTATUSCODES\n250-AUTH PLAIN LOGIN\n250 SMTPUTF8\n#HELO c.example\n");
	setup(SMTP_MODE_MX, 1);
	smtp_proto_tls_started(&D.p);
	take(&D);
	say(&D, "EHLO c.example\r\nAUTH PLAIN\r\n");
	CHECK_STR(take(&D), EHLO_REPLY_NOTLS "#HELO c.example\n503 5.5.1 Error: authentication not enabled\n");

	/* PLAIN with an initial response; then once only; the credentials go to the session */
	auth_session(SMTP_MODE_MX);
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\nAUTH PLAIN %s\r\n", plain_ok, plain_ok);
	say(&D, line);
	CHECK_STR(take(&D), "#AUTH alice secret\n235 2.7.0 Authentication successful\n"
		  "503 5.5.1 Error: already authenticated\n");
	CHECK_EQ(D.p.authenticated, 1);
	CHECK(D.p.wk == NULL);		/* the password's buffer wiped and released once answered */
	/* the EHLO keyword goes once authenticated; MAIL's AUTH= is taken and not relayed */
	say(&D, "MAIL FROM:<a@example.org> AUTH=<> SIZE=10\r\n");
	CHECK_STR(take(&D), "#MAIL <a@example.org> SIZE=10\n250 2.1.0 Ok\n");

	/* PLAIN in two steps; "=" is an empty response; "*" aborts */
	auth_session(SMTP_MODE_MX);
	say(&D, "AUTH PLAIN\r\n");
	CHECK_STR(take(&D), "334 \n");
	CHECK_STR(smtp_proto_state_name(&D.p), "AUTH");
	snprintf(line, sizeof(line), "%s\r\n", plain_bad);
	say(&D, line);
	CHECK_STR(take(&D), "#AUTH alice wrong\n535 5.7.8 Error: authentication failed: authentication failure\n");
	CHECK_EQ(D.p.auth_failures, 1);
	say(&D, "AUTH PLAIN\r\n=\r\nAUTH PLAIN\r\n*\r\nAUTH LOGIN\r\n*\r\n");
	CHECK_STR(take(&D), "334 \n501 5.5.2 Malformed PLAIN response\n334 \n501 5.7.0 Authentication aborted\n"
		  "334 VXNlcm5hbWU6\n501 5.7.0 Authentication aborted\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "HELO");

	/* LOGIN, with and without the user in the command */
	auth_session(SMTP_MODE_MX);
	say(&D, "AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n");
	CHECK_STR(take(&D), "334 VXNlcm5hbWU6\n334 UGFzc3dvcmQ6\n#AUTH alice secret\n"
		  "235 2.7.0 Authentication successful\n");
	auth_session(SMTP_MODE_MX);
	say(&D, "AUTH login YWxpY2U=\r\nc2VjcmV0\r\n");
	CHECK_STR(take(&D), "334 UGFzc3dvcmQ6\n#AUTH alice secret\n235 2.7.0 Authentication successful\n");

	/*
	 * credentials that cannot pass (an authzid not the user's, an empty
	 * LOGIN user or password) go to the session marked, empty, so that
	 * they fail as a wrong password does (delayed, logged, counted);
	 * the rest is refused before the session hears of it
	 */
	auth_session(SMTP_MODE_MX);
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\nAUTH LOGIN =\r\nAUTH LOGIN YWxpY2U=\r\n=\r\n", plain_authz);
	say(&D, line);
	CHECK_STR(take(&D), "#AUTH(malformed)  \n535 5.7.8 Error: authentication failed: authentication failure\n"
		  "#AUTH(malformed)  \n535 5.7.8 Error: authentication failed: authentication failure\n"
		  "334 UGFzc3dvcmQ6\n"
		  "#AUTH(malformed)  \n535 5.7.8 Error: authentication failed: authentication failure\n");
	auth_session(SMTP_MODE_MX);
	snprintf(line, sizeof(line), "AUTH CRAM-MD5\r\nAUTH\r\nAUTH PLAIN a b\r\n"
		 "AUTH PLAIN !!!!\r\nAUTH PLAIN AGFsaWNl\r\n");
	say(&D, line);
	CHECK_STR(take(&D), "504 5.5.4 Unrecognized authentication type\n"
		  "501 5.5.4 Syntax: AUTH mechanism [initial-response]\n"
		  "501 5.5.4 Syntax: AUTH mechanism [initial-response]\n"
		  "501 5.5.2 Cannot decode response\n501 5.5.2 Malformed PLAIN response\n");
	/* inside a transaction; before EHLO */
	auth_session(SMTP_MODE_MX);
	snprintf(line, sizeof(line), "MAIL FROM:<a@example.org>\r\nAUTH PLAIN %s\r\n", plain_ok);
	say(&D, line);
	CHECK_STR(take(&D), "#MAIL <a@example.org>\n250 2.1.0 Ok\n503 5.5.1 Error: MAIL transaction in progress\n");
	setup(SMTP_MODE_MX, 1);
	D.cfg.auth_available = 1;
	smtp_proto_tls_started(&D.p);
	take(&D);
	say(&D, "AUTH LOGIN\r\n");
	CHECK_STR(take(&D), "503 5.5.1 Error: send HELO/EHLO first\n");

	/* three failures, then 421 and close */
	auth_session(SMTP_MODE_MX);
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\nAUTH PLAIN %s\r\nAUTH PLAIN %s\r\nAUTH PLAIN %s\r\n",
		 plain_bad, plain_bad, plain_bad, plain_ok);
	say(&D, line);
	CHECK_STR(take(&D), "#AUTH alice wrong\n535 5.7.8 Error: authentication failed: authentication failure\n"
		  "#AUTH alice wrong\n535 5.7.8 Error: authentication failed: authentication failure\n"
		  "#AUTH alice wrong\n535 5.7.8 Error: authentication failed: authentication failure\n"
		  "421 4.7.0 " HOST " Error: too many failed authentications\n#CLOSE AUTH_FAILURES\n");

	/* a 255-octet user and a 253-octet password fit the command line; 999 octets do not */
	auth_session(SMTP_MODE_MX);
	{
		static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		uint8_t raw[1 + 255 + 1 + 253];	/* a multiple of 3: no padding */
		size_t i, o = 0;

		memset(raw, 'u', sizeof(raw));
		raw[0] = 0;
		raw[256] = 0;
		memset(raw + 257, 'p', 253);
		o = (size_t)snprintf(line, sizeof(line), "AUTH PLAIN ");
		for (i = 0; i < sizeof(raw); i += 3) {
			unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];

			line[o++] = b64[v >> 18];
			line[o++] = b64[(v >> 12) & 63];
			line[o++] = b64[(v >> 6) & 63];
			line[o++] = b64[v & 63];
		}
		memcpy(line + o, "\r\n", 3);
		say(&D, line);
		CHECK(strncmp(take(&D), "#AUTH uuuuu", 11) == 0);
		CHECK_EQ(D.p.authenticated, 0);
	}
	auth_session(SMTP_MODE_MX);
	memset(line, 'A', 1000);
	memcpy(line, "AUTH PLAIN ", 11);
	memcpy(line + 1000, "\r\n", 3);
	say(&D, line);
	CHECK_STR(take(&D), "500 5.5.2 Error: line too long\n");

	/* 587 with submission_auth_required: MAIL needs AUTH */
	auth_session(SMTP_MODE_SUBMISSION);
	D.cfg.auth_required = 1;
	say(&D, "MAIL FROM:<a@example.org>\r\n");
	CHECK_STR(take(&D), "530 5.7.0 Authentication required\n");
	CHECK_EQ(D.p.stat_530_auth, 1);
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\nMAIL FROM:<a@example.org>\r\n", plain_ok);
	say(&D, line);
	CHECK_STR(take(&D), "#AUTH alice secret\n235 2.7.0 Authentication successful\n"
		  "#MAIL <a@example.org>\n250 2.1.0 Ok\n");
	/* STARTTLS forgets authentication (RFC 3207 4.2) */
	smtp_proto_tls_started(&D.p);
	CHECK_EQ(D.p.authenticated, 0);
}

/*
 * A 454 to AUTH (sess_auth.c: queue full, another check in flight from the
 * client's address or /64, too many from its /48, limited) made no check: it
 * is not one of the session's SMTP_AUTH_FAILS_MAX failures (a user behind a
 * NAT whose neighbour authenticates at the same moment keeps all three
 * tries), but it is an error, so that a client looping on 454 meets max_errors.
 */
#define R454 "454 4.7.0 Temporary authentication failure: another authentication in progress\n"
#define R535 "535 5.7.8 Error: authentication failed: authentication failure\n"
#define R235 "235 2.7.0 Authentication successful\n"
TEST(auth_454)
{
	static const char ok[] = "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", bad[] = "AUTH PLAIN AGFsaWNlAHdyb25n\r\n";
	char in[4096], want[8192];
	size_t il, wl;
	int i;

	/* three 454s (pipelined, as a retrying client sends them), then the right password: 235 */
	auth_session(SMTP_MODE_MX);
	D.cfg.max_errors = 20;
	D.auth_454 = 3;
	say(&D, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"
		"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	CHECK_STR(take(&D), "#AUTH alice secret\n" R454 "#AUTH alice secret\n" R454 "#AUTH alice secret\n" R454
		  "#AUTH alice secret\n" R235);
	CHECK_EQ(D.p.authenticated, 1);
	CHECK_EQ(D.p.auth_failures, 0);
	CHECK_EQ(D.p.errors, 3);
	CHECK_EQ(D.p.cmd_ok[SMTP_W_AUTH], 1);
	CHECK_EQ(D.p.cmd_total[SMTP_W_AUTH], 4);
	/* the same with LOGIN, and two wrong passwords among them: still a third try */
	auth_session(SMTP_MODE_MX);
	D.cfg.max_errors = 20;
	say(&D, bad);
	D.auth_454 = 2;
	say(&D, "AUTH LOGIN YWxpY2U=\r\nc2VjcmV0\r\nAUTH LOGIN YWxpY2U=\r\nc2VjcmV0\r\n");
	say(&D, bad);
	say(&D, ok);
	CHECK_STR(take(&D), "#AUTH alice wrong\n" R535 "334 UGFzc3dvcmQ6\n#AUTH alice secret\n" R454
		  "334 UGFzc3dvcmQ6\n#AUTH alice secret\n" R454 "#AUTH alice wrong\n" R535 "#AUTH alice secret\n" R235);
	CHECK_EQ(D.p.authenticated, 1);
	CHECK_EQ(D.p.auth_failures, 2);

	/* three 535s still end the session, 454s between them or not */
	auth_session(SMTP_MODE_MX);
	D.cfg.max_errors = 20;
	say(&D, bad);
	D.auth_454 = 2;
	say(&D, ok);
	say(&D, ok);
	say(&D, bad);
	D.auth_454 = 1;
	say(&D, ok);
	say(&D, bad);
	say(&D, ok);
	CHECK_STR(take(&D), "#AUTH alice wrong\n" R535 "#AUTH alice secret\n" R454 "#AUTH alice secret\n" R454
		  "#AUTH alice wrong\n" R535 "#AUTH alice secret\n" R454 "#AUTH alice wrong\n" R535
		  "421 4.7.0 " HOST " Error: too many failed authentications\n#CLOSE AUTH_FAILURES\n");
	CHECK_EQ(D.p.authenticated, 0);

	/* an endless run of 454s ends at max_errors (20, the default smtpd_hard_error_limit): 421, and
	   the AUTHs pipelined after it are not read */
	auth_session(SMTP_MODE_MX);
	D.cfg.max_errors = 20;
	D.auth_454 = 1000;
	il = wl = 0;
	for (i = 0; i < 25; i++)
		il += (size_t)snprintf(in + il, sizeof(in) - il, "%s", ok);
	for (i = 0; i < 20; i++)
		wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "#AUTH alice secret\n" R454);
	snprintf(want + wl, sizeof(want) - wl, "421 4.7.0 " HOST " Error: too many errors\n#CLOSE TOO_MANY_ERRORS\n");
	say(&D, in);
	CHECK_STR(take(&D), want);
	CHECK_EQ(D.p.authenticated, 0);
	CHECK_EQ(D.p.auth_failures, 0);
	CHECK_EQ(D.auth_454, 1000 - 20);
	CHECK_STR(smtp_proto_state_name(&D.p), "CLOSED");
	/* one at a time, each after the last answer: the same */
	auth_session(SMTP_MODE_MX);
	D.cfg.max_errors = 20;
	D.auth_454 = 1000;
	for (i = 0; i < 25 && !D.closed; i++)
		say(&D, ok);
	CHECK_STR(take(&D), want);
	CHECK_EQ(i, 20);	/* the 421 is queued right after the 20th 454 */
	/* bad commands and 454s add up; the default max_errors (0: 10) */
	auth_session(SMTP_MODE_MX);
	D.cfg.max_errors = 0;
	D.auth_454 = 1000;
	say(&D, "AUTH CRAM-MD5\r\nAUTH PLAIN !!!!\r\n");
	CHECK_STR(take(&D), "504 5.5.4 Unrecognized authentication type\n501 5.5.2 Cannot decode response\n");
	il = wl = 0;
	for (i = 0; i < 10; i++)
		il += (size_t)snprintf(in + il, sizeof(in) - il, "%s", ok);
	for (i = 0; i < 8; i++)
		wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "#AUTH alice secret\n" R454);
	snprintf(want + wl, sizeof(want) - wl, "421 4.7.0 " HOST " Error: too many errors\n#CLOSE TOO_MANY_ERRORS\n");
	say(&D, in);
	CHECK_STR(take(&D), want);
	CHECK_EQ(D.p.errors, 10);
	/* under stress (smtpd_stress_error_limit 1) the first 454 ends the session, as any error does */
	auth_session(SMTP_MODE_MX);
	D.cfg.max_errors = 1;
	D.auth_454 = 1;
	say(&D, ok);
	say(&D, ok);
	CHECK_STR(take(&D), "#AUTH alice secret\n" R454 "421 4.7.0 " HOST " Error: too many errors\n"
		  "#CLOSE TOO_MANY_ERRORS\n");
	/* a wrong password (535) is an error as well as a try, as Postfix counts it */
	auth_session(SMTP_MODE_MX);
	D.cfg.max_errors = 2;
	say(&D, "AUTH CRAM-MD5\r\n");
	say(&D, bad);
	say(&D, ok);
	CHECK_STR(take(&D), "504 5.5.4 Unrecognized authentication type\n#AUTH alice wrong\n" R535
		  "421 4.7.0 " HOST " Error: too many errors\n#CLOSE TOO_MANY_ERRORS\n");
	CHECK_EQ(D.p.auth_failures, 1);
	CHECK_EQ(D.p.errors, 2);
}

TEST(greeting)
{
	setup(SMTP_MODE_MX, 1);
	CHECK_STR(take(&D), GREETING);
	CHECK_STR(smtp_proto_state_name(&D.p), "CONNECTED");
	CHECK_EQ(D.p.tls, 0);

	/* 465: nothing before TLS, not even reading */
	setup(SMTP_MODE_SMTPS, 1);
	CHECK_STR(take(&D), "");
	CHECK_STR(smtp_proto_state_name(&D.p), "PREGREET");
	say(&D, "EHLO early.example\r\n");
	CHECK_EQ(D.rxlen, 20);
	CHECK_STR(take(&D), "");
	D.rxlen = 0;
	smtp_proto_greet(&D.p);
	smtp_proto_greet(&D.p);	/* once only */
	drain(&D);
	CHECK_STR(take(&D), GREETING);
	CHECK_EQ(D.p.tls, 1);

	/* SMTP_INIT_NO_BANNER: nothing queued, nothing read until smtp_proto_greet(); a reply may
	   take the banner's place (a refusal at connect, pregreet) */
	setup(SMTP_MODE_MX, 1);
	take(&D);
	smtp_proto_free(&D.p);
	smtp_proto_init(&D.p, &D.cfg, SMTP_INIT_NO_BANNER);
	drain(&D);
	CHECK_STR(take(&D), "");
	CHECK_STR(smtp_proto_state_name(&D.p), "PREGREET");
	say(&D, "EHLO early.example\r\n");
	CHECK_EQ(D.rxlen, 20);
	CHECK_STR(take(&D), "");
	D.rxlen = 0;
	CHECK_EQ(smtp_proto_reply(&D.p, 421, "4.3.2", "Service shutting down"), 0);
	drain(&D);
	CHECK_STR(take(&D), "421 4.3.2 Service shutting down\n");
	smtp_proto_greet(&D.p);
	smtp_proto_greet(&D.p);	/* once only */
	drain(&D);
	CHECK_STR(take(&D), GREETING);
	CHECK_EQ(D.p.tls, 0);
	CHECK_STR(smtp_proto_state_name(&D.p), "CONNECTED");
	/* SMTPS with the flag and TLS up: still held back; the greeting marks TLS */
	setup(SMTP_MODE_SMTPS, 1);
	smtp_proto_free(&D.p);
	smtp_proto_init(&D.p, &D.cfg, SMTP_INIT_TLS | SMTP_INIT_NO_BANNER);
	drain(&D);
	CHECK_STR(take(&D), "");
	smtp_proto_greet(&D.p);
	drain(&D);
	CHECK_STR(take(&D), GREETING);
	CHECK_EQ(D.p.tls, 1);

	/* no hostname configured */
	setup(SMTP_MODE_MX, 1);
	D.cfg.hostname = NULL;
	take(&D);
	smtp_proto_free(&D.p);
	smtp_proto_init(&D.p, &D.cfg, 0);
	drain(&D);
	CHECK_STR(take(&D), "220 localhost ESMTP\n");
}

TEST(ehlo_keywords)
{
	static const char *const ehlo[] = { "EHLO client.example\r\n", NULL };
	char host[300], want[1200];

	CHECK_STR(play(SMTP_MODE_MX, ehlo), EHLO_REPLY_TLS "#HELO client.example\n");
	CHECK_EQ(D.p.ehlo, 1);
	CHECK_STR(D.p.helo, "client.example");
	CHECK_STR(smtp_proto_state_name(&D.p), "HELO");
	CHECK_STR(play(SMTP_MODE_SUBMISSION, ehlo), EHLO_REPLY_TLS "#HELO client.example\n");

	/* no certificate: no STARTTLS */
	setup(SMTP_MODE_MX, 0);
	take(&D);
	say(&D, "EHLO client.example\r\n");
	CHECK_STR(take(&D), EHLO_REPLY_NOTLS "#HELO client.example\n");

	/* no size limit: plain SIZE */
	setup(SMTP_MODE_MX, 1);
	D.cfg.size_limit = 0;
	take(&D);
	say(&D, "EHLO client.example\r\n");
	CHECK_STR(take(&D), "250-" HOST "\n250-PIPELINING\n250-SIZE\n250-8BITMIME\n"
		  "250-ENHANCEDSTATUSCODES\n250-SMTPUTF8\n250 STARTTLS\n#HELO client.example\n");

	/* 465 once TLS is up: never STARTTLS */
	setup(SMTP_MODE_SMTPS, 1);
	smtp_proto_greet(&D.p);
	drain(&D);
	take(&D);
	say(&D, "EHLO client.example\r\nSTARTTLS\r\n");
	CHECK_STR(take(&D), EHLO_REPLY_NOTLS "#HELO client.example\n"
		  "503 5.5.1 Error: TLS already active\n");

	/* the longest hostname a reply carries: 253 octets, all of it */
	setup(SMTP_MODE_MX, 1);
	memset(host, 'h', 253);
	host[253] = '\0';
	D.cfg.hostname = host;
	take(&D);
	say(&D, "EHLO c\r\n");
	snprintf(want, sizeof(want), "250-%s\n250-PIPELINING\n250-SIZE 10485760\n250-8BITMIME\n"
		 "250-ENHANCEDSTATUSCODES\n250-SMTPUTF8\n250 STARTTLS\n#HELO c\n", host);
	CHECK_STR(take(&D), want);
}

TEST(helo)
{
	static const char *const s[] = {
		"HELO\r\n",
		"EHLO\r\n",
		"HELO   \r\n",
		"helo client.example\r\n",
		"ehlo   Client.Example  \t \r\n",
		"MAIL FROM:<a@b.example>\r\n",
		"HELO again.example\r\n",
		"EHLO again.example\r\n",
		NULL
	};

	CHECK_STR(play(SMTP_MODE_MX, s),
		  "501 5.5.4 Syntax: HELO hostname\n"
		  "501 5.5.4 Syntax: EHLO hostname\n"
		  "501 5.5.4 Syntax: HELO hostname\n"
		  "250 " HOST "\n"
		  "#HELO client.example\n"
		  EHLO_REPLY_TLS
		  "#HELO Client.Example\n"
		  "#MAIL <a@b.example>\n"
		  "250 2.1.0 Ok\n"
		  "503 5.5.1 Error: MAIL transaction in progress\n"
		  "503 5.5.1 Error: MAIL transaction in progress\n");
	CHECK_EQ(D.p.errors, 5);
}

/* A whole transaction, pipelined the way a PIPELINING client does it. */
static const char *const full_script[] = {
	"EHLO client.example\r\n",
	"MAIL FROM:<alice@example.org> SIZE=120 BODY=8BITMIME\r\n"
	"RCPT TO:<bob@example.net>\r\n"
	"RCPT TO:<unknown@example.net>\r\n"
	"RCPT TO:<carol@example.net>\r\n"
	"DATA\r\n",
	"Subject: hi\r\n"
	"\r\n"
	"..leading dot\r\n"
	"..\r\n"
	". not the end\r\n"
	"body\r\n"
	".\r\n"
	"QUIT\r\n",
	NULL
};

static const char full_ref[] =
	EHLO_REPLY_TLS
	"#HELO client.example\n"
	"#MAIL <alice@example.org> SIZE=120 BODY=8BITMIME\n"
	"250 2.1.0 Ok\n"
	"#RCPT <bob@example.net>\n"
	"250 2.1.5 Ok\n"
	"#RCPT <unknown@example.net>\n"
	"550 5.1.1 Recipient address rejected: User unknown\n"
	"#RCPT <carol@example.net>\n"
	"250 2.1.5 Ok\n"
	"#DATA\n"
	BACKEND_354
	"#LINE Subject: hi\n"
	"#LINE \n"
	"#LINE ..leading dot\n"
	"#LINE ..\n"
	"#LINE . not the end\n"
	"#LINE body\n"
	"#END\n"
	BACKEND_QUEUED
	"221 2.0.0 Bye\n"
	"#QUIT\n";

TEST(full_transaction)
{
	char all[2048] = "";
	size_t i;

	CHECK_STR(play(SMTP_MODE_MX, full_script), full_ref);
	CHECK_STR(smtp_proto_state_name(&D.p), "QUIT");
	/* message octets with the stuffing dots removed */
	CHECK_EQ(D.p.msg_bytes, 13 + 2 + 14 + 3 + 14 + 6);
	CHECK_EQ(D.p.errors, 1);        /* the backend's 550 to a RCPT counts, as in Postfix */

	/* everything in one segment, body included: the same conversation */
	for (i = 0; full_script[i]; i++)
		strcat(all, full_script[i]);
	setup(SMTP_MODE_MX, 1);
	take(&D);
	say(&D, all);
	CHECK_STR(take(&D), full_ref);
	CHECK(D.p.stat_improper_pipelining > 0);	/* EHLO, DATA not last in their group */
}

/* Replay a script split into two chunks at every position, and byte by byte. */
static void replay_split(enum smtp_mode mode, const char *script, const char *ref)
{
	size_t len = strlen(script), k;
	unsigned bad = 0;

	for (k = 1; k < len; k++) {
		setup(mode, 1);
		take(&D);
		feed(&D, script, k);
		feed(&D, script + k, len - k);
		if (strcmp(take(&D), ref) != 0 && bad++ == 0)
			fprintf(stderr, "  split at %zu differs\n", k);
	}
	CHECK_EQ(bad, 0);
	setup(mode, 1);
	take(&D);
	for (k = 0; k < len; k++)
		feed(&D, script + k, 1);
	CHECK_STR(take(&D), ref);
}

TEST(split_everywhere)
{
	char all[2048] = "";
	size_t i;

	for (i = 0; full_script[i]; i++)
		strcat(all, full_script[i]);
	replay_split(SMTP_MODE_MX, all, full_ref);

	/* a CRLF.CRLF whose every byte may come alone, after a 1000-octet line */
	{
		static char script[2048];
		char ref[1024];

		memset(script, 0, sizeof(script));
		strcpy(script, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<r@d.example>\r\nDATA\r\n");
		memset(script + strlen(script), 'x', 998);
		strcat(script, "\r\n.\r\n.\r\nNOOP\r\n");
		snprintf(ref, sizeof(ref), EHLO_REPLY_TLS "#HELO c\n#MAIL <>\n250 2.1.0 Ok\n"
			 "#RCPT <r@d.example>\n250 2.1.5 Ok\n#DATA\n" BACKEND_354
			 "#LINE [1000 octets]\n#END\n" BACKEND_QUEUED
			 "500 5.5.2 Error: command not recognized\n250 2.0.0 Ok\n");
		replay_split(SMTP_MODE_MX, script, ref);
	}
}

TEST(pipelining_waits)
{
	static const char group[] = "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n";
	struct smtp_evinfo ev;
	size_t used = 99, rest;

	setup(SMTP_MODE_MX, 1);
	say(&D, "EHLO c\r\n");
	take(&D);
	D.hold = 1;
	say(&D, group);
	CHECK_STR(take(&D), "#MAIL <a@b.example>\n");
	CHECK_EQ(D.p.owed, SMTP_EV_MAIL);
	rest = strlen(group) - strlen("MAIL FROM:<a@b.example>\r\n");
	CHECK_EQ(D.rxlen, rest);
	CHECK(memcmp(D.rxq, "RCPT TO:<c@d.example>\r\nDATA\r\n", rest) == 0);

	/* nothing is read while the answer is owed */
	CHECK_EQ(smtp_proto_input(&D.p, D.rxq, D.rxlen, &used, &ev), SMTP_EV_WAIT);
	CHECK_EQ(used, 0);
	say(&D, "NOOP\r\n");
	CHECK_STR(take(&D), "");
	CHECK_EQ(D.rxlen, rest + 6);

	/* the backend answers: the next command goes, and waits in turn */
	answer(&D);
	pump(&D);
	CHECK_STR(take(&D), "250 2.1.0 Ok\n#RCPT <c@d.example>\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "MAIL");
	answer(&D);
	pump(&D);
	CHECK_STR(take(&D), "250 2.1.5 Ok\n#DATA\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "RCPT");
	CHECK_EQ(D.p.naccepted_rcpts, 1);

	/* DATA refused: the transaction stays, the NOOP is a command */
	D.data_answer = "451 4.3.0 Error: try again\r\n";
	answer(&D);
	pump(&D);
	CHECK_STR(take(&D), "451 4.3.0 Error: try again\n250 2.0.0 Ok\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "RCPT");
	CHECK_EQ(smtp_proto_in_data(&D.p), 0);

	/* MAIL refused: no transaction, MAIL again is no nested MAIL */
	D.hold = 0;
	say(&D, "RSET\r\nMAIL FROM:<tempfail@b.example>\r\nMAIL FROM:<a@b.example>\r\n");
	CHECK_STR(take(&D), "250 2.0.0 Ok\n#RSET\n#MAIL <tempfail@b.example>\n"
		  "451 4.3.0 Error: queue file write error\n#MAIL <a@b.example>\n250 2.1.0 Ok\n");
}

TEST(mail_rcpt_syntax)
{
	static const char *const s[] = {
		"MAIL FROM:<a@b.example>\r\n",
		"RCPT TO:<a@b.example>\r\n",
		"DATA\r\n",
		"EHLO client.example\r\n",
		"MAIL FROM: \r\n",
		"MAIL TO:<a@b.example>\r\n",
		"MAIL\r\n",
		"MAIL FROM:<a b@c.example>\r\n",
		"MAIL FROM:<a@b.example\r\n",
		"MAIL FROM:<a..b@c.example>\r\n",
		"MAIL FROM:<a@b..example>\r\n",
		"MAIL FROM:<a@-b.example>\r\n",
		"MAIL FROM:<a@b.example.>\r\n",
		"MAIL FROM:<a@b.example>x\r\n",
		"MAIL FROM:<postmaster>\r\n",
		"MAIL FROM:<@r.example:a@b.example\r\n",
		"MAIL FROM:<a@b.example> FOO=1\r\n",
		"MAIL FROM:<a@b.example> SIZE=12x\r\n",
		"MAIL FROM:<a@b.example> SIZE\r\n",
		"MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n",
		"MAIL FROM:<a@b.example> SMTPUTF8=yes\r\n",
		"MAIL FROM:<\xff@b.example>\r\n",
		"MAIL FROM:<\xc3\x28@b.example>\r\n",
		"MAIL FROM:<a\x01@b.example>\r\n",
		"\r\n",
		"   \r\n",
		"FOO bar\r\n",
		"MAILFROM:<a@b.example>\r\n",
		"mail from:<@relay1.example,@relay2.example:a@b.example> body=7bit\r\n",
		"MAIL FROM:<x@y.example>\r\n",
		"DATA\r\n",
		"RCPT TO:<>\r\n",
		"RCPT TO:b@c.example\r\n",
		"RCPT TO:<b@c.example> NOTIFY=NEVER\r\n",
		"RCPT TO:<Postmaster>\r\n",
		"rcpt to: <\"john doe\"@[192.0.2.1]>\r\n",
		"RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>\r\n",
		"RCPT TO:<x@[IPv6:2001:db8::1]>\r\n",
		"RCPT TO:<x@[]>\r\n",
		"DATA x\r\n",
		"RSET\r\n",
		"MAIL FROM:<>  SMTPUTF8   SIZE=100 \r\n",
		"RSET x\r\n",
		NULL
	};

	CHECK_STR(play(SMTP_MODE_MX, s),
		  "503 5.5.1 Error: send HELO/EHLO first\n"
		  "503 5.5.1 Error: need MAIL command\n"
		  "503 5.5.1 Error: need RCPT command\n"
		  EHLO_REPLY_TLS
		  "#HELO client.example\n"
		  "501 5.5.4 Syntax: MAIL FROM:<address>\n"
		  "501 5.5.4 Syntax: MAIL FROM:<address>\n"
		  "501 5.5.4 Syntax: MAIL FROM:<address>\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "555 5.5.4 Unsupported option: FOO=1\n"
		  "501 5.5.4 Bad message size syntax\n"
		  "501 5.5.4 Bad message size syntax\n"
		  "555 5.5.4 Unsupported option: BODY=BINARYMIME\n"
		  "555 5.5.4 Unsupported option: SMTPUTF8=yes\n"
		  "500 5.5.2 Error: bad UTF-8 syntax\n"
		  "500 5.5.2 Error: bad UTF-8 syntax\n"
		  "500 5.5.2 Error: bad syntax\n"
		  "500 5.5.2 Error: bad syntax\n"
		  "500 5.5.2 Error: bad syntax\n"
		  "500 5.5.2 Error: command not recognized\n"
		  "500 5.5.2 Error: command not recognized\n"
		  "#MAIL <a@b.example> body=7bit\n"
		  "250 2.1.0 Ok\n"
		  "503 5.5.1 Error: nested MAIL command\n"
		  "554 5.5.1 Error: no valid recipients\n"
		  "501 5.1.3 Bad recipient address syntax\n"
		  "#RCPT <b@c.example>\n"
		  "250 2.1.5 Ok\n"
		  "555 5.5.4 Unsupported option: NOTIFY=NEVER\n"
		  "#RCPT <Postmaster>\n"
		  "250 2.1.5 Ok\n"
		  "#RCPT <\"john doe\"@[192.0.2.1]>\n"
		  "250 2.1.5 Ok\n"
		  "553 5.6.7 Must declare SMTPUTF8 to send unicode address\n"
		  "#RCPT <x@[IPv6:2001:db8::1]>\n"
		  "250 2.1.5 Ok\n"
		  "501 5.1.3 Bad recipient address syntax\n"
		  "501 5.5.4 Syntax: DATA\n"
		  "250 2.0.0 Ok\n"
		  "#RSET\n"
		  "#MAIL <> SMTPUTF8 SIZE=100\n"
		  "250 2.1.0 Ok\n"
		  "501 5.5.4 Syntax: RSET\n");
	CHECK_EQ(D.p.errors, 35);
	CHECK_EQ(D.p.stat_refusal[SMTP_R_UTF8_UNDECLARED], 1);
}

/*
 * Addresses without angle brackets, as broken clients send them, are taken
 * as Postfix takes them (strict_rfc821_envelopes = no): up to the first
 * space, checked as if bracketed; the null sender needs its brackets.
 */
TEST(path_without_brackets)
{
	static const char *const s[] = {
		"EHLO c\r\n",
		"MAIL FROM:a..b@c.example\r\n",
		"MAIL FROM:a@b.example>\r\n",
		"MAIL FROM:<>x@y.example\r\n",
		"MAIL FROM:a@b.example  SIZE=10\r\n",
		"RCPT TO: postmaster\r\n",
		"RCPT TO:x@[192.0.2.1] FOO=1\r\n",
		"RCPT TO:\"john doe\"@d.example\r\n",
		"RCPT TO:j\xc3\xb6rg@d.example\r\n",
		NULL
	};

	CHECK_STR(play(SMTP_MODE_MX, s),
		  EHLO_REPLY_TLS "#HELO c\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "#MAIL <a@b.example> SIZE=10\n250 2.1.0 Ok\n"
		  "#RCPT <postmaster>\n250 2.1.5 Ok\n"
		  "555 5.5.4 Unsupported option: FOO=1\n"
		  "501 5.1.3 Bad recipient address syntax\n"
		  "553 5.6.7 Must declare SMTPUTF8 to send unicode address\n");
}

/*
 * HELO names are neutered as Postfix's smtpd does: white space, "<>()\\\";@",
 * controls and C1 controls become '?', so that a name cannot pass for our
 * own comment in the Received header; address literals and UTF-8 stay.
 */
TEST(helo_neutered)
{
	static const char *const s[] = {
		"EHLO x (forged.example [10.0.0.1])\r\n",
		"HELO a\"b;c@d<e>\\f\r\n",
		"EHLO x\xc2\x9b" "31m\r\n",
		"EHLO [IPv6:2001:2::1]\r\n",
		"HELO b\xc3\xbc" "cher.example\r\n",
		NULL
	};

	CHECK_STR(play(SMTP_MODE_MX, s),
		  EHLO_REPLY_TLS "#HELO x??forged.example?[10.0.0.1]?\n"
		  "250 " HOST "\n#HELO a?b?c?d?e??f\n"
		  EHLO_REPLY_TLS "#HELO x??31m\n"
		  EHLO_REPLY_TLS "#HELO [IPv6:2001:2::1]\n"
		  "250 " HOST "\n#HELO b\xc3\xbc" "cher.example\n");
}

/*
 * RFC 6531 3.4: a UTF-8 address only in a transaction whose MAIL carried
 * SMTPUTF8; the declaration lasts until the next MAIL, whatever the backend
 * said to the one that carried it.
 */
TEST(smtputf8_declared)
{
	static const char *const s[] = {
		"EHLO c\r\n",
		"MAIL FROM:<j\xc3\xb6rg@b.example>\r\n",               /* undeclared sender */
		"MAIL FROM:<a@b.example> BODY=8BITMIME\r\n",
		"RCPT TO:<x@\xc3\xa9.example>\r\n",                    /* undeclared recipient */
		"RCPT TO:<x@b.example>\r\n",
		"RSET\r\n",
		"MAIL FROM:<j\xc3\xb6rg@b.example> SMTPUTF8\r\n",
		"RCPT TO:<x@\xc3\xa9.example>\r\n",
		"RSET\r\n",
		"MAIL FROM:<tempfail@b.example> smtputf8\r\n",          /* the backend refuses it */
		"MAIL FROM:<a@b.example>\r\n",                          /* declaration gone */
		"RCPT TO:<\xc3\xa9@b.example>\r\n",
		NULL
	};

	CHECK_STR(play(SMTP_MODE_MX, s),
		  EHLO_REPLY_TLS "#HELO c\n"
		  "553 5.6.7 Must declare SMTPUTF8 to send unicode address\n"
		  "#MAIL <a@b.example> BODY=8BITMIME\n250 2.1.0 Ok\n"
		  "553 5.6.7 Must declare SMTPUTF8 to send unicode address\n"
		  "#RCPT <x@b.example>\n250 2.1.5 Ok\n"
		  "250 2.0.0 Ok\n#RSET\n"
		  "#MAIL <j\xc3\xb6rg@b.example> SMTPUTF8\n250 2.1.0 Ok\n"
		  "#RCPT <x@\xc3\xa9.example>\n250 2.1.5 Ok\n"
		  "250 2.0.0 Ok\n#RSET\n"
		  "#MAIL <tempfail@b.example> smtputf8\n451 4.3.0 Error: queue file write error\n"
		  "#MAIL <a@b.example>\n250 2.1.0 Ok\n"
		  "553 5.6.7 Must declare SMTPUTF8 to send unicode address\n");
	CHECK_EQ(D.p.stat_refusal[SMTP_R_UTF8_UNDECLARED], 3);
}

TEST(path_length)
{
	char cmd[600], want[600];
	size_t n;

	/* RFC 5321 4.5.3.1.3: 256 octets with the brackets, no more */
	setup(SMTP_MODE_MX, 1);
	say(&D, "EHLO c\r\n");
	take(&D);
	n = (size_t)snprintf(cmd, sizeof(cmd), "MAIL FROM:<");
	memset(cmd + n, 'l', 244);
	snprintf(cmd + n + 244, sizeof(cmd) - n - 244, "@b.example>\r\n");
	say(&D, cmd);
	snprintf(want, sizeof(want), "#MAIL <%.254s>\n250 2.1.0 Ok\n", cmd + 11);
	CHECK_STR(take(&D), want);
	CHECK_EQ(D.arg_len, 254);

	say(&D, "RSET\r\n");
	take(&D);
	memset(cmd + n, 'l', 245);
	snprintf(cmd + n + 245, sizeof(cmd) - n - 245, "@b.example>\r\n");
	say(&D, cmd);
	CHECK_STR(take(&D), "501 5.1.7 Bad sender address syntax\n");
}

TEST(submission_needs_tls)
{
	static const char *const s[] = {
		"EHLO client.example\r\n",
		"MAIL FROM:<a@b.example>\r\n",
		"RCPT TO:<a@b.example>\r\n",
		"VRFY bob\r\n",
		"HELP\r\n",
		"NOOP\r\n",
		"RSET\r\n",
		"HELO client.example\r\n",
		"STARTTLS\r\n",
		"EHLO client.example\r\n",
		"MAIL FROM:<a@b.example>\r\n",
		"QUIT\r\n",
		NULL
	};

	CHECK_STR(play(SMTP_MODE_SUBMISSION, s),
		  EHLO_REPLY_TLS
		  "#HELO client.example\n"
		  "530 5.7.0 Must issue a STARTTLS command first\n"
		  "530 5.7.0 Must issue a STARTTLS command first\n"
		  "530 5.7.0 Must issue a STARTTLS command first\n"
		  "530 5.7.0 Must issue a STARTTLS command first\n"
		  "250 2.0.0 Ok\n"
		  "250 2.0.0 Ok\n"
		  "#RSET\n"
		  "250 " HOST "\n"
		  "#HELO client.example\n"
		  "220 2.0.0 Ready to start TLS\n"
		  "#STARTTLS discarded=0\n"
		  "#TLS\n"
		  EHLO_REPLY_NOTLS
		  "#HELO client.example\n"
		  "#MAIL <a@b.example>\n"
		  "250 2.1.0 Ok\n"
		  "221 2.0.0 Bye\n"
		  "#QUIT\n");
}

TEST(starttls)
{
	static const char *const s[] = {
		"EHLO client.example\r\n",
		"STARTTLS now\r\n",
		"MAIL FROM:<a@b.example>\r\n",
		"STARTTLS\r\n",
		"RSET\r\n",
		"STARTTLS\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.net>\r\n",
		NULL
	};
	static const char inject[] = "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.net>\r\n";
	struct smtp_evinfo ev;
	size_t used = 99;

	CHECK_STR(play(SMTP_MODE_MX, s),
		  EHLO_REPLY_TLS
		  "#HELO client.example\n"
		  "501 5.5.4 Syntax error (no parameters allowed)\n"
		  "#MAIL <a@b.example>\n"
		  "250 2.1.0 Ok\n"
		  "503 5.5.1 Error: MAIL transaction in progress\n"
		  "250 2.0.0 Ok\n"
		  "#RSET\n"
		  "220 2.0.0 Ready to start TLS\n"
		  "#STARTTLS discarded=65\n"
		  "#TLS\n");
	CHECK_EQ(strlen(inject), 65);
	CHECK_EQ(D.p.stat_pipelined_after_starttls, 65);
	CHECK_EQ(D.p.stat_refusal[SMTP_R_PIPELINED_STARTTLS], 1);

	/* everything forgotten: HELO again first, no STARTTLS offered, not twice */
	CHECK_STR(smtp_proto_state_name(&D.p), "CONNECTED");
	CHECK_STR(D.p.helo, "");
	CHECK_EQ(D.p.ehlo, 0);
	CHECK_EQ(D.p.tls, 1);
	say(&D, "MAIL FROM:<a@b.example>\r\nEHLO client.example\r\nSTARTTLS\r\n");
	CHECK_STR(take(&D), "503 5.5.1 Error: send HELO/EHLO first\n"
		  EHLO_REPLY_NOTLS "#HELO client.example\n"
		  "503 5.5.1 Error: TLS already active\n");

	/* no certificate */
	setup(SMTP_MODE_MX, 0);
	take(&D);
	say(&D, "EHLO c\r\nSTARTTLS\r\n");
	CHECK_STR(take(&D), EHLO_REPLY_NOTLS "#HELO c\n"
		  "454 4.7.0 TLS not available due to temporary reason\n");

	/* the STARTTLS line split, the injection in the same segment as its end */
	setup(SMTP_MODE_MX, 1);
	take(&D);
	say(&D, "EHLO c\r\nSTARTT");
	say(&D, "LS\r\nRSET\r\n");
	CHECK_STR(take(&D), EHLO_REPLY_TLS "#HELO c\n220 2.0.0 Ready to start TLS\n"
		  "#STARTTLS discarded=6\n#TLS\n");
	CHECK_EQ(D.p.stat_pipelined_after_starttls, 6);

	/* between the 220 and the handshake the engine reads nothing */
	setup(SMTP_MODE_MX, 1);
	smtp_proto_input(&D.p, (const uint8_t *)"STARTTLS\r\nNOOP\r\n", 16, &used, &ev);
	CHECK_EQ(used, 10);
	CHECK_EQ(ev.error, SMTP_R_PIPELINED_STARTTLS);
	CHECK_STR(smtp_proto_state_name(&D.p), "STARTTLS");
	CHECK_EQ(smtp_proto_input(&D.p, (const uint8_t *)"NOOP\r\n", 6, &used, &ev), SMTP_EV_NEED_INPUT);
	CHECK_EQ(used, 0);
	smtp_proto_tls_started(&D.p);
	CHECK_STR(smtp_proto_state_name(&D.p), "CONNECTED");
}

TEST(data_verbatim)
{
	static const char *const s[] = {
		"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n",
		"From: a@b.example\r\n",
		"..\r\n...\r\n. \r\n.\t\r\n",
		"utf-8 \xc3\xa9\r\n\r\n",
		".\r\n",
		"DATA\r\n",
		NULL
	};
	size_t i;

	setup(SMTP_MODE_MX, 1);
	take(&D);
	for (i = 0; s[i]; i++)
		feed(&D, s[i], strlen(s[i]));
	CHECK_STR(take(&D), EHLO_REPLY_TLS "#HELO c\n#MAIL <a@b.example>\n250 2.1.0 Ok\n"
		  "#RCPT <c@d.example>\n250 2.1.5 Ok\n#DATA\n" BACKEND_354
		  "#LINE From: a@b.example\n"
		  "#LINE ..\n"
		  "#LINE ...\n"
		  "#LINE . \n"
		  "#LINE .\\x09\n"
		  "#LINE utf-8 \\xc3\\xa9\n"
		  "#LINE \n"
		  "#END\n" BACKEND_QUEUED
		  "503 5.5.1 Error: need RCPT command\n");
	CHECK_EQ(D.p.msg_bytes, 19 + 3 + 4 + 3 + 3 + 10 + 2);
	CHECK_STR(smtp_proto_state_name(&D.p), "HELO");
}

TEST(bare_newlines_in_commands)
{
	static const char *const lf[] = { "EHLO c\r\nNOOP\nNOOP\r\n", NULL };
	static const char *const cr[] = { "NO\rOP\r\n", NULL };
	static const char *const crcr[] = { "NOOP\r\r\n", NULL };

	CHECK_STR(play(SMTP_MODE_MX, lf), EHLO_REPLY_TLS "#HELO c\n"
		  "521 5.5.2 " HOST " Error: bare <LF> received\n#CLOSE BARE_NEWLINE\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "CLOSED");
	CHECK_STR(last_bare, "LF");         /* the session's log line says which */
	CHECK_STR(play(SMTP_MODE_MX, cr),
		  "521 5.5.2 " HOST " Error: bare <CR> received\n#CLOSE BARE_NEWLINE\n");
	CHECK_STR(last_bare, "CR");
	CHECK_STR(play(SMTP_MODE_MX, crcr),
		  "521 5.5.2 " HOST " Error: bare <CR> received\n#CLOSE BARE_NEWLINE\n");
	CHECK_EQ(D.p.stat_refusal[SMTP_R_BARE_NEWLINE], 1);
}

/*
 * SMTP smuggling (CVE-2023-51764 and kin): inside DATA, any end of data
 * other than CRLF.CRLF must close the session, never end the message and
 * never let the smuggled commands run; replayed at every split.
 */
TEST(smuggling)
{
	static const char *const ends[] = {
		"\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", ".\n", ".\r",
		"\n.\n\r\n", NULL
	};
	static const char prefix[] = "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
				     "DATA\r\nSubject: x\r\n\r\nhello";
	static const char smuggled[] = "MAIL FROM:<evil@b.example>\r\nRCPT TO:<v@d.example>\r\n"
				       "DATA\r\n\r\nevil\r\n.\r\n";
	char script[512];
	size_t i, k, j, len;
	unsigned bad = 0, runs = 0;

	for (i = 0; ends[i]; i++) {
		snprintf(script, sizeof(script), "%s%s%s", prefix, ends[i], smuggled);
		len = strlen(script);
		/* every split into three chunks */
		for (k = 0; k < len; k++) {
			for (j = k; j < len; j += 7) {
				const char *tr;

				setup(SMTP_MODE_MX, 1);
				feed(&D, script, k);
				feed(&D, script + k, j - k);
				feed(&D, script + j, len - j);
				tr = take(&D);
				runs++;
				if ((strstr(tr, "#END") != NULL || strstr(tr, "evil") != NULL ||
				     strstr(tr, "#CLOSE BARE_NEWLINE\n") == NULL ||
				     strstr(tr, "Error: bare <") == NULL) && bad++ == 0)
					fprintf(stderr, "  smuggling %zu split %zu/%zu:\n%s", i, k, j, tr);
			}
		}
	}
	CHECK_EQ(bad, 0);
	CHECK(runs > 1000);

	/* the plain case once, as a transcript */
	setup(SMTP_MODE_MX, 1);
	take(&D);
	say(&D, prefix);
	say(&D, "\r\n.\nMAIL FROM:<evil@b.example>\r\n");
	CHECK_STR(take(&D), EHLO_REPLY_TLS "#HELO c\n#MAIL <a@b.example>\n250 2.1.0 Ok\n"
		  "#RCPT <c@d.example>\n250 2.1.5 Ok\n#DATA\n" BACKEND_354
		  "#LINE Subject: x\n#LINE \n#LINE hello\n"
		  "521 5.5.2 " HOST " Error: bare <LF> received\n#CLOSE BARE_NEWLINE\n");
}

TEST(command_too_long)
{
	char line[2048];
	unsigned i;

	/* 512 octets with the CRLF: fine; 513: refused, and the session goes on */
	setup(SMTP_MODE_MX, 1);
	take(&D);
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 510, "\r\n", 3);
	say(&D, line);
	CHECK_STR(take(&D), "250 2.0.0 Ok\n");
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 511, "\r\n", 3);
	say(&D, line);
	say(&D, "NOOP\r\n");
	CHECK_STR(take(&D), "500 5.5.2 Error: line too long\n250 2.0.0 Ok\n");
	CHECK_EQ(D.p.errors, 1);
	CHECK_EQ(D.p.stat_refusal[SMTP_R_LINE_TOO_LONG], 1);

	/* the limit holds before the newline: 100 KB without CRLF is all taken, nothing kept */
	memset(line, 'A', 1000);
	for (i = 0; i < 100; i++) {
		feed(&D, line, 1000);
		QCHECK(D.rxlen == 0);
		QCHECK(D.p.line_len <= SMTP_CMD_MAX - 2);
	}
	CHECK_EQ(D.rxlen, 0);
	CHECK_STR(take(&D), "");
	say(&D, "\r\nQUIT\r\n");
	CHECK_STR(take(&D), "500 5.5.2 Error: line too long\n221 2.0.0 Bye\n#QUIT\n");
}

TEST(data_line_long)
{
	static const char head[] = "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n";
	char line[2600];

	setup(SMTP_MODE_MX, 1);
	take(&D);
	say(&D, head);
	take(&D);
	/* 1000 octets with CRLF: one line */
	memset(line, 'a', 998);
	memcpy(line + 998, "\r\n", 3);
	say(&D, line);
	CHECK_STR(take(&D), "#LINE [1000 octets]\n");
	/* 1001, in two reads: a part of 998, then the rest with its CRLF; nothing refused */
	memset(line, 'b', 999);
	memcpy(line + 999, "\r\n", 3);
	feed(&D, line, 500);
	pump(&D);
	CHECK_STR(take(&D), "");
	CHECK(smtp_proto_mid_line(&D.p));
	feed(&D, line + 500, strlen(line) - 500);
	pump(&D);
	CHECK_STR(take(&D), "#PART [998 octets]\n#LINE b\n");
	/* 2600 octets with a dot first: parts of 999 (the stuffing dot does not count) and 998 */
	memset(line, 'c', sizeof(line) - 3);
	line[0] = '.';
	memcpy(line + sizeof(line) - 3, "\r\n", 3);
	say(&D, line);
	CHECK_STR(take(&D), "#PART [999 octets]\n#PART [998 octets]\n#LINE [602 octets]\n");
	CHECK_EQ(D.p.msg_bytes, 1000 + 1001 + (sizeof(line) - 3 - 1 + 2));
	/* a "." that starts a part, not a line, does not end the message; "." after it does */
	memset(line, 'd', 998);
	memcpy(line + 998, ".\r\n.\r\n", 7);
	say(&D, line);
	CHECK_STR(take(&D), "#PART [998 octets]\n#LINE .\n#END\n" BACKEND_QUEUED);
	CHECK_EQ(D.p.stat_refusal[SMTP_R_LINE_TOO_LONG], 0);
	CHECK_EQ(D.p.errors, 0);

	/* a line far longer than the buffer: fed in odd pieces, taken whole, memory stays bounded */
	say(&D, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
	take(&D);
	memset(line, 'e', sizeof(line));
	for (unsigned i = 0; i < 40; i++) {
		feed(&D, line, 997 + i);
		pump(&D);
		QCHECK(D.rxlen == 0);
		QCHECK(D.p.line_len <= SMTP_TEXT_MAX - 2);
	}
	say(&D, "\r\n.\r\n");
	CHECK(strstr(take(&D), "#END\n" BACKEND_QUEUED) != NULL);
	CHECK_EQ(D.p.msg_bytes, 40 * 997 + 780 + 2);

	/* SIZE counts the parts: over it, refused at the end as any message */
	setup(SMTP_MODE_MX, 1);
	D.cfg.size_limit = 1500;
	take(&D);
	say(&D, head);
	take(&D);
	memset(line, 'f', 1600);
	memcpy(line + 1600, "\r\n", 3);
	say(&D, line);
	say(&D, ".\r\n");
	CHECK_STR(take(&D), "#PART [998 octets]\n552 5.3.4 Message size exceeds fixed limit\n#END TOO_BIG\n");

	/* no answer is owed after a refused message */
	setup(SMTP_MODE_MX, 1);
	D.cfg.size_limit = 1500;
	D.hold = 1;
	say(&D, "EHLO c\r\n");
	say(&D, "MAIL FROM:<a@b.example>\r\n");
	answer(&D);
	say(&D, "RCPT TO:<c@d.example>\r\n");
	answer(&D);
	say(&D, "DATA\r\n");
	answer(&D);
	pump(&D);
	say(&D, line);
	say(&D, ".\r\n");
	CHECK_EQ(D.p.owed, 0);
	CHECK_EQ(smtp_proto_answer(&D.p, "250 2.0.0 Ok\r\n", 14), -1);
	CHECK_STR(smtp_proto_state_name(&D.p), "HELO");
}

TEST(size_limit)
{
	char line[128];
	int i;

	setup(SMTP_MODE_MX, 1);
	D.cfg.size_limit = 1000;
	take(&D);
	say(&D, "EHLO c\r\n");
	CHECK_STR(take(&D), "250-" HOST "\n250-PIPELINING\n250-SIZE 1000\n250-8BITMIME\n"
		  "250-ENHANCEDSTATUSCODES\n250-SMTPUTF8\n250 STARTTLS\n#HELO c\n");
	say(&D, "MAIL FROM:<a@b.example> SIZE=1001\r\n");
	say(&D, "MAIL FROM:<a@b.example> SIZE=99999999999999999999\r\n");
	say(&D, "MAIL FROM:<a@b.example> SIZE=1000\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
	CHECK_STR(take(&D), "552 5.3.4 Message size exceeds fixed limit\n"
		  "552 5.3.4 Message size exceeds fixed limit\n"
		  "#MAIL <a@b.example> SIZE=1000\n250 2.1.0 Ok\n"
		  "#RCPT <c@d.example>\n250 2.1.5 Ok\n#DATA\n" BACKEND_354);
	CHECK_EQ(D.p.stat_refusal[SMTP_R_TOO_BIG], 2);

	/* exactly 1000 octets (stuffing dots do not count) */
	memset(line, 'x', 98);
	memcpy(line + 98, "\r\n", 3);
	for (i = 0; i < 9; i++)
		say(&D, line);
	say(&D, "..");
	memset(line, 'x', 98);
	say(&D, line + 1);
	say(&D, ".\r\n");
	CHECK_EQ(D.p.msg_bytes, 1000);
	CHECK(strstr(take(&D), "#END\n" BACKEND_QUEUED) != NULL);

	/* one more octet: refused at the end */
	say(&D, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
	take(&D);
	for (i = 0; i < 10; i++)
		say(&D, line);
	say(&D, "y\r\nz\r\n.\r\n");
	CHECK_STR(take(&D), "#LINE [100 octets]\n#LINE [100 octets]\n#LINE [100 octets]\n"
		  "#LINE [100 octets]\n#LINE [100 octets]\n#LINE [100 octets]\n#LINE [100 octets]\n"
		  "#LINE [100 octets]\n#LINE [100 octets]\n#LINE [100 octets]\n"
		  "552 5.3.4 Message size exceeds fixed limit\n#END TOO_BIG\n");
	CHECK_EQ(D.p.stat_refusal[SMTP_R_TOO_BIG], 3);
}

TEST(too_many_recipients)
{
	static const char *const s[] = {
		"EHLO c\r\nMAIL FROM:<a@b.example>\r\n",
		"RCPT TO:<r1@d.example>\r\nRCPT TO:<unknown@d.example>\r\nRCPT TO:<r2@d.example>\r\n",
		"RCPT TO:<r3@d.example>\r\nRCPT TO:<r4@d.example>\r\nRCPT TO:<r5@d.example>\r\n",
		"RCPT TO:<r6@d.example>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
		NULL
	};

	setup(SMTP_MODE_MX, 1);
	D.cfg.max_rcpts = 2;
	D.cfg.max_errors = 3;
	take(&D);
	for (const char *const *c = s; *c; c++)
		say(&D, *c);
	CHECK_STR(take(&D), EHLO_REPLY_TLS "#HELO c\n#MAIL <a@b.example>\n250 2.1.0 Ok\n"
		  "#RCPT <r1@d.example>\n250 2.1.5 Ok\n"
		  "#RCPT <unknown@d.example>\n550 5.1.1 Recipient address rejected: User unknown\n"
		  "#RCPT <r2@d.example>\n250 2.1.5 Ok\n"
		  "452 4.5.3 Error: too many recipients\n"
		  "452 4.5.3 Error: too many recipients\n"
		  "452 4.5.3 Error: too many recipients\n"
		  "452 4.5.3 Error: too many recipients\n"
		  "#DATA\n" BACKEND_354 "#LINE hi\n#END\n" BACKEND_QUEUED "221 2.0.0 Bye\n#QUIT\n");
	CHECK_EQ(D.p.errors, 1);        /* the 550 only: the engine's own 452s are overshoot */
	CHECK_EQ(D.p.stat_refusal[SMTP_R_TOO_MANY_RCPTS], 4);
}

TEST(too_many_errors)
{
	struct smtp_evinfo ev;
	size_t used = 0;

	setup(SMTP_MODE_MX, 1);
	D.cfg.max_errors = 3;
	take(&D);
	say(&D, "EHLO c\r\nFOO\r\nRCPT TO:<a@b.example>\r\nNOOP\r\nMAIL FROM:<a b>\r\nNOOP\r\nQUIT\r\n");
	CHECK_STR(take(&D), EHLO_REPLY_TLS "#HELO c\n"
		  "500 5.5.2 Error: command not recognized\n"
		  "503 5.5.1 Error: need MAIL command\n"
		  "250 2.0.0 Ok\n"
		  "501 5.1.7 Bad sender address syntax\n"
		  "421 4.7.0 " HOST " Error: too many errors\n"
		  "#CLOSE TOO_MANY_ERRORS\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "CLOSED");
	/* closed: input is dropped, nothing more is said */
	CHECK_EQ(smtp_proto_input(&D.p, (const uint8_t *)"NOOP\r\n", 6, &used, &ev), SMTP_EV_NEED_INPUT);
	CHECK_EQ(used, 6);
	CHECK_EQ(D.p.out_len, 0);

	/* the default is 10 */
	setup(SMTP_MODE_MX, 1);
	D.cfg.max_errors = 0;
	take(&D);
	say(&D, "X\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\n");
	CHECK_EQ(D.closed, 0);
	say(&D, "X\r\n");
	CHECK_EQ(D.closed, 1);
}

/*
 * Backend refusals of MAIL and RCPT count as errors (Postfix): a client
 * pipelining RCPTs for unknown users is hung up on at max_errors, after
 * the answer that reached it; 452 (too many recipients) does not count.
 */
TEST(backend_refusals_are_errors)
{
	char buf[4096] = "EHLO c\r\nMAIL FROM:<a@b.example>\r\n";
	struct smtp_evinfo ev;
	size_t used = 0;
	int i;

	setup(SMTP_MODE_MX, 1);
	D.cfg.max_errors = 3;
	take(&D);
	for (i = 0; i < 5; i++)
		strcat(buf, "RCPT TO:<unknown@d.example>\r\n");
	say(&D, buf);
	CHECK_STR(take(&D), EHLO_REPLY_TLS "#HELO c\n#MAIL <a@b.example>\n250 2.1.0 Ok\n"
		  "#RCPT <unknown@d.example>\n550 5.1.1 Recipient address rejected: User unknown\n"
		  "#RCPT <unknown@d.example>\n550 5.1.1 Recipient address rejected: User unknown\n"
		  "#RCPT <unknown@d.example>\n550 5.1.1 Recipient address rejected: User unknown\n"
		  "421 4.7.0 " HOST " Error: too many errors\n"
		  "#CLOSE TOO_MANY_ERRORS\n");
	CHECK_EQ(D.p.errors, 3);
	CHECK_EQ(D.p.stat_refusal[SMTP_R_TOO_MANY_ERRORS], 1);
	CHECK_STR(smtp_proto_state_name(&D.p), "CLOSED");
	CHECK_EQ(smtp_proto_input(&D.p, (const uint8_t *)"RCPT TO:<x@y.z>\r\n", 17, &used, &ev),
		 SMTP_EV_NEED_INPUT);
	CHECK_EQ(used, 17);

	/* a refused MAIL counts too; an accepted one does not */
	setup(SMTP_MODE_MX, 1);
	D.cfg.max_errors = 2;
	take(&D);
	say(&D, "EHLO c\r\nMAIL FROM:<tempfail@b.example>\r\nMAIL FROM:<a@b.example>\r\nRSET\r\n"
		"MAIL FROM:<tempfail@b.example>\r\nNOOP\r\n");
	CHECK_STR(take(&D), EHLO_REPLY_TLS "#HELO c\n#MAIL <tempfail@b.example>\n"
		  "451 4.3.0 Error: queue file write error\n"
		  "#MAIL <a@b.example>\n250 2.1.0 Ok\n250 2.0.0 Ok\n#RSET\n"
		  "#MAIL <tempfail@b.example>\n451 4.3.0 Error: queue file write error\n"
		  "421 4.7.0 " HOST " Error: too many errors\n#CLOSE TOO_MANY_ERRORS\n");

	/* the backend's 452 is a recipient overshoot, not an error */
	setup(SMTP_MODE_MX, 1);
	D.cfg.max_errors = 2;
	take(&D);
	say(&D, "EHLO c\r\nMAIL FROM:<a@b.example>\r\n");
	take(&D);
	D.hold = 1;
	for (i = 0; i < 5; i++) {
		CHECK_EQ(D.closed, 0);
		say(&D, "RCPT TO:<x@d.example>\r\n");
		CHECK_EQ(D.p.owed, SMTP_EV_RCPT);
		CHECK_EQ(smtp_proto_answer(&D.p, "452 4.5.3 Too many recipients\r\n", 31), 0);
		pump(&D);
	}
	CHECK_EQ(D.p.errors, 0);
	CHECK_EQ(D.closed, 0);
}

/*
 * Postfix's smtpd_forbidden_commands: an HTTP request or a header line in
 * command state ends the session at once with 221 2.7.0, so a POST body
 * never runs as SMTP; the line is handed to the session for its log.
 */
TEST(non_smtp_commands)
{
	static const char *const lines[] = {
		"GET / HTTP/1.1\r\n", "POST /cgi HTTP/1.0\r\n", "CONNECT 198.18.0.2:25 HTTP/1.1\r\n",
		"put /x\r\n", "HEAD / HTTP/1.1\r\n", "Host: mx.example\r\n", "User-Agent: curl/7.88\r\n",
		"X-Forwarded-For: 198.18.0.9\r\n", NULL
	};
	struct smtp_evinfo ev;
	size_t used = 0, i;
	enum smtp_ev e;

	for (i = 0; lines[i]; i++) {
		setup(SMTP_MODE_MX, 1);
		take(&D);
		e = smtp_proto_input(&D.p, (const uint8_t *)lines[i], strlen(lines[i]), &used, &ev);
		CHECK_EQ(e, SMTP_EV_CLOSE);
		CHECK_EQ(ev.error, SMTP_R_NON_SMTP);
		CHECK_EQ(strncmp(ev.arg, lines[i], strlen(lines[i]) - 2), 0);
		CHECK_EQ(used, strlen(lines[i]));
		drain(&D);
		CHECK_STR(take(&D), "221 2.7.0 Error: I can break rules, too. Goodbye.\n");
		CHECK_EQ(D.p.stat_refusal[SMTP_R_NON_SMTP], 1);
	}
	/* the whole HTTP request, pipelined after a valid EHLO: nothing after the POST runs */
	CHECK_STR(play(SMTP_MODE_MX, (const char *const[]){
			"EHLO c\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n"
			"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n", NULL }),
		  EHLO_REPLY_TLS "#HELO c\n221 2.7.0 Error: I can break rules, too. Goodbye.\n"
		  "#CLOSE NON_SMTP\n");
	/* SMTP lines with a colon are not headers */
	CHECK_STR(play(SMTP_MODE_MX, (const char *const[]){
			"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO: <c@d.example>\r\nQUIT\r\n", NULL }),
		  EHLO_REPLY_TLS "#HELO c\n#MAIL <a@b.example>\n250 2.1.0 Ok\n#RCPT <c@d.example>\n"
		  "250 2.1.5 Ok\n221 2.0.0 Bye\n#QUIT\n");
	/* a colon inside a longer first word is an unknown command, not a header */
	CHECK_STR(play(SMTP_MODE_MX, (const char *const[]){ "A:B: x\r\nQUIT\r\n", NULL }),
		  "500 5.5.2 Error: command not recognized\n221 2.0.0 Bye\n#QUIT\n");
	/* inside DATA, header lines are the message */
	CHECK_STR(play(SMTP_MODE_MX, (const char *const[]){
			"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
			"Host: x\r\nGET / HTTP/1.1\r\n.\r\n", NULL }),
		  EHLO_REPLY_TLS "#HELO c\n#MAIL <a@b.example>\n250 2.1.0 Ok\n#RCPT <c@d.example>\n"
		  "250 2.1.5 Ok\n#DATA\n" BACKEND_354 "#LINE Host: x\n#LINE GET / HTTP/1.1\n#END\n"
		  BACKEND_QUEUED);
}

/* A NUL inside DATA is refused like a bare CR or LF: 521 and close, nothing passed on. */
TEST(nul_in_data)
{
	static const char head[] = "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
				   "ok line\r\n";
	static const char nul[] = "nul\0byte\r\n.\r\n";

	setup(SMTP_MODE_MX, 1);
	take(&D);
	say(&D, head);
	feed(&D, nul, sizeof(nul) - 1);
	CHECK_STR(take(&D), EHLO_REPLY_TLS "#HELO c\n#MAIL <a@b.example>\n250 2.1.0 Ok\n#RCPT <c@d.example>\n"
		  "250 2.1.5 Ok\n#DATA\n" BACKEND_354 "#LINE ok line\n"
		  "521 5.5.2 " HOST " Error: NUL character received\n#CLOSE NUL\n");
	CHECK_EQ(D.p.stat_refusal[SMTP_R_NUL], 1);
	CHECK_STR(smtp_proto_state_name(&D.p), "CLOSED");
}

/* The last command's name (Postfix's "timeout after X"), and a line half read. */
TEST(where)
{
	setup(SMTP_MODE_MX, 1);
	CHECK_STR(smtp_where_names[D.p.where], "CONNECT");
	say(&D, "EHLO c\r\n");
	CHECK_STR(smtp_where_names[D.p.where], "EHLO");
	say(&D, "MAIL FROM:<a@b.example>\r\n");
	CHECK_STR(smtp_where_names[D.p.where], "MAIL");
	say(&D, "RCPT TO:<c@d.example>\r\nNOOP\r\n");
	CHECK_STR(smtp_where_names[D.p.where], "NOOP");
	say(&D, "FOO\r\n");
	CHECK_STR(smtp_where_names[D.p.where], "UNKNOWN");
	say(&D, "DATA\r\nx\r\n");
	CHECK_STR(smtp_where_names[D.p.where], "DATA");
	CHECK(!smtp_proto_mid_line(&D.p));
	say(&D, "half a li");
	CHECK(smtp_proto_mid_line(&D.p));
	say(&D, "ne\r");
	CHECK(smtp_proto_mid_line(&D.p));
	say(&D, "\n.\r\n");
	CHECK(!smtp_proto_mid_line(&D.p));
	CHECK_STR(smtp_where_names[D.p.where], "END-OF-MESSAGE");
	for (int i = 0; i < SMTP_W_COUNT; i++)
		CHECK(smtp_where_names[i] != NULL);
}

/* The disconnect line's counts, n/m as Postfix's smtpd_format_cmd_stats() writes them. */
static const char *stats_line(void)
{
	static char b[256];

	smtp_proto_cmd_stats(&D.p, b, sizeof(b));
	return b;
}

TEST(cmd_stats)
{
	setup(SMTP_MODE_MX, 1);
	CHECK_STR(stats_line(), " commands=0/0");
	say(&D, "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<unknown@d.example>\r\nRCPT TO:<c@d.example>\r\n"
		"DATA\r\nhi\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n");
	CHECK_STR(stats_line(), " ehlo=1 mail=2 rcpt=2/3 data=2 quit=1 commands=8/9");
	/* refused: no valid recipient, then DATA out of sequence */
	setup(SMTP_MODE_MX, 1);
	say(&D, "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<unknown@d.example>\r\nDATA\r\nQUIT\r\n");
	CHECK_STR(stats_line(), " ehlo=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=3/5");
	/* the message refused at its end: data=0/1 */
	setup(SMTP_MODE_MX, 1);
	D.end_answer = "554 5.7.1 Spam\r\n";
	say(&D, "HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nhi\r\n.\r\n");
	CHECK_STR(stats_line(), " helo=1 mail=1 rcpt=1 data=0/1 commands=3/4");
	/* unknown commands, HELP and EXPN (unknown to Postfix), NOOP, RSET, VRFY */
	setup(SMTP_MODE_MX, 1);
	say(&D, "FOO\r\nHELP\r\nEHLO c\r\nEXPN x\r\nNOOP\r\nRSET\r\nVRFY x\r\n");
	CHECK_STR(stats_line(), " ehlo=1 rset=1 noop=1 vrfy=1 unknown=0/3 commands=4/7");
	/* 587 without TLS: MAIL tried, refused 530 */
	setup(SMTP_MODE_SUBMISSION, 1);
	say(&D, "EHLO c\r\nMAIL FROM:<a@b.example>\r\n");
	CHECK_STR(stats_line(), " ehlo=1 mail=0/1 commands=1/2");
	/* STARTTLS counts once TLS is up; EHLO again after it */
	setup(SMTP_MODE_MX, 1);
	say(&D, "EHLO c\r\nSTARTTLS\r\n");
	CHECK_STR(stats_line(), " ehlo=1 starttls=1 commands=2");
	say(&D, "EHLO c\r\nQUIT\r\n");
	CHECK_STR(stats_line(), " ehlo=2 starttls=1 quit=1 commands=4");
	/* AUTH: a failure, then a success */
	setup(SMTP_MODE_MX, 1);
	D.p.tls = 1;
	D.cfg.auth_available = 1;
	say(&D, "EHLO c\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nQUIT\r\n");
	CHECK_STR(stats_line(), " ehlo=1 auth=1/2 quit=1 commands=3/4");
	/* cut short: the buffer's length is respected */
	{
		char b[8];

		CHECK_EQ(smtp_proto_cmd_stats(&D.p, b, sizeof(b)), 7);
		CHECK_STR(b, " ehlo=1");
	}
}

/* Postfix's smtpd_junk_command_limit: past it, each NOOP/RSET/VRFY/... is an error; a delivered message resets it. */
TEST(junk_commands)
{
	setup(SMTP_MODE_MX, 1);
	D.cfg.max_junk = 3;
	D.cfg.max_errors = 2;
	take(&D);
	say(&D, "EHLO c\r\nNOOP\r\nRSET\r\nVRFY x\r\n");
	CHECK_EQ(D.p.errors, 0);
	CHECK_EQ(D.closed, 0);
	/* a delivered message: junk counted afresh */
	say(&D, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nhi\r\n.\r\n");
	CHECK_EQ(D.p.junk, 0);
	say(&D, "NOOP\r\nNOOP\r\nNOOP\r\n");
	CHECK_EQ(D.p.errors, 0);
	take(&D);
	say(&D, "NOOP\r\n");
	CHECK_EQ(D.p.errors, 1);
	CHECK_EQ(D.closed, 0);
	say(&D, "HELP\r\n");
	CHECK_STR(take(&D), "250 2.0.0 Ok\n214 2.0.0 Commands: HELO EHLO STARTTLS MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\n"
		  "421 4.7.0 " HOST " Error: too many errors\n#CLOSE TOO_MANY_ERRORS\n");
	CHECK_EQ(D.closed, 1);
}

/* Count occurrences of needle in the transcript text. */
static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

TEST(back_pressure)
{
	static char buf[8000];
	struct smtp_evinfo ev;
	size_t used = 99, prev;
	unsigned rounds = 0;
	char host[254], big[SMTP_ANSWER_MAX + 1], text[600];
	int i;

	/* a client that sends 1000 NOOPs and reads nothing: the engine stops above the high water */
	setup(SMTP_MODE_MX, 1);
	D.cfg.max_junk = 100000;        /* back-pressure here, not the junk limit */
	take(&D);
	for (i = 0; i < 1000; i++)
		memcpy(buf + i * 6, "NOOP\r\n", 6);
	D.no_drain = 1;
	feed(&D, buf, 6000);
	CHECK(D.p.out_len > SMTP_OUT_HIGH);
	CHECK(D.p.out_len <= SMTP_OUT_HIGH + SMTP_STEP_OUT);
	CHECK(D.rxlen > 0);
	CHECK_EQ(6000 - D.rxlen, D.p.out_len / 14 * 6);
	CHECK_EQ(smtp_proto_input(&D.p, D.rxq, D.rxlen, &used, &ev), SMTP_EV_NEED_INPUT);
	CHECK_EQ(used, 0);
	/* it reads again as the output drains, and no reply is lost */
	while (D.rxlen > 0 && rounds++ < 100) {
		prev = D.rxlen;
		drain(&D);
		pump(&D);
		QCHECK(D.rxlen < prev);
		QCHECK(D.p.out_len <= SMTP_OUT_MAX);
	}
	drain(&D);
	CHECK_EQ(D.rxlen, 0);
	CHECK_EQ(count(take(&D), "250 2.0.0 Ok\n"), 1000);

	/* the biggest reply there is, over and over: never past SMTP_OUT_MAX */
	setup(SMTP_MODE_MX, 1);
	memset(host, 'h', 253);
	host[253] = '\0';
	D.cfg.hostname = host;
	drain(&D);
	take(&D);
	D.no_drain = 1;
	for (i = 0; i < 300; i++)
		memcpy(buf + i * 8, "EHLO c\r\n", 8);
	feed(&D, buf, 2400);
	CHECK(D.p.out_len <= SMTP_OUT_HIGH + SMTP_STEP_OUT);
	rounds = 0;
	while (D.rxlen > 0 && rounds++ < 1000) {
		drain(&D);
		pump(&D);
	}
	drain(&D);
	CHECK_EQ(count(take(&D), "250 STARTTLS\n"), 300);

	/* full buffer, then an owed event: its longest answer and a reply still fit */
	setup(SMTP_MODE_MX, 1);
	say(&D, "EHLO c\r\n");
	take(&D);
	D.no_drain = 1;
	D.hold = 1;
	/* as many NOOPs as fit under the high-water mark (each reply is 14 octets) */
	for (i = 0; i < SMTP_OUT_HIGH / 14; i++)
		memcpy(buf + i * 6, "NOOP\r\n", 6);
	strcpy(buf + (SMTP_OUT_HIGH / 14) * 6, "MAIL FROM:<a@b.example>\r\n");
	say(&D, buf);
	CHECK_EQ(D.p.owed, SMTP_EV_MAIL);
	CHECK_EQ(D.p.out_len, (SMTP_OUT_HIGH / 14) * 14);
	/* ten lines of 100 octets and one of 24: exactly SMTP_ANSWER_MAX */
	memset(big, 'z', sizeof(big));
	for (i = 0; i < 1000; i += 100) {
		memcpy(big + i, "250-2.1.0 ", 10);
		memcpy(big + i + 98, "\r\n", 2);
	}
	memcpy(big + 1000, "250 2.1.0 ", 10);
	memcpy(big + SMTP_ANSWER_MAX - 2, "\r\n", 2);
	CHECK_EQ(smtp_proto_answer(&D.p, big, SMTP_ANSWER_MAX), 0);
	memset(text, 'w', sizeof(text));
	text[sizeof(text) - 1] = '\0';
	CHECK_EQ(smtp_proto_reply(&D.p, 421, "4.4.2", "%s", text), 0);
	CHECK(D.p.out_len <= SMTP_OUT_MAX);
	/* an answer longer than SMTP_ANSWER_MAX is refused whole */
	setup(SMTP_MODE_MX, 1);
	D.hold = 1;
	say(&D, "EHLO c\r\nMAIL FROM:<a@b.example>\r\n");
	big[SMTP_ANSWER_MAX - 2] = 'z';
	big[SMTP_ANSWER_MAX - 1] = '\r';
	big[SMTP_ANSWER_MAX] = '\n';
	CHECK_EQ(smtp_proto_answer(&D.p, big, SMTP_ANSWER_MAX + 1), -1);
	CHECK_EQ(D.p.owed, SMTP_EV_MAIL);
}

TEST(misc_commands)
{
	static const char *const s[] = {
		"VRFY\r\n",
		"VRFY bob\r\n",
		"EXPN staff\r\n",
		"HELP\r\n",
		"help me\r\n",
		"NOOP\r\n",
		"noop whatever\r\n",
		"NOOP   \r\n",
		"RSET\r\n",
		"QUIT\r\n",
		"NOOP\r\n",
		NULL
	};

	CHECK_STR(play(SMTP_MODE_MX, s),
		  "501 5.5.4 Syntax: VRFY address\n"
		  "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\n"
		  "502 5.5.1 Error: command not implemented\n"
		  "214 2.0.0 Commands: HELO EHLO STARTTLS MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\n"
		  "214 2.0.0 Commands: HELO EHLO STARTTLS MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\n"
		  "250 2.0.0 Ok\n"
		  "250 2.0.0 Ok\n"
		  "250 2.0.0 Ok\n"
		  "250 2.0.0 Ok\n"
		  "#RSET\n"
		  "221 2.0.0 Bye\n"
		  "#QUIT\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "QUIT");
	CHECK_EQ(D.p.errors, 2);
}

TEST(answers)
{
	static const char *const bad[] = {
		"25 Ok\r\n", "250 Ok", "250-Ok\r\n", "250 a\r\n250 b\r\n", "250-a\r\n251 b\r\n",
		"354 go ahead\r\n", "150 x\r\n", "250 a\nb\r\n", "250 a\rb\r\n", "250Ok\r\n",
		"650 x\r\n", "", "\r\n", NULL
	};
	int i;

	setup(SMTP_MODE_MX, 1);
	CHECK_EQ(smtp_proto_answer(&D.p, "250 Ok\r\n", 8), -1);		/* nothing owed */
	CHECK_EQ(smtp_proto_answerf(&D.p, 250, "2.0.0", "Ok"), -1);
	D.hold = 1;
	say(&D, "EHLO c\r\nMAIL FROM:<a@b.example>\r\n");
	take(&D);
	for (i = 0; bad[i]; i++)
		QCHECK(smtp_proto_answer(&D.p, bad[i], strlen(bad[i])) == -1);
	CHECK_EQ(smtp_proto_answer(&D.p, "250 a\0b\r\n", 9), -1);
	CHECK_EQ(D.p.owed, SMTP_EV_MAIL);
	CHECK_EQ(D.p.out_len, 0);

	/* a multi-line reply passes through; missing enhanced codes are added */
	CHECK_EQ(smtp_proto_answer(&D.p, "250-first\r\n250 2.1.0 second\r\n", 29), 0);
	drain(&D);
	CHECK_STR(take(&D), "250-2.0.0 first\n250 2.1.0 second\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "MAIL");

	say(&D, "RCPT TO:<c@d.example>\r\n");
	CHECK_EQ(smtp_proto_answer(&D.p, "250\r\n", 5), 0);
	drain(&D);
	CHECK_STR(take(&D), "#RCPT <c@d.example>\n250 2.0.0\n");

	/* DATA: only 354 or a refusal */
	say(&D, "DATA\r\n");
	CHECK_EQ(smtp_proto_answerf(&D.p, 250, "2.0.0", "Ok"), -1);
	CHECK_EQ(smtp_proto_answerf(&D.p, 354, NULL, "End data with <CR><LF>.<CR><LF>"), 0);
	drain(&D);
	CHECK_STR(take(&D), "#DATA\n" BACKEND_354);
	CHECK(smtp_proto_in_data(&D.p));

	/* end of DATA refused: the transaction is over all the same */
	say(&D, "x\r\n.\r\n");
	CHECK_EQ(smtp_proto_answerf(&D.p, 451, "4.4.1", "Error: backend %s", "failed"), 0);
	drain(&D);
	CHECK_STR(take(&D), "#LINE x\n#END\n451 4.4.1 Error: backend failed\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "HELO");

	/* replies that answer nothing: one line each, control characters blanked */
	CHECK_EQ(smtp_proto_reply(&D.p, 421, "4.4.2", "%s Error: timeout exceeded", HOST), 0);
	CHECK_EQ(smtp_proto_reply(&D.p, 554, NULL, "a\r\nb"), 0);
	CHECK_EQ(smtp_proto_reply(&D.p, 99, NULL, "no"), -1);
	drain(&D);
	CHECK_STR(take(&D), "421 4.4.2 " HOST " Error: timeout exceeded\n554 5.0.0 a  b\n");
}

TEST(state_names)
{
	setup(SMTP_MODE_MX, 1);
	D.hold = 1;
	CHECK_STR(smtp_proto_state_name(&D.p), "CONNECTED");
	say(&D, "EHLO c\r\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "HELO");
	say(&D, "MAIL FROM:<a@b.example>\r\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "HELO");	/* until the backend says yes */
	answer(&D);
	CHECK_STR(smtp_proto_state_name(&D.p), "MAIL");
	say(&D, "RCPT TO:<c@d.example>\r\n");
	answer(&D);
	CHECK_STR(smtp_proto_state_name(&D.p), "RCPT");
	say(&D, "DATA\r\n");
	answer(&D);
	CHECK_STR(smtp_proto_state_name(&D.p), "DATA");
	CHECK_EQ(smtp_proto_in_data(&D.p), 1);
	say(&D, ".\r\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "HELO");
	CHECK_EQ(smtp_proto_in_data(&D.p), 0);
	answer(&D);
	say(&D, "QUIT\r\n");
	CHECK_STR(smtp_proto_state_name(&D.p), "QUIT");
}

/* ---- randomized ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* xorshift64*: a repeatable stream. */
static uint32_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

static const char *const commands_pool[] = {
	"EHLO c\r\n", "HELO h\r\n", "STARTTLS\r\n", "RSET\r\n", "NOOP\r\n", "VRFY x\r\n",
	"HELP\r\n", "EXPN y\r\n", "MAIL FROM:<>\r\n", "MAIL FROM:<a@b.example> SIZE=99999999999\r\n",
	"MAIL FROM:<\"q\\\"x\"@[1.2.3.4]> BODY=8BITMIME SMTPUTF8\r\n", "RCPT TO:<unknown@d>\r\n",
	"RCPT TO:<Postmaster>\r\n", "DATA\r\n", "BDAT 10\r\n", ".\r\n", "STARTTLS x\r\n",
	"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", "AUTH PLAIN\r\n", "AUTH LOGIN\r\nYWxpY2U=\r\n",
	"AUTH PLAIN AGFsaWNlAHdyb25n\r\n", "AUTH LOGIN YWxpY2U=\r\n", "*\r\n", "=\r\n",
	"MAIL FROM:<a@b.example> AUTH=<>\r\n",
};

static const char *const noise_pool[] = {
	"\n", "\r", "\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n", "\xff", "\xc3\xa9", " ", "\t",
};

/* Append n octets to the input under construction (bounded by max). */
static void put(uint8_t *in, size_t *len, size_t max, const void *s, size_t n)
{
	if (n > max - *len)
		n = max - *len;
	memcpy(in + *len, s, n);
	*len += n;
}

/* Append a random line of n printable octets (a leading dot now and then), then CRLF. */
static void put_text(uint8_t *in, size_t *len, size_t max, size_t n)
{
	size_t i;

	for (i = 0; i < n && *len < max; i++)
		in[(*len)++] = (uint8_t)(i == 0 && rnd() % 8 == 0 ? '.' : 0x20 + rnd() % 95);
	put(in, len, max, "\r\n", 2);
}

/*
 * One client's input: mostly well-formed transactions (so that DATA, the
 * end of DATA, SIZE and the line limits are reached), commands in any
 * order, garbage lines, and now and then bare CR/LF or raw random octets.
 */
static size_t gen_client(uint8_t *in, size_t max)
{
	size_t len = 0, target = 64 + rnd() % 20000;
	char b[64];

	if (rnd() % 5)
		put(in, &len, max, "EHLO c\r\n", 8);
	while (len < target && len < max) {
		uint32_t r = rnd() % 100;

		if (r < 35) {
			unsigned n = 1 + rnd() % 6, i;

			put(in, &len, max, "MAIL FROM:<a@b.example>\r\n", 25);
			for (i = 0; i < n; i++) {
				int k = snprintf(b, sizeof(b), "RCPT TO:<r%u@d.example>\r\n", rnd() % 100);

				put(in, &len, max, b, (size_t)k);
			}
			put(in, &len, max, "DATA\r\n", 6);
			for (i = rnd() % 30; i > 0; i--) {
				uint32_t l = rnd() % 20;

				put_text(in, &len, max, l < 15 ? rnd() % 120 : l < 19 ? 990 + rnd() % 20
							    : rnd() % 3000);
			}
			if (rnd() % 10)
				put(in, &len, max, ".\r\n", 3);
		} else if (r < 75) {
			const char *c = commands_pool[rnd() % (sizeof(commands_pool) / sizeof(commands_pool[0]))];

			put(in, &len, max, c, strlen(c));
		} else if (r < 76) {
			put(in, &len, max, "QUIT\r\n", 6);
		} else if (r < 95) {
			put_text(in, &len, max, rnd() % 5 ? rnd() % 40 : 400 + rnd() % 300);
		} else if (r < 99) {
			const char *c = noise_pool[rnd() % (sizeof(noise_pool) / sizeof(noise_pool[0]))];

			put(in, &len, max, c, strlen(c));
		} else {
			unsigned n = rnd() % 16;

			while (n-- > 0 && len < max)
				in[len++] = (uint8_t)rnd();
		}
	}
	return len;
}

static const char *const answers_pool[] = {
	"250 2.1.0 Ok\r\n", "354 go\r\n", "451 4.3.0 later\r\n", "550-5.1.1 a\r\n550 5.1.1 b\r\n",
	"250\r\n", "garbage", "354 x\r\n", "221 2.0.0 x\r\n",
};

/* The random test's backend: mostly yes, sometimes no, sometimes nonsense. */
static const char *random_answer(int owed)
{
	if (rnd() % 10 == 0)
		return answers_pool[rnd() % (sizeof(answers_pool) / sizeof(answers_pool[0]))];
	if (rnd() % 8 == 0)
		return "550 5.7.1 no\r\n";
	return owed == SMTP_EV_DATA ? "354 go ahead\r\n" : "250 2.0.0 Ok\r\n";
}

/* Random input in random chunks, a random backend and a slow client: the engine holds its bounds. */
TEST(random_input)
{
	static uint8_t in[1 << 16];
	unsigned iter, fails_before = (unsigned)t_fail, seen[SMTP_EV_CLOSE + 2] = { 0 }, i;

	for (iter = 0; iter < 3000; iter++) {
		size_t inlen, fed = 0, steps = 0, stall = 0;

		smtp_proto_free(&D.p);
		memset(&D, 0, offsetof(struct drv, rxq));
		D.cfg.hostname = rnd() % 8 ? HOST : NULL;
		D.cfg.mode = (enum smtp_mode)(rnd() % 3);
		D.cfg.tls_available = rnd() % 2;
		D.cfg.auth_available = rnd() % 4 != 0;
		D.cfg.auth_required = rnd() % 4 == 0;
		D.cfg.size_limit = rnd() % 2 ? 0 : rnd() % 5000;
		D.cfg.max_rcpts = rnd() % 5;
		D.cfg.max_errors = rnd() % 2 ? 1000 : rnd() % 30;
		smtp_proto_free(&D.p);
		smtp_proto_init(&D.p, &D.cfg, (int)(rnd() % 2));
		if (rnd() % 2)
			smtp_proto_greet(&D.p);
		inlen = gen_client(in, sizeof(in));
		D.rxlen = 0;
		while ((fed < inlen || D.rxlen > 0) && steps++ < 100000) {
			struct smtp_evinfo ev;
			size_t used = (size_t)-1, chunk, before_out = D.p.out_len;
			enum smtp_ev e;

			chunk = rnd() % 3000;
			if (chunk > inlen - fed)
				chunk = inlen - fed;
			memcpy(D.rxq + D.rxlen, in + fed, chunk);
			D.rxlen += chunk;
			fed += chunk;
			e = smtp_proto_input(&D.p, D.rxq, D.rxlen, &used, &ev);
			QCHECK(used <= D.rxlen);
			QCHECK(D.p.out_len <= SMTP_OUT_MAX);
			/* one input step adds at most one step's worth of output */
			QCHECK(D.p.out_len <= (before_out > SMTP_OUT_HIGH + SMTP_STEP_OUT
					       ? before_out : SMTP_OUT_HIGH + SMTP_STEP_OUT));
			QCHECK(D.p.line_len <= SMTP_TEXT_MAX - 2);
			if (used > D.rxlen)
				break;
			if (e == SMTP_EV_NEED_INPUT && used < D.rxlen)
				QCHECK(D.p.out_len > SMTP_OUT_HIGH || strcmp(smtp_proto_state_name(&D.p), "PREGREET") == 0 ||
				       strcmp(smtp_proto_state_name(&D.p), "STARTTLS") == 0);
			if (e == SMTP_EV_WAIT)
				QCHECK(used == 0 && D.p.owed != 0);
			if (e == SMTP_EV_DATA_LINE && ev.len >= 2 && ev.data[ev.len - 2] == '\r' &&
			    ev.data[ev.len - 1] == '\n') {
				/* 1000 octets with CRLF, one more for a transparency dot */
				QCHECK(ev.len <= SMTP_TEXT_MAX || (ev.len == SMTP_TEXT_MAX + 1 && ev.data[0] == '.'));
				QCHECK(memchr(ev.data, '\n', ev.len - 1) == NULL);
			} else if (e == SMTP_EV_DATA_LINE) {
				/* a part of a longer line: no line end in it */
				QCHECK(ev.len == SMTP_TEXT_MAX - 2 || (ev.len == SMTP_TEXT_MAX - 1 && ev.data[0] == '.'));
				QCHECK(memchr(ev.data, '\n', ev.len) == NULL && memchr(ev.data, '\r', ev.len) == NULL);
			}
			for (size_t i = 0; i < used && i < D.rxlen; i++) {
				memmove(D.tail, D.tail + 1, 4);
				D.tail[4] = D.rxq[i];
			}
			/* the end of DATA is CRLF.CRLF and nothing else */
			if (e == SMTP_EV_DATA_END)
				QCHECK(memcmp(D.tail, "\r\n.\r\n", 5) == 0);
			if (e == SMTP_EV_STARTTLS) {
				D.rxlen = 0;
				used = 0;
				if (rnd() % 4)
					smtp_proto_tls_started(&D.p);
			}
			memmove(D.rxq, D.rxq + used, D.rxlen - used);
			D.rxlen -= used;
			seen[e]++;
			if (D.p.out_len > SMTP_OUT_HIGH)
				seen[SMTP_EV_CLOSE + 1]++;
			if (e == SMTP_EV_QUIT || e == SMTP_EV_CLOSE) {
				/* the next client on a fresh session */
				D.mid_line = 0;
				smtp_proto_free(&D.p);
				smtp_proto_init(&D.p, &D.cfg, 0);
				smtp_proto_greet(&D.p);
			}
			if (D.p.owed && rnd() % 3) {
				const char *a = random_answer(D.p.owed);
				size_t out = D.p.out_len;

				if (smtp_proto_answer(&D.p, a, strlen(a)) == 0)
					QCHECK(D.p.out_len > out);
				else
					QCHECK(D.p.out_len == out);
			}
			if (rnd() % 16 == 0) {
				size_t out = D.p.out_len;
				int rc = smtp_proto_reply(&D.p, 421, "4.4.2", "%s", "Error: timeout");

				if (out <= SMTP_OUT_HIGH + SMTP_STEP_OUT + SMTP_ANSWER_MAX)
					QCHECK(rc == 0);
			}
			if (stall == 0 && rnd() % 64 == 0)
				stall = rnd() % 500;	/* the client stops reading for a while */
			if (stall > 0) {
				stall--;
			} else if (rnd() % 4) {
				size_t len;
				const char *o = smtp_proto_output(&D.p, &len);
				size_t n = rnd() % 3 ? len : rnd() % (len + 1), i;

				/* every line the client reads is "ddd" SP/- text CRLF */
				for (i = 0; i < n; i++)
					if (i == 0 ? !D.mid_line : o[i - 1] == '\n')
						QCHECK(i + 4 <= len && o[i] >= '2' && o[i] <= '5' &&
						       (o[i + 3] == ' ' || o[i + 3] == '-' || o[i + 3] == '\r'));
				if (n > 0)
					D.mid_line = o[n - 1] != '\n';
				smtp_proto_output_done(&D.p, n);
			}
			if (D.p.state == 0 && rnd() % 2)	/* PREGREET: the handshake ends */
				smtp_proto_greet(&D.p);
			if (strcmp(smtp_proto_state_name(&D.p), "STARTTLS") == 0) {
				D.rxlen = 0;
				smtp_proto_tls_started(&D.p);
			}
		}
		QCHECK(steps < 100000);
	}
	CHECK_EQ((unsigned)t_fail, fails_before);
	/* it went everywhere: every event, and above the high water */
	for (i = SMTP_EV_HELO; i <= SMTP_EV_CLOSE + 1; i++)
		if (getenv("SMTP_FUZZ_STATS") != NULL)
			fprintf(stderr, "  %s: %u\n", i <= SMTP_EV_CLOSE ? ev_names[i] : "above high water", seen[i]);
	for (i = SMTP_EV_HELO; i <= SMTP_EV_CLOSE + 1; i++)
		QCHECK(seen[i] > 0);
	CHECK(seen[SMTP_EV_DATA_END] > 100);
}

/*
 * An idle session holds no line buffer: it exists while a line is half read,
 * an answer is owed or an AUTH exchange runs, and the bytes of a line split
 * across reads survive the release points in between.
 */
TEST(work_buffers)
{
	setup(SMTP_MODE_MX, 1);
	CHECK(D.p.wk == NULL);
	say(&D, "EHLO c.example\r\n");
	take(&D);
	CHECK(D.p.wk == NULL);
	say(&D, "MAIL FROM:<a@exa");
	CHECK(D.p.wk != NULL);
	CHECK_STR(take(&D), "");
	say(&D, "mple.org>\r\n");
	CHECK_STR(take(&D), "#MAIL <a@example.org>\n250 2.1.0 Ok\n");
	CHECK(D.p.wk == NULL);
	/* held while the backend owes its answer, the path readable meanwhile */
	D.hold = 1;
	say(&D, "RCPT TO:<b@example.net>\r\n");
	CHECK(D.p.wk != NULL);
	CHECK_STR(smtp_proto_arg(&D.p), "b@example.net");
	D.hold = 0;
	answer(&D);
	pump(&D);
	CHECK(D.p.wk == NULL);
	CHECK_STR(smtp_proto_arg(&D.p), "");
	CHECK_STR(take(&D), "#RCPT <b@example.net>\n250 2.1.5 Ok\n");
	/* a message line split in two */
	say(&D, "DATA\r\nSubject: hel");
	CHECK(D.p.wk != NULL);
	say(&D, "lo\r\n.\r\n");
	CHECK_STR(take(&D), "#DATA\n354 End data with <CR><LF>.<CR><LF>\n#LINE Subject: hello\n#END\n"
		  "250 2.0.0 Ok: queued as 4F2A1\n");
	CHECK(D.p.wk == NULL);
	/* AUTH LOGIN keeps the user between its two responses */
	auth_session(SMTP_MODE_MX);
	say(&D, "AUTH LOGIN\r\nYWxpY2U=\r\n");
	CHECK(D.p.wk != NULL);
	say(&D, "c2VjcmV0\r\n");
	CHECK_STR(take(&D), "334 VXNlcm5hbWU6\n334 UGFzc3dvcmQ6\n#AUTH alice secret\n"
		  "235 2.7.0 Authentication successful\n");
	CHECK(D.p.wk == NULL);
}

/*
 * malloc fails on demand (the test is linked with -Wl,--wrap=malloc): every
 * call while malloc_ok is 0, or only the malloc_fail_nth-th call from now.
 */
static int malloc_ok = -1, malloc_fail_nth;
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
	if (malloc_ok == 0 || (malloc_fail_nth > 0 && --malloc_fail_nth == 0))
		return NULL;
	return __real_malloc(n);
}

/*
 * No memory for the line buffer: 421 4.3.0 when the reply can be queued, and
 * close either way; nothing read, nothing crashes.
 */
TEST(out_of_memory)
{
	size_t used = 1;
	struct smtp_evinfo ev;

	setup(SMTP_MODE_MX, 1);
	say(&D, "EHLO c.example\r\n");
	take(&D);
	/* the output buffer is held (a reply waits), the line buffer cannot be had */
	D.no_drain = 1;
	say(&D, "NOOP\r\n");
	CHECK(D.p.out != NULL);
	D.rxlen = 0;
	malloc_ok = 0;
	CHECK_EQ(smtp_proto_input(&D.p, (const uint8_t *)"MAIL FROM:<a@b.c>\r\n", 20, &used, &ev), SMTP_EV_CLOSE);
	malloc_ok = -1;
	CHECK_EQ(used, 0);
	CHECK_EQ(ev.error, SMTP_R_NO_MEMORY);
	CHECK_EQ(D.p.stat_refusal[SMTP_R_NO_MEMORY], 1);
	D.no_drain = 0;
	drain(&D);
	CHECK_STR(take(&D), "250 2.0.0 Ok\n421 4.3.0 " HOST " Error: insufficient system resources\n");
	/* with no output buffer either: the close alone */
	setup(SMTP_MODE_MX, 1);
	malloc_ok = 0;
	CHECK_EQ(smtp_proto_input(&D.p, (const uint8_t *)"EHLO c\r\n", 8, &used, &ev), SMTP_EV_CLOSE);
	malloc_ok = -1;
	CHECK_EQ(ev.error, SMTP_R_NO_MEMORY);
	CHECK(D.p.wk == NULL);
	/* the line buffer is had, the HELO name's copy is not */
	setup(SMTP_MODE_MX, 1);
	take(&D);
	malloc_fail_nth = 2;
	CHECK_EQ(smtp_proto_input(&D.p, (const uint8_t *)"EHLO c\r\n", 8, &used, &ev), SMTP_EV_CLOSE);
	CHECK_EQ(malloc_fail_nth, 0);
	CHECK_EQ(ev.error, SMTP_R_NO_MEMORY);
	CHECK_STR(D.p.helo, "");
	drain(&D);
	CHECK_STR(take(&D), "421 4.3.0 " HOST " Error: insufficient system resources\n");
}

/*
 * The worker's spares (common/spare.h): the engine's output and line
 * buffers go back there when drained, and the next command or session
 * takes them from there, even when malloc would fail; the line buffer goes
 * back wiped of what an AUTH exchange left in it (user, password). A spare
 * stack keeps at most SPARE_MAX blocks, and never hands out a block of
 * another size than asked for.
 */
TEST(spare_buffers)
{
	static struct spare out, wk, odd;
	static const uint8_t zero[sizeof(struct smtp_work)];
	struct smtp_proto p2;
	const void *outb, *wkb;
	void *b;
	unsigned i;

	auth_session(SMTP_MODE_MX);
	D.cfg.spare_out = &out;
	D.cfg.spare_wk = &wk;
	say(&D, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	CHECK_STR(take(&D), "#AUTH alice secret\n235 2.7.0 Authentication successful\n");
	CHECK_EQ(out.n, 1);
	CHECK_EQ(wk.n, 1);
	CHECK_EQ(wk.size, sizeof(struct smtp_work));
	outb = out.blk[0];
	wkb = wk.blk[0];
#if defined(__SANITIZE_ADDRESS__)
	/* kept blocks are poisoned: a use after spare_put() is an ASan report */
	CHECK(__asan_address_is_poisoned(wkb) && __asan_address_is_poisoned(outb));
#endif
	b = spare_get(&wk, sizeof(struct smtp_work));
	CHECK(b == wkb);
	CHECK(memcmp(b, zero, sizeof(zero)) == 0);
	spare_put(&wk, b, sizeof(struct smtp_work));
	/* the next command takes both again; its reply waits in the same output buffer */
	D.no_drain = 1;
	say(&D, "MAIL FROM:<a@b.example>\r\n");
	CHECK(D.p.out == outb);
	CHECK_EQ(out.n, 0);
	CHECK_EQ(wk.n, 1);
	CHECK(wk.blk[0] == wkb);
	D.no_drain = 0;
	drain(&D);
	CHECK_STR(take(&D), "#MAIL <a@b.example>\n250 2.1.0 Ok\n");
	CHECK_EQ(out.n, 1);
	/* a new session's greeting: from the spares even with malloc failing */
	malloc_ok = 0;
	smtp_proto_init(&p2, &D.cfg, 0);
	malloc_ok = -1;
	CHECK(p2.out == outb);
	CHECK_EQ(out.n, 0);
	smtp_proto_free(&p2);
	CHECK_EQ(out.n, 1);
	/* and with none left, malloc's failure is the engine's as before */
	smtp_proto_init(&p2, &D.cfg, SMTP_INIT_NO_BANNER);
	b = spare_get(&out, SMTP_OUT_MAX);
	malloc_ok = 0;
	smtp_proto_greet(&p2);
	malloc_ok = -1;
	CHECK(p2.out == NULL);
	spare_put(&out, b, SMTP_OUT_MAX);
	smtp_proto_free(&p2);
	/* bounded: the blocks beyond SPARE_MAX are freed (ASan counts any leak) */
	for (i = 0; i < SPARE_MAX + 3; i++)
		spare_put(&out, malloc(SMTP_OUT_MAX), SMTP_OUT_MAX);
	CHECK_EQ(out.n, SPARE_MAX);
	/* one size a stack: another size is malloc'd, and freed when given back */
	spare_put(&odd, malloc(16), 16);
	b = spare_get(&odd, 32);
	CHECK(b != NULL && b != odd.blk[0]);
	CHECK_EQ(odd.n, 1);
	spare_put(&odd, b, 32);
	CHECK_EQ(odd.n, 1);
	CHECK_EQ(odd.size, 16);
	/* emptied, a stack takes the next size given back */
	free(spare_get(&odd, 16));
	CHECK_EQ(odd.n, 0);
	spare_put(&odd, malloc(32), 32);
	CHECK_EQ(odd.size, 32);
	spare_put(NULL, spare_get(NULL, 8), 8);
	smtp_proto_free(&D.p);
	D.cfg.spare_out = D.cfg.spare_wk = NULL;
	spare_drain(&out);
	spare_drain(&wk);
	spare_drain(&odd);
	CHECK_EQ(out.n + wk.n + odd.n, 0);
}

int main(void)
{
	RUN(greeting);
	RUN(ehlo_keywords);
	RUN(helo);
	RUN(full_transaction);
	RUN(split_everywhere);
	RUN(pipelining_waits);
	RUN(mail_rcpt_syntax);
	RUN(path_length);
	RUN(submission_needs_tls);
	RUN(starttls);
	RUN(auth);
	RUN(auth_454);
	RUN(data_verbatim);
	RUN(bare_newlines_in_commands);
	RUN(smuggling);
	RUN(command_too_long);
	RUN(data_line_long);
	RUN(size_limit);
	RUN(too_many_recipients);
	RUN(too_many_errors);
	RUN(backend_refusals_are_errors);
	RUN(non_smtp_commands);
	RUN(nul_in_data);
	RUN(smtputf8_declared);
	RUN(helo_neutered);
	RUN(path_without_brackets);
	RUN(where);
	RUN(cmd_stats);
	RUN(junk_commands);
	RUN(back_pressure);
	RUN(misc_commands);
	RUN(answers);
	RUN(state_names);
	RUN(work_buffers);
	RUN(out_of_memory);
	RUN(spare_buffers);
	RUN(random_input);
	smtp_proto_free(&D.p);
	return t_done("test_smtp_proto");
}
