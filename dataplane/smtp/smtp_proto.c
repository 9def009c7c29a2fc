/*
 * smtp_proto.c - the SMTP server protocol engine (see smtp_proto.h): a
 * resumable line reader that bounds every line before its CRLF and refuses
 * bare CR or LF, a table of commands with the states each is allowed in,
 * the MAIL/RCPT path and parameter syntax of RFC 5321/1870/6152/6531, the
 * STARTTLS order of RFC 3207, the DATA phase with OpenSMTPD's delayed
 * reject, and a bounded output buffer. Bytes in, replies and events out:
 * libc only, no I/O; the only allocation is the output buffer, held while
 * replies wait.
 *
 * Reply texts follow Postfix's smtpd where it has one, so logs and client
 * behaviour look familiar to a postmaster.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_proto.h"
#include "common/strutil.h"
#include "common/spare.h"

#define HOST_SHOW        253	/* longest hostname put in a reply (a DNS name) */
#define TOKEN_SHOW       64	/* longest piece of client text echoed in a reply */
#define CMD_TEXT_MAX     (SMTP_CMD_MAX - 2)	/* command octets before CRLF */
#define DATA_TEXT_MAX    (SMTP_TEXT_MAX - 2)	/* message line octets before CRLF */
#define PATH_MAX_OCTETS  256	/* RFC 5321 4.5.3.1.3, brackets included */
#define DEFAULT_MAX_RCPTS  100
#define DEFAULT_MAX_ERRORS 10
#define DEFAULT_MAX_JUNK 100
#define RCPT_OVERSHOOT   1000	/* 452s that do not count as errors (Postfix) */

/*
 * Output budget: the engine reads a line only while out_len <= SMTP_OUT_HIGH;
 * one line queues at most SMTP_STEP_OUT (the longest is an error reply plus
 * the 421, or the EHLO reply, both under 400 octets with a 253-octet
 * hostname); an owed event queues nothing, its answer at most
 * SMTP_ANSWER_MAX; the session may add one smtp_proto_reply().
 */
_Static_assert(SMTP_OUT_HIGH + 2 * SMTP_STEP_OUT + SMTP_ANSWER_MAX <= SMTP_OUT_MAX,
	       "output buffer too small for the reply budget");
_Static_assert(SMTP_ADDR_MAX + 1 >= PATH_MAX_OCTETS - 1, "arg cannot hold a mailbox");
_Static_assert(sizeof(((struct smtp_work *)0)->line) >= DATA_TEXT_MAX + 3,
	       "line cannot hold a text line and its CRLF");

/* Session states (RFC 5321 4.1.4); names in state_names[]. */
enum smtp_state {
	S_PREGREET = 0,		/* SMTPS: TLS handshake first, no greeting yet */
	S_CONNECTED,		/* greeted, no HELO/EHLO yet */
	S_HELO,			/* HELO/EHLO done, no transaction */
	S_MAIL,			/* MAIL accepted, no recipient accepted yet */
	S_RCPT,			/* at least one recipient accepted */
	S_DATA,			/* inside the message, after 354 */
	S_STARTTLS,		/* 220 to STARTTLS queued: input ignored until TLS is up */
	S_AUTH,			/* 334 sent: the next line is a SASL response, not a command */
	S_QUIT,			/* 221 queued: input ignored */
	S_CLOSED,		/* 421/521 queued: input ignored */
	S_COUNT
};

const char *const smtp_where_names[SMTP_W_COUNT] = {
	[SMTP_W_CONNECT] = "CONNECT", [SMTP_W_HELO] = "HELO", [SMTP_W_EHLO] = "EHLO",
	[SMTP_W_STARTTLS] = "STARTTLS", [SMTP_W_AUTH] = "AUTH", [SMTP_W_MAIL] = "MAIL",
	[SMTP_W_RCPT] = "RCPT", [SMTP_W_DATA] = "DATA", [SMTP_W_END_OF_MESSAGE] = "END-OF-MESSAGE",
	[SMTP_W_RSET] = "RSET", [SMTP_W_NOOP] = "NOOP", [SMTP_W_QUIT] = "QUIT", [SMTP_W_HELP] = "HELP",
	[SMTP_W_VRFY] = "VRFY", [SMTP_W_EXPN] = "EXPN", [SMTP_W_UNKNOWN] = "UNKNOWN",
};

static const char *const state_names[S_COUNT] = {
	[S_PREGREET] = "PREGREET",
	[S_CONNECTED] = "CONNECTED",
	[S_HELO] = "HELO",
	[S_MAIL] = "MAIL",
	[S_RCPT] = "RCPT",
	[S_DATA] = "DATA",
	[S_STARTTLS] = "STARTTLS",
	[S_AUTH] = "AUTH",
	[S_QUIT] = "QUIT",
	[S_CLOSED] = "CLOSED",
};

#define B(s)        (1u << (s))
#define ANY_CMD     (B(S_CONNECTED) | B(S_HELO) | B(S_MAIL) | B(S_RCPT))
#define NO_TX       (B(S_CONNECTED) | B(S_HELO))
#define IN_TX       (B(S_MAIL) | B(S_RCPT))

/*
 * A command handler: arg is the text after the verb (spaces skipped,
 * trailing whitespace trimmed, NUL-terminated), rest the input bytes
 * already received after this line. Returns 0 with *e set to the event
 * for the session (SMTP_EV_NEED_INPUT: none, read on), or -1 when it
 * refused the command (reply queued; counts as an error).
 */
typedef int (*cmd_fn)(struct smtp_proto *p, const char *arg, size_t rest,
		      struct smtp_evinfo *ev, enum smtp_ev *e);

struct smtp_cmd {
	const char *verb;
	unsigned states;	/* B(state) mask where the handler runs */
	int pre_tls;		/* allowed before STARTTLS on 587 */
	int last;		/* ends a pipelining group (RFC 2920 3.1, RFC 3207 4.2) */
	cmd_fn handler;
	const char *oos;	/* reply out of sequence (see refuse_sequence()) */
	enum smtp_where where;	/* its name in logs and counters */
	int junk;		/* moves no mail forward: counted against max_junk */
};

static int cmd_helo(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);
static int cmd_ehlo(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);
static int cmd_starttls(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);
static int cmd_mail(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);
static int cmd_rcpt(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);
static int cmd_data(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);
static int cmd_rset(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);
static int cmd_noop(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);
static int cmd_quit(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);
static int cmd_help(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);
static int cmd_vrfy(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);
static int cmd_expn(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);
static int cmd_auth(struct smtp_proto *, const char *, size_t, struct smtp_evinfo *, enum smtp_ev *);

/*
 * The commands, checked against RFC 5321 4.1.4 and 3.3: HELO/EHLO and
 * STARTTLS outside a transaction, MAIL after HELO, RCPT inside a
 * transaction, DATA once a recipient was accepted; the rest anywhere.
 * pre_tls: what a 587 client may say before STARTTLS (Postfix
 * smtpd_tls_security_level=encrypt). last: RFC 2920's group enders.
 */
static const struct smtp_cmd commands[] = {
	/* verb       states      pre_tls last handler       out of sequence, where, junk */
	{ "HELO",     NO_TX,      1,      0,   cmd_helo,     "503 5.5.1 Error: MAIL transaction in progress", SMTP_W_HELO, 0 },
	{ "EHLO",     NO_TX,      1,      1,   cmd_ehlo,     "503 5.5.1 Error: MAIL transaction in progress", SMTP_W_EHLO, 0 },
	{ "STARTTLS", NO_TX,      1,      1,   cmd_starttls, "503 5.5.1 Error: MAIL transaction in progress", SMTP_W_STARTTLS, 0 },
	{ "AUTH",     NO_TX,      0,      1,   cmd_auth,     "503 5.5.1 Error: MAIL transaction in progress", SMTP_W_AUTH, 0 },
	{ "MAIL",     B(S_HELO),  0,      0,   cmd_mail,     "503 5.5.1 Error: nested MAIL command", SMTP_W_MAIL, 0 },
	{ "RCPT",     IN_TX,      0,      0,   cmd_rcpt,     "503 5.5.1 Error: need MAIL command", SMTP_W_RCPT, 0 },
	{ "DATA",     B(S_RCPT),  0,      1,   cmd_data,     "503 5.5.1 Error: need RCPT command", SMTP_W_DATA, 0 },
	{ "RSET",     ANY_CMD,    1,      0,   cmd_rset,     NULL, SMTP_W_RSET, 1 },
	{ "NOOP",     ANY_CMD,    1,      1,   cmd_noop,     NULL, SMTP_W_NOOP, 1 },
	{ "QUIT",     ANY_CMD,    1,      1,   cmd_quit,     NULL, SMTP_W_QUIT, 0 },
	{ "HELP",     ANY_CMD,    0,      0,   cmd_help,     NULL, SMTP_W_HELP, 1 },
	{ "VRFY",     ANY_CMD,    0,      1,   cmd_vrfy,     NULL, SMTP_W_VRFY, 1 },
	{ "EXPN",     ANY_CMD,    0,      1,   cmd_expn,     NULL, SMTP_W_EXPN, 1 },
};

/* What line_read() found. */
enum line_rc {
	LINE_AGAIN = 0,		/* no CRLF yet: all bytes used */
	LINE_DONE,		/* CRLF: the line is in p->wk->line[0..line_len) */
	LINE_BARE_LF,
	LINE_BARE_CR,
	LINE_PART,		/* message text: wk->line[] is full, the line goes on */
};

/* ---- small helpers ---- */

/* The hostname for replies. */
static const char *host(const struct smtp_proto *p)
{
	return p->cfg != NULL && p->cfg->hostname != NULL && p->cfg->hostname[0] ? p->cfg->hostname
										     : "localhost";
}

/* max_rcpts with its default. */
static unsigned max_rcpts(const struct smtp_proto *p)
{
	return p->cfg->max_rcpts ? p->cfg->max_rcpts : DEFAULT_MAX_RCPTS;
}

/* max_junk with its default. */
static unsigned max_junk(const struct smtp_proto *p)
{
	return p->cfg->max_junk ? p->cfg->max_junk : DEFAULT_MAX_JUNK;
}

/* max_errors with its default. */
static unsigned max_errors(const struct smtp_proto *p)
{
	return p->cfg->max_errors ? p->cfg->max_errors : DEFAULT_MAX_ERRORS;
}

/* ASCII upper case, whatever the locale. */
static int up(int c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/* Does s[0..n) equal the upper-case keyword kw, ignoring case? */
static int keyeq(const char *s, size_t n, const char *kw)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (kw[i] == '\0' || up((unsigned char)s[i]) != kw[i])
			return 0;
	return kw[n] == '\0';
}

/* Does s start with the upper-case keyword kw, ignoring case? */
static int keypfx(const char *s, const char *kw)
{
	for (; *kw; s++, kw++)
		if (up((unsigned char)*s) != *kw)
			return 0;
	return 1;
}

/* Length of at most max bytes of s[0..n) that does not cut a UTF-8 sequence. */
static int show_len(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return (int)n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return (int)max;
}

/* Is s[0..n) well-formed UTF-8 (RFC 3629: no overlong forms, surrogates, or past U+10FFFF)? */
static int utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0, j, k;
	uint32_t cp, min;

	while (i < n) {
		uint8_t c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i <= k)
			return 0;
		for (j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* ---- output ---- */

/* The worker's spare output and line buffers (none before smtp_proto_init()). */
static struct spare *spare_out(const struct smtp_proto *p)
{
	return p->cfg != NULL ? p->cfg->spare_out : NULL;
}

static struct spare *spare_wk(const struct smtp_proto *p)
{
	return p->cfg != NULL ? p->cfg->spare_wk : NULL;
}

/* Append n octets to the output buffer; -1 (nothing appended) when they do not fit. */
static int out_put(struct smtp_proto *p, const char *s, size_t n)
{
	if (n > SMTP_OUT_MAX - p->out_len)
		return -1;
	/* idle sessions hold no output buffer: it exists while replies wait */
	if (p->out == NULL && (p->out = spare_get(spare_out(p), SMTP_OUT_MAX)) == NULL)
		return -1;
	memcpy(p->out + p->out_len, s, n);
	p->out_len += n;
	return 0;
}

/* Format one reply line into b (CRLF added, control characters made spaces); returns its length. */
static size_t format_line(char *b, size_t size, const char *fmt, va_list ap)
{
	int n = str_vfmt(b, size - 2, fmt, ap);
	size_t len, i;

	if (n < 0)
		n = 0;
	len = (size_t)n < size - 3 ? (size_t)n : size - 3;
	for (i = 0; i < len; i++)
		if ((unsigned char)b[i] < 0x20 || b[i] == 0x7f)
			b[i] = ' ';
	b[len++] = '\r';
	b[len++] = '\n';
	return len;
}

/* Queue one engine reply line. */
static int out_line(struct smtp_proto *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int out_line(struct smtp_proto *p, const char *fmt, ...)
{
	char b[SMTP_STEP_OUT];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = format_line(b, sizeof(b), fmt, ap);
	va_end(ap);
	return out_put(p, b, n);
}

/*
 * Format "ddd[ enh] text\r\n" for smtp_proto_reply()/answerf(): a 2xx, 4xx or
 * 5xx without an enhanced code gets "X.0.0". Returns the length, 0 if the
 * code is not a reply code.
 */
static size_t format_reply(char *b, size_t size, int code, const char *enh, const char *fmt,
			   va_list ap)
{
	char text[SMTP_STEP_OUT - 32];	/* leaves room for "ddd " and the enhanced code */
	char dflt[8];
	size_t n;
	int r;

	if (code < 200 || code > 599 || size < SMTP_STEP_OUT)
		return 0;
	if ((enh == NULL || enh[0] == '\0') && code / 100 != 3) {
		str_fmt(dflt, sizeof(dflt), "%d.0.0", code / 100);
		enh = dflt;
	}
	n = format_line(text, sizeof(text), fmt, ap);
	text[n - 2] = '\0';
	/* code is 200..599: "%d" is "%03d" here, and str_fmt's fast path takes it */
	if (enh != NULL && enh[0] != '\0')
		r = str_fmt(b, size, "%d %.16s %s\r\n", code, enh, text);
	else
		r = str_fmt(b, size, "%d %s\r\n", code, text);
	return r > 0 && (size_t)r < size ? (size_t)r : 0;
}

/* Is AUTH offered now? Only under TLS (RFC 4954 4, Postfix smtpd_tls_auth_only), with users. */
static int offer_auth(const struct smtp_proto *p)
{
	return p->tls && p->cfg->auth_available && !p->authenticated;
}

/* ---- transaction and line state ---- */

/* Forget the mail transaction (RSET, end of DATA, TLS start). */
static void tx_reset(struct smtp_proto *p)
{
	p->nrcpts = 0;
	p->naccepted_rcpts = 0;
	p->rcpt_overshoot = 0;
	p->data_error = SMTP_OK;
}

/* Start the next line. */
static void line_reset(struct smtp_proto *p)
{
	p->line_len = 0;
	p->line_overflow = 0;
	p->line_cont = 0;
	p->cr = 0;
}

/* The first CR or LF in buf[i..len), or len: memchr scans vectors, and every line of every message passes here. */
static size_t line_end(const uint8_t *buf, size_t i, size_t len)
{
	const uint8_t *lf = memchr(buf + i, '\n', len - i), *cr;
	size_t e = lf != NULL ? (size_t)(lf - buf) : len;

	cr = memchr(buf + i, '\r', e - i);
	return cr != NULL ? (size_t)(cr - buf) : e;
}

/*
 * Read bytes into the current line until its CRLF, keeping at most the
 * state's limit (512 or 1000 octets with CRLF), so memory stays bounded
 * before the newline arrives (nginx-style: the parse position lives in the
 * session and resumes on the next bytes). *n gets the bytes used. A
 * command longer than that is dropped to its end (500 5.5.2); a message
 * line longer than that goes on in parts (LINE_PART), as Postfix's smtpd
 * takes text lines of any length: the backend has its own say on them.
 */
static enum line_rc line_read(struct smtp_proto *p, const uint8_t *buf, size_t len, size_t *n)
{
	/* AUTH PLAIN's initial response with a 255-octet user and password needs ~700 */
	size_t limit = p->state == S_DATA || p->state == S_AUTH || offer_auth(p) ? DATA_TEXT_MAX
										   : CMD_TEXT_MAX;
	size_t i = 0, j;

	while (i < len) {
		if (p->cr) {
			if (buf[i] != '\n') {
				*n = i;
				return LINE_BARE_CR;
			}
			p->cr = 0;
			*n = i + 1;
			return LINE_DONE;
		}
		if (buf[i] == '\r') {
			p->cr = 1;
			i++;
			continue;
		}
		if (buf[i] == '\n') {
			*n = i + 1;
			return LINE_BARE_LF;
		}
		j = line_end(buf, i, len);
		if (!p->line_overflow) {
			/* RFC 5321 4.5.3.1.6: the dot added for transparency does not count */
			size_t lim = limit + (p->state == S_DATA && !p->line_cont &&
					      (p->line_len > 0 ? p->wk->line[0] : buf[i]) == '.');

			if (j - i > lim - p->line_len && p->state == S_DATA) {
				memcpy(p->wk->line + p->line_len, buf + i, lim - p->line_len);
				*n = i + (lim - p->line_len);
				p->line_len = lim;
				return LINE_PART;
			}
			if (j - i > lim - p->line_len) {
				p->line_overflow = 1;
			} else {
				memcpy(p->wk->line + p->line_len, buf + i, j - i);
				p->line_len += j - i;
			}
		}
		i = j;
	}
	*n = len;
	return LINE_AGAIN;
}

/* Count a refusal by reason. */
static void refusal(struct smtp_proto *p, enum smtp_refusal why)
{
	if (why > SMTP_OK && why < SMTP_R_MAX)
		p->stat_refusal[why]++;
}

/* The line and command buffers, when input comes. */
static int work_alloc(struct smtp_proto *p)
{
	if ((p->wk = spare_get(spare_wk(p), sizeof(*p->wk))) == NULL)
		return -1;
	p->wk->arg[0] = '\0';
	p->wk->params[0] = '\0';
	return 0;
}

/* Release them, wiping what an AUTH exchange may have left (user, password). */
static void work_free(struct smtp_proto *p)
{
	if (p->wk == NULL)
		return;
	explicit_bzero(p->wk, sizeof(*p->wk));
	spare_put(spare_wk(p), p->wk, sizeof(*p->wk));
	p->wk = NULL;
}

/* No memory for the line buffer or the HELO name: 421 (if an output buffer can be had) and close. */
static enum smtp_ev no_memory(struct smtp_proto *p, struct smtp_evinfo *ev)
{
	out_line(p, "421 4.3.0 %.*s Error: insufficient system resources", HOST_SHOW, host(p));
	p->state = S_CLOSED;
	ev->error = SMTP_R_NO_MEMORY;
	refusal(p, SMTP_R_NO_MEMORY);
	return SMTP_EV_CLOSE;
}

/* Refuse bare CR or LF like Postfix's smtpd_forbid_bare_newline: 521 and close. */
static enum smtp_ev bare_newline(struct smtp_proto *p, enum line_rc rc, struct smtp_evinfo *ev)
{
	ev->arg = rc == LINE_BARE_CR ? "CR" : "LF";
	out_line(p, "521 5.5.2 %.*s Error: bare <%s> received", HOST_SHOW, host(p), ev->arg);
	p->state = S_CLOSED;
	ev->error = SMTP_R_BARE_NEWLINE;
	refusal(p, SMTP_R_BARE_NEWLINE);
	return SMTP_EV_CLOSE;
}

/* Count an error; at max_errors queue Postfix's 421 and return 1 (the session closes). */
static int count_error(struct smtp_proto *p)
{
	if (++p->errors < max_errors(p))
		return 0;
	out_line(p, "421 4.7.0 %.*s Error: too many errors", HOST_SHOW, host(p));
	p->state = S_CLOSED;
	refusal(p, SMTP_R_TOO_MANY_ERRORS);
	return 1;
}

/* Count a refused command; at max_errors, close. */
static enum smtp_ev bad_command(struct smtp_proto *p, struct smtp_evinfo *ev)
{
	if (!count_error(p))
		return SMTP_EV_NEED_INPUT;
	ev->error = SMTP_R_TOO_MANY_ERRORS;
	return SMTP_EV_CLOSE;
}

/*
 * Postfix's smtpd_forbidden_commands: a verb that only HTTP or a proxy
 * sends, or a line shaped like a header ("Host:", "User-Agent:"). A
 * browser or a proxy tunnel talking to port 25 is hung up on at once,
 * before its body can run as SMTP commands.
 */
static int non_smtp(const char *verb, size_t n)
{
	static const char *const http[] = { "GET", "POST", "PUT", "HEAD", "CONNECT", "OPTIONS",
					    "DELETE", "PATCH", "TRACE" };
	size_t i;

	for (i = 0; i < sizeof(http) / sizeof(http[0]); i++)
		if (keyeq(verb, n, http[i]))
			return 1;
	if (n < 2 || verb[n - 1] != ':')
		return 0;
	for (i = 0; i < n - 1; i++)
		if (!((verb[i] >= 'A' && verb[i] <= 'Z') || (verb[i] >= 'a' && verb[i] <= 'z') ||
		      (verb[i] >= '0' && verb[i] <= '9') || verb[i] == '-' || verb[i] == '_'))
			return 0;
	return 1;
}

/* ---- paths and parameters (RFC 5321 4.1.2, 1870, 6152, 6531) ---- */

/* Let-dig, with UTF-8 octets for U-labels (RFC 6531). */
static int is_letdig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* atext (RFC 5322 3.2.3), with UTF-8 octets (RFC 6531). */
static int is_atext(unsigned char c)
{
	return is_letdig(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Domain = sub-domain *("." sub-domain): its length at s, 0 if none. */
static size_t scan_domain(const char *s)
{
	size_t i = 0;

	for (;;) {
		if (!is_letdig((unsigned char)s[i]))
			return 0;
		while (is_letdig((unsigned char)s[i]) || s[i] == '-')
			i++;
		if (s[i - 1] == '-')
			return 0;
		if (s[i] != '.')
			return i;
		i++;
	}
}

/* address-literal = "[" 1*dcontent "]" (the tag and address are the backend's to judge). */
static size_t scan_literal(const char *s)
{
	size_t i = 1;

	if (s[0] != '[')
		return 0;
	while ((s[i] >= 33 && s[i] <= 90) || (s[i] >= 94 && s[i] <= 126))
		i++;
	return i > 1 && s[i] == ']' ? i + 1 : 0;
}

/* Local-part = Dot-string / Quoted-string: its length at s, 0 if none. */
static size_t scan_local(const char *s)
{
	size_t i, start;

	if (s[0] == '"') {
		for (i = 1;;) {
			unsigned char c = (unsigned char)s[i];

			if (c == '"')
				return i + 1;
			if (c == '\\' && s[i + 1] >= 32 && s[i + 1] <= 126)
				i += 2;
			else if (c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126) ||
				 c >= 0x80)
				i++;
			else
				return 0;
		}
	}
	for (i = 0;;) {
		for (start = i; is_atext((unsigned char)s[i]); i++)
			;
		if (i == start)
			return 0;
		if (s[i] != '.')
			return i;
		i++;
	}
}

/*
 * Parse a Path "<" [A-d-l ":"] Mailbox ">" at s (s[0] == '<'): the source
 * route is checked and dropped, the mailbox copied to out (SMTP_ADDR_MAX+1).
 * null_ok allows "<>" (MAIL), postmaster_ok a bare "<Postmaster>" (RCPT).
 * *end gets the length of the path. Returns 0, or -1 on bad syntax.
 */
static int parse_path(const char *s, size_t *end, char *out, int null_ok, int postmaster_ok)
{
	size_t i = 1, mbox, n;

	if (s[i] == '>') {
		if (!null_ok)
			return -1;
		out[0] = '\0';
		*end = 2;
		return 0;
	}
	if (s[i] == '@') {
		for (;;) {
			if (s[i] != '@' || (n = scan_domain(s + i + 1)) == 0)
				return -1;
			i += 1 + n;
			if (s[i] == ':')
				break;
			if (s[i] != ',')
				return -1;
			i++;
		}
		i++;
	}
	mbox = i;
	if ((n = scan_local(s + i)) == 0)
		return -1;
	i += n;
	if (s[i] == '@') {
		i++;
		n = s[i] == '[' ? scan_literal(s + i) : scan_domain(s + i);
		if (n == 0)
			return -1;
		i += n;
	} else if (!postmaster_ok || !keyeq(s + mbox, n, "POSTMASTER")) {
		return -1;
	}
	if (s[i] != '>' || i + 1 > PATH_MAX_OCTETS)
		return -1;
	memcpy(out, s + mbox, i - mbox);
	out[i - mbox] = '\0';
	*end = i + 1;
	return 0;
}

/*
 * Check the MAIL (mail != 0) or RCPT parameters at s and keep them, one
 * space apart, in p->wk->params. MAIL knows SIZE=n (RFC 1870), BODY=7BIT or
 * 8BITMIME (RFC 6152) and SMTPUTF8 (RFC 6531); RCPT knows none.
 */
static int parse_params(struct smtp_proto *p, const char *s, int mail)
{
	size_t used = 0;

	p->wk->params[0] = '\0';
	if (mail)
		p->smtputf8 = 0;
	for (;;) {
		const char *tok, *eq, *val;
		size_t tlen, klen, vlen;

		while (*s == ' ')
			s++;
		if (*s == '\0')
			return 0;
		tok = s;
		tlen = strcspn(s, " ");
		s += tlen;
		eq = memchr(tok, '=', tlen);
		klen = eq ? (size_t)(eq - tok) : tlen;
		val = eq ? eq + 1 : "";
		vlen = eq ? tlen - klen - 1 : 0;
		if (mail && keyeq(tok, klen, "SIZE")) {
			uint64_t v = 0;
			size_t i;

			if (vlen == 0 || vlen > 20 || strspn(val, "0123456789") < vlen) {
				out_line(p, "501 5.5.4 Bad message size syntax");
				return -1;
			}
			for (i = 0; i < vlen; i++)
				v = v > (UINT64_MAX - 9) / 10 ? UINT64_MAX : v * 10 + (uint64_t)(val[i] - '0');
			if (p->cfg->size_limit && v > p->cfg->size_limit) {
				out_line(p, "552 5.3.4 Message size exceeds fixed limit");
				refusal(p, SMTP_R_TOO_BIG);
				return -1;
			}
		} else if (mail && keyeq(tok, klen, "BODY") && eq != NULL &&
			   (keyeq(val, vlen, "7BIT") || keyeq(val, vlen, "8BITMIME"))) {
			/* the relay passes it on */
		} else if (mail && keyeq(tok, klen, "SMTPUTF8") && eq == NULL) {
			p->smtputf8 = 1;         /* and the relay passes it on */
		} else if (mail && keyeq(tok, klen, "AUTH") && eq != NULL && vlen > 0 &&
			   (p->authenticated || offer_auth(p))) {
			/* RFC 4954 5: accepted, not relayed (XCLIENT LOGIN= tells the backend) */
			continue;
		} else {
			out_line(p, "555 5.5.4 Unsupported option: %.*s", show_len(tok, tlen, TOKEN_SHOW), tok);
			return -1;
		}
		if (tlen + (used ? 1 : 0) > SMTP_PARAM_MAX - used) {
			out_line(p, "501 5.5.4 Syntax: %s", mail ? "MAIL FROM:<address>" : "RCPT TO:<address>");
			return -1;
		}
		if (used)
			p->wk->params[used++] = ' ';
		memcpy(p->wk->params + used, tok, tlen);
		used += tlen;
		p->wk->params[used] = '\0';
	}
}

/*
 * Parse "FROM:<path> params" (kw "FROM:") or "TO:<path> params" into
 * p->wk->arg and p->wk->params. Like Postfix, spaces between the colon and the
 * path are tolerated. Returns 0, or -1 with the reply queued.
 */
static int parse_mail_rcpt(struct smtp_proto *p, const char *arg, int mail)
{
	const char *kw = mail ? "FROM:" : "TO:";
	size_t end;

	if (!keypfx(arg, kw)) {
		out_line(p, "501 5.5.4 Syntax: %s", mail ? "MAIL FROM:<address>" : "RCPT TO:<address>");
		return -1;
	}
	arg += strlen(kw);
	while (*arg == ' ')
		arg++;
	if (*arg != '<') {
		/*
		 * An address without its angle brackets, as broken clients send it:
		 * taken as Postfix takes it (strict_rfc821_envelopes = no), up to the
		 * first space, with the same syntax check as one in brackets.
		 */
		char path[PATH_MAX_OCTETS + 3];
		size_t n = strcspn(arg, " ");

		if (n == 0 || n > PATH_MAX_OCTETS - 2) {
			out_line(p, "501 5.5.4 Syntax: %s", mail ? "MAIL FROM:<address>" : "RCPT TO:<address>");
			return -1;
		}
		path[0] = '<';
		memcpy(path + 1, arg, n);
		memcpy(path + 1 + n, ">", 2);
		if (parse_path(path, &end, p->wk->arg, 0, !mail) != 0 || end != n + 2) {
			p->wk->arg[0] = '\0';
			out_line(p, mail ? "501 5.1.7 Bad sender address syntax" : "501 5.1.3 Bad recipient address syntax");
			return -1;
		}
		end = n;
	} else if (parse_path(arg, &end, p->wk->arg, mail, !mail) != 0 || (arg[end] != '\0' && arg[end] != ' ')) {
		p->wk->arg[0] = '\0';
		out_line(p, mail ? "501 5.1.7 Bad sender address syntax" : "501 5.1.3 Bad recipient address syntax");
		return -1;
	}
	if (parse_params(p, arg + end, mail) != 0)
		return -1;
	/* RFC 6531 3.4: a UTF-8 address only in a transaction that declared SMTPUTF8 (Postfix's words) */
	for (const char *a = p->wk->arg; *a; a++) {
		if ((unsigned char)*a >= 0x80 && !p->smtputf8) {
			out_line(p, "553 5.6.7 Must declare SMTPUTF8 to send unicode address");
			refusal(p, SMTP_R_UTF8_UNDECLARED);
			return -1;
		}
	}
	return 0;
}

/* ---- command handlers ---- */

/* Is STARTTLS offered now? Not on 465, not once TLS is up, not without a certificate. */
static int offer_starttls(const struct smtp_proto *p)
{
	return p->cfg->mode != SMTP_MODE_SMTPS && !p->tls && p->cfg->tls_available;
}

/* No HELO/EHLO name (the engine's own empty string, never freed). */
static const char no_helo[] = "";

/* Forget the HELO/EHLO name. */
static void helo_forget(struct smtp_proto *p)
{
	if (p->helo != NULL && p->helo != no_helo)
		free((char *)p->helo);
	p->helo = no_helo;
}

/*
 * Neuter a HELO/EHLO name as Postfix's smtpd does (printable(), then
 * neuter() with " <>()\\\";@"): it goes into our Received header, the log
 * and the backend's EHLO, where "x (forged.example [10.0.0.1])" or a
 * control character must not pass as ours. The line is valid UTF-8; C1
 * controls (U+0080..U+009F) become "??".
 */
static void helo_neuter(char *name)
{
	for (unsigned char *c = (unsigned char *)name; *c; c++) {
		if (*c < 0x20 || *c == 0x7f || strchr(" <>()\\\";@", *c) != NULL)
			*c = '?';
		else if (*c == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f)
			c[0] = c[1] = '?';
	}
}

/* HELO and EHLO: remember the name, reply, tell the session. */
static int helo_common(struct smtp_proto *p, const char *arg, int ehlo, struct smtp_evinfo *ev,
		       enum smtp_ev *e)
{
	size_t n = strlen(arg);
	int tls = offer_starttls(p);
	char *name;

	if (n == 0 || n > SMTP_ADDR_MAX) {
		out_line(p, "501 5.5.4 Syntax: %s hostname", ehlo ? "EHLO" : "HELO");
		return -1;
	}
	if ((name = malloc(n + 1)) == NULL) {
		*e = no_memory(p, ev);
		return 0;
	}
	memcpy(name, arg, n + 1);
	helo_neuter(name);
	helo_forget(p);
	p->helo = name;
	p->ehlo = ehlo;
	p->state = S_HELO;
	tx_reset(p);
	if (!ehlo) {
		out_line(p, "250 %.*s", HOST_SHOW, host(p));
	} else {
		out_line(p, "250-%.*s", HOST_SHOW, host(p));
		out_line(p, "250-PIPELINING");
		if (p->cfg->size_limit)
			out_line(p, "250-SIZE %llu", (unsigned long long)p->cfg->size_limit);
		else
			out_line(p, "250-SIZE");
		out_line(p, "250-8BITMIME");
		out_line(p, "250-ENHANCEDSTATUSCODES");
		if (offer_auth(p))
			out_line(p, "250-AUTH PLAIN LOGIN");
		out_line(p, "250%cSMTPUTF8", tls ? '-' : ' ');
		if (tls)
			out_line(p, "250 STARTTLS");
	}
	ev->arg = p->helo;
	*e = SMTP_EV_HELO;
	return 0;
}

/* HELO hostname (RFC 5321 4.1.1.1). */
static int cmd_helo(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
		    enum smtp_ev *e)
{
	(void)rest;
	return helo_common(p, arg, 0, ev, e);
}

/* EHLO hostname: the extensions, in a fixed order. */
static int cmd_ehlo(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
		    enum smtp_ev *e)
{
	(void)rest;
	return helo_common(p, arg, 1, ev, e);
}

/*
 * STARTTLS (RFC 3207, Postfix starttls_cmd()): 220, then nothing more is
 * read in plaintext; the bytes already received after the command are
 * counted here and discarded by the session (CVE-2011-0411).
 */
static int cmd_starttls(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
			enum smtp_ev *e)
{
	if (arg[0] != '\0') {
		out_line(p, "501 5.5.4 Syntax error (no parameters allowed)");
		return -1;
	}
	if (p->tls) {
		out_line(p, "503 5.5.1 Error: TLS already active");
		return -1;
	}
	if (!offer_starttls(p)) {
		out_line(p, "454 4.7.0 TLS not available due to temporary reason");
		p->stat_tls_unavailable++;
		return -1;
	}
	out_line(p, "220 2.0.0 Ready to start TLS");
	p->state = S_STARTTLS;
	if (rest > 0) {
		p->stat_pipelined_after_starttls += rest;
		ev->error = SMTP_R_PIPELINED_STARTTLS;
		refusal(p, SMTP_R_PIPELINED_STARTTLS);
	}
	*e = SMTP_EV_STARTTLS;
	return 0;
}

/* MAIL FROM:<reverse-path> [params]: the backend answers. */
static int cmd_mail(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
		    enum smtp_ev *e)
{
	(void)rest;
	if (p->cfg->auth_required && !p->authenticated) {
		out_line(p, "530 5.7.0 Authentication required");
		p->stat_530_auth++;
		return -1;
	}
	if (parse_mail_rcpt(p, arg, 1) != 0)
		return -1;
	tx_reset(p);
	ev->arg = p->wk->arg;
	ev->params = p->wk->params;
	p->owed = SMTP_EV_MAIL;
	*e = SMTP_EV_MAIL;
	return 0;
}

/* RCPT TO:<forward-path>: the backend answers, up to max_rcpts accepted. */
static int cmd_rcpt(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
		    enum smtp_ev *e)
{
	(void)rest;
	if (parse_mail_rcpt(p, arg, 0) != 0)
		return -1;
	if (p->naccepted_rcpts >= max_rcpts(p)) {
		out_line(p, "452 4.5.3 Error: too many recipients");
		refusal(p, SMTP_R_TOO_MANY_RCPTS);
		/* RFC 5321 4.5.3.1.10: a client may overshoot; not a protocol error (Postfix) */
		return p->rcpt_overshoot++ < RCPT_OVERSHOOT ? 0 : -1;
	}
	p->nrcpts++;
	ev->arg = p->wk->arg;
	ev->params = p->wk->params;
	p->owed = SMTP_EV_RCPT;
	*e = SMTP_EV_RCPT;
	return 0;
}

/* DATA: the backend answers 354 (the message follows) or refuses. */
static int cmd_data(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
		    enum smtp_ev *e)
{
	(void)rest, (void)ev;
	if (arg[0] != '\0') {
		out_line(p, "501 5.5.4 Syntax: DATA");
		return -1;
	}
	p->owed = SMTP_EV_DATA;
	*e = SMTP_EV_DATA;
	return 0;
}

/* RSET: forget the transaction, keep HELO. */
static int cmd_rset(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
		    enum smtp_ev *e)
{
	(void)rest, (void)ev;
	if (arg[0] != '\0') {
		out_line(p, "501 5.5.4 Syntax: RSET");
		return -1;
	}
	tx_reset(p);
	if (p->state != S_CONNECTED)
		p->state = S_HELO;
	out_line(p, "250 2.0.0 Ok");
	*e = SMTP_EV_RSET;
	return 0;
}

/* NOOP [string]. */
static int cmd_noop(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
		    enum smtp_ev *e)
{
	(void)arg, (void)rest, (void)ev, (void)e;
	out_line(p, "250 2.0.0 Ok");
	return 0;
}

/* QUIT: 221, then the session closes. */
static int cmd_quit(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
		    enum smtp_ev *e)
{
	(void)arg, (void)rest, (void)ev;
	out_line(p, "221 2.0.0 Bye");
	p->state = S_QUIT;
	*e = SMTP_EV_QUIT;
	return 0;
}

/* HELP [string]. */
static int cmd_help(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
		    enum smtp_ev *e)
{
	(void)arg, (void)rest, (void)ev, (void)e;
	out_line(p, "214 2.0.0 Commands: HELO EHLO STARTTLS MAIL RCPT DATA RSET NOOP QUIT HELP VRFY");
	return 0;
}

/* VRFY: no address harvesting; RFC 5321 3.5.3's 252. */
static int cmd_vrfy(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
		    enum smtp_ev *e)
{
	(void)rest, (void)ev, (void)e;
	if (arg[0] == '\0') {
		out_line(p, "501 5.5.4 Syntax: VRFY address");
		return -1;
	}
	out_line(p, "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
	return 0;
}

/* EXPN: never. */
static int cmd_expn(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
		    enum smtp_ev *e)
{
	(void)arg, (void)rest, (void)ev, (void)e;
	out_line(p, "502 5.5.1 Error: command not implemented");
	return -1;
}

/* ---- AUTH (RFC 4954, SASL PLAIN RFC 4616, LOGIN) ---- */

enum { SASL_NONE = 0, SASL_PLAIN, SASL_LOGIN_USER, SASL_LOGIN_PASS };

#define SASL_FIELD_MAX 255	/* user and password octets */

/* Strict base64 (RFC 4648 4, padded): decoded length, or -1. */
static long b64_decode(const char *in, size_t n, uint8_t *out, size_t outlen)
{
	size_t i, o = 0;
	unsigned acc = 0, bits = 0, pad = 0;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i++) {
		char c = in[i];
		unsigned v;

		if (c == '=') {
			if (i < n - 2 || (i == n - 2 && in[n - 1] != '='))
				return -1;
			pad++;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			v = (unsigned)(c - 'A');
		else if (c >= 'a' && c <= 'z')
			v = (unsigned)(c - 'a') + 26;
		else if (c >= '0' && c <= '9')
			v = (unsigned)(c - '0') + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == outlen)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	(void)pad;
	return (long)o;
}

/* Leave the AUTH exchange (its buffers wiped). */
static void sasl_end(struct smtp_proto *p)
{
	p->sasl = SASL_NONE;
	p->state = S_HELO;
	if (p->wk != NULL)
		memset(p->wk->params, 0, sizeof(p->wk->params));
}

/* Refuse inside AUTH (a 501 or 503: no credentials to try): the reply, back to commands, an error like Postfix counts it. */
static int sasl_refuse(struct smtp_proto *p, const char *reply)
{
	out_line(p, "%s", reply);
	sasl_end(p);
	p->stat_auth_refused++;
	return -1;
}

/* The user and password are in p->wk->arg and p->wk->params: hand them to the session. */
static int sasl_done(struct smtp_proto *p, size_t pass_len, struct smtp_evinfo *ev, enum smtp_ev *e)
{
	ev->params = p->sasl == SASL_PLAIN ? "PLAIN" : "LOGIN";
	p->sasl = SASL_NONE;
	p->state = S_HELO;
	ev->arg = p->wk->arg;
	ev->data = (const uint8_t *)p->wk->params;
	ev->len = pass_len;
	p->owed = SMTP_EV_AUTH;
	*e = SMTP_EV_AUTH;
	return 0;
}

/*
 * Credentials that cannot pass: the session hears of them as of any other
 * (AUTH, with an empty user and password, marked), so that they fail as a
 * wrong password does: after the failure delay, logged, counted toward the
 * client's failure limit.
 */
static int sasl_malformed(struct smtp_proto *p, struct smtp_evinfo *ev, enum smtp_ev *e)
{
	memset(p->wk->arg, 0, sizeof(p->wk->arg));
	memset(p->wk->params, 0, sizeof(p->wk->params));
	ev->auth_malformed = 1;
	return sasl_done(p, 0, ev, e);
}

/* One SASL response (base64 text, "=" for empty, "*" to cancel). */
static int sasl_response(struct smtp_proto *p, const char *text, struct smtp_evinfo *ev, enum smtp_ev *e)
{
	uint8_t buf[3 * SASL_FIELD_MAX + 3];
	long n;
	int rc = -1;

	if (strcmp(text, "*") == 0)
		return sasl_refuse(p, "501 5.7.0 Authentication aborted");
	n = strcmp(text, "=") == 0 ? 0 : b64_decode(text, strlen(text), buf, sizeof(buf));
	if (n < 0)
		return sasl_refuse(p, "501 5.5.2 Cannot decode response");
	switch (p->sasl) {
	case SASL_PLAIN: {
		/* [authzid] NUL authcid NUL passwd */
		uint8_t *z1 = memchr(buf, 0, (size_t)n), *z2;
		size_t zlen, ulen, plen;

		if (z1 == NULL || (z2 = memchr(z1 + 1, 0, (size_t)(buf + n - z1 - 1))) == NULL ||
		    memchr(z2 + 1, 0, (size_t)(buf + n - z2 - 1)) != NULL) {
			rc = sasl_refuse(p, "501 5.5.2 Malformed PLAIN response");
			break;
		}
		zlen = (size_t)(z1 - buf);
		ulen = (size_t)(z2 - z1 - 1);
		plen = (size_t)(buf + n - z2 - 1);
		if (ulen == 0 || ulen > SASL_FIELD_MAX || plen == 0 || plen > SASL_FIELD_MAX ||
		    (zlen > 0 && (zlen != ulen || memcmp(buf, z1 + 1, ulen) != 0))) {
			/* no proxy authorization: authzid empty or the user itself */
			rc = sasl_malformed(p, ev, e);
			break;
		}
		memcpy(p->wk->arg, z1 + 1, ulen);
		p->wk->arg[ulen] = '\0';
		memcpy(p->wk->params, z2 + 1, plen);
		rc = sasl_done(p, plen, ev, e);
		break;
	}
	case SASL_LOGIN_USER:
		if (n == 0 || n > SASL_FIELD_MAX || memchr(buf, 0, (size_t)n) != NULL) {
			rc = sasl_malformed(p, ev, e);
			break;
		}
		memcpy(p->wk->arg, buf, (size_t)n);
		p->wk->arg[n] = '\0';
		p->sasl = SASL_LOGIN_PASS;
		p->state = S_AUTH;
		out_line(p, "334 UGFzc3dvcmQ6");	/* "Password:" */
		rc = 0;
		break;
	case SASL_LOGIN_PASS:
		if (n == 0 || n > SASL_FIELD_MAX) {
			rc = sasl_malformed(p, ev, e);
			break;
		}
		memcpy(p->wk->params, buf, (size_t)n);
		rc = sasl_done(p, (size_t)n, ev, e);
		break;
	default:
		rc = sasl_refuse(p, "503 5.5.1 Error: bad sequence of commands");
		break;
	}
	memset(buf, 0, sizeof(buf));
	return rc;
}

/*
 * AUTH mechanism [initial-response] (RFC 4954 4): PLAIN and LOGIN, only
 * once TLS is up; once per session; after EHLO, outside a transaction.
 */
static int cmd_auth(struct smtp_proto *p, const char *arg, size_t rest, struct smtp_evinfo *ev,
		    enum smtp_ev *e)
{
	size_t mlen = strcspn(arg, " ");
	const char *ir = arg[mlen] == ' ' ? arg + mlen + 1 : NULL;

	(void)rest;
	if (p->authenticated) {
		out_line(p, "503 5.5.1 Error: already authenticated");
		return -1;
	}
	if (!offer_auth(p)) {
		p->stat_auth_refused++;
		if (!p->tls && p->cfg->auth_available)
			out_line(p, "538 5.7.11 Encryption required for requested authentication mechanism");
		else
			out_line(p, "503 5.5.1 Error: authentication not enabled");
		return -1;
	}
	if (p->state == S_CONNECTED) {
		out_line(p, "503 5.5.1 Error: send HELO/EHLO first");
		return -1;
	}
	if (p->auth_failures >= SMTP_AUTH_FAILS_MAX) {
		out_line(p, "421 4.7.0 %.*s Error: too many failed authentications", HOST_SHOW, host(p));
		p->state = S_CLOSED;
		ev->error = SMTP_R_AUTH_FAILURES;
		refusal(p, SMTP_R_AUTH_FAILURES);
		*e = SMTP_EV_CLOSE;
		return 0;
	}
	if (ir != NULL && (ir[0] == '\0' || strchr(ir, ' ') != NULL)) {
		p->stat_auth_refused++;
		out_line(p, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
		return -1;
	}
	if (keyeq(arg, mlen, "PLAIN"))
		p->sasl = SASL_PLAIN;
	else if (keyeq(arg, mlen, "LOGIN"))
		p->sasl = SASL_LOGIN_USER;
	else {
		p->stat_auth_refused++;
		out_line(p, mlen ? "504 5.5.4 Unrecognized authentication type"
				 : "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
		return -1;
	}
	p->wk->arg[0] = '\0';
	if (ir != NULL)
		return sasl_response(p, ir, ev, e);
	p->state = S_AUTH;
	out_line(p, p->sasl == SASL_PLAIN ? "334 " : "334 VXNlcm5hbWU6");	/* "Username:" */
	return 0;
}

/* A line inside the AUTH exchange. */
static enum smtp_ev auth_line(struct smtp_proto *p, struct smtp_evinfo *ev)
{
	enum smtp_ev e = SMTP_EV_NEED_INPUT;
	char *line = (char *)p->wk->line;

	if (p->line_overflow) {
		sasl_refuse(p, "500 5.5.6 Authentication Exchange line is too long");
		return bad_command(p, ev);
	}
	line[p->line_len] = '\0';
	if (sasl_response(p, line, ev, &e) != 0) {
		memset(p->wk->line, 0, p->line_len);
		return bad_command(p, ev);
	}
	memset(p->wk->line, 0, p->line_len);
	return e;
}

/* The reply to a command its row does not allow in this state (Postfix wording). */
static void refuse_sequence(struct smtp_proto *p, const struct smtp_cmd *c)
{
	if (c->handler == cmd_mail && p->state == S_CONNECTED)
		out_line(p, "503 5.5.1 Error: send HELO/EHLO first");
	else if (c->handler == cmd_data && p->state == S_MAIL)
		out_line(p, "554 5.5.1 Error: no valid recipients");
	else
		out_line(p, "%s", c->oos ? c->oos : "503 5.5.1 Error: bad sequence of commands");
}

/* The row for a verb, or NULL. */
static const struct smtp_cmd *cmd_lookup(const char *verb, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (keyeq(verb, n, commands[i].verb))
			return &commands[i];
	return NULL;
}

/* One command line is in p->line: check it against the table and run its handler. */
static enum smtp_ev command_line(struct smtp_proto *p, size_t rest, struct smtp_evinfo *ev)
{
	char *line = (char *)p->wk->line;
	size_t len = p->line_len, vlen, i;
	const struct smtp_cmd *c;
	enum smtp_ev e = SMTP_EV_NEED_INPUT;
	const char *arg;

	p->where = SMTP_W_UNKNOWN;
	if (p->line_overflow) {
		p->cmd_total[SMTP_W_UNKNOWN]++;
		out_line(p, "500 5.5.2 Error: line too long");
		refusal(p, SMTP_R_LINE_TOO_LONG);
		return bad_command(p, ev);
	}
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	line[len] = '\0';
	for (i = 0; i < len; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			break;
	if (len == 0 || i < len) {
		out_line(p, "500 5.5.2 Error: bad syntax");
		return bad_command(p, ev);
	}
	if (!utf8_valid(p->wk->line, len)) {
		out_line(p, "500 5.5.2 Error: bad UTF-8 syntax");
		return bad_command(p, ev);
	}
	vlen = strcspn(line, " ");
	for (arg = line + vlen; *arg == ' '; arg++)
		;
	if (non_smtp(line, vlen)) {
		p->cmd_total[SMTP_W_UNKNOWN]++;
		out_line(p, "221 2.7.0 Error: I can break rules, too. Goodbye.");
		p->state = S_CLOSED;
		ev->arg = line;
		ev->error = SMTP_R_NON_SMTP;
		refusal(p, SMTP_R_NON_SMTP);
		return SMTP_EV_CLOSE;
	}
	c = cmd_lookup(line, vlen);
	if (c == NULL) {
		p->cmd_total[SMTP_W_UNKNOWN]++;
		out_line(p, "500 5.5.2 Error: command not recognized");
		return bad_command(p, ev);
	}
	p->where = c->where;
	p->cmd_total[c->where]++;
	if (c->last && rest > 0)
		p->stat_improper_pipelining++;
	if (p->cfg->mode == SMTP_MODE_SUBMISSION && !p->tls && !c->pre_tls) {
		out_line(p, "530 5.7.0 Must issue a STARTTLS command first");
		p->stat_530_starttls++;
		return bad_command(p, ev);
	}
	if (!(c->states & B(p->state))) {
		refuse_sequence(p, c);
		return bad_command(p, ev);
	}
	if (c->handler(p, arg, rest, ev, &e) != 0)
		return bad_command(p, ev);
	if (!p->owed && p->state != S_AUTH && c->where != SMTP_W_STARTTLS)
		p->cmd_ok[c->where]++;      /* done at once; the others when answered */
	/* a client that only idles with NOOP (or RSET, VRFY...) uses up its errors */
	if (c->junk && ++p->junk > max_junk(p) && count_error(p)) {
		ev->error = SMTP_R_TOO_MANY_ERRORS;
		return SMTP_EV_CLOSE;
	}
	return e;
}

/*
 * One message line is in p->line (OpenSMTPD smtp_tx_dataline()): ".",
 * the end; otherwise pass it on, unless the message was already refused
 * (over SIZE), in which case read on to the end and reply once there.
 * part: the line's CRLF has not come yet (a line longer than wk->line[]),
 * so the bytes go on without one and the line's next part follows.
 */
static enum smtp_ev data_line(struct smtp_proto *p, int part, struct smtp_evinfo *ev)
{
	int stuffed = !p->line_cont && p->line_len > 0 && p->wk->line[0] == '.';
	uint64_t size;

	if (memchr(p->wk->line, '\0', p->line_len) != NULL) {
		/* a backend parsing C strings must never see a line end we did not */
		out_line(p, "521 5.5.2 %.*s Error: NUL character received", HOST_SHOW, host(p));
		p->state = S_CLOSED;
		ev->error = SMTP_R_NUL;
		refusal(p, SMTP_R_NUL);
		return SMTP_EV_CLOSE;
	}
	if (!part && !p->line_cont && p->line_len == 1 && p->wk->line[0] == '.') {
		p->where = SMTP_W_END_OF_MESSAGE;
		p->state = S_HELO;
		ev->error = p->data_error;
		tx_reset(p);
		if (ev->error == SMTP_R_TOO_BIG)
			out_line(p, "552 5.3.4 Message size exceeds fixed limit");
		else
			p->owed = SMTP_EV_DATA_END;
		refusal(p, ev->error);
		return SMTP_EV_DATA_END;
	}
	p->line_cont = part;
	if (p->data_error != SMTP_OK)
		return SMTP_EV_NEED_INPUT;
	size = p->line_len + (part ? 0 : 2) - (uint64_t)stuffed;
	p->msg_bytes += size;
	if (p->cfg->size_limit && p->msg_bytes > p->cfg->size_limit) {
		p->data_error = SMTP_R_TOO_BIG;
		return SMTP_EV_NEED_INPUT;
	}
	if (!part) {
		p->wk->line[p->line_len] = '\r';
		p->wk->line[p->line_len + 1] = '\n';
	}
	ev->data = p->wk->line;
	ev->len = p->line_len + (part ? 0 : 2);
	return SMTP_EV_DATA_LINE;
}

/* ---- interface ---- */

/* Start a session. */
void smtp_proto_init(struct smtp_proto *p, const struct smtp_cfg *cfg, int flags)
{
	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	p->helo = no_helo;
	p->tls = (flags & SMTP_INIT_TLS) != 0;
	p->state = S_PREGREET;
	if (!(flags & SMTP_INIT_NO_BANNER) && (cfg->mode != SMTP_MODE_SMTPS || p->tls))
		smtp_proto_greet(p);
}

/* Queue the greeting once. */
void smtp_proto_greet(struct smtp_proto *p)
{
	if (p->state != S_PREGREET)
		return;
	if (p->cfg->mode == SMTP_MODE_SMTPS)
		p->tls = 1;
	out_line(p, "220 %.*s ESMTP", HOST_SHOW, host(p));
	p->state = S_CONNECTED;
}

/* Consume input up to the next event. */
enum smtp_ev smtp_proto_input(struct smtp_proto *p, const uint8_t *buf, size_t len, size_t *used,
			      struct smtp_evinfo *ev)
{
	size_t off = 0, n;
	enum line_rc rc;
	enum smtp_ev e;

	memset(ev, 0, sizeof(*ev));
	ev->arg = "";
	ev->params = "";
	*used = 0;
	if (buf == NULL)
		len = 0;
	if (p->pending_close != SMTP_OK) {
		/* an answer used up max_errors: its 421 is queued */
		ev->error = p->pending_close;
		p->pending_close = SMTP_OK;
		return SMTP_EV_CLOSE;
	}
	for (;;) {
		if (p->owed) {
			*used = off;
			return SMTP_EV_WAIT;
		}
		if (p->state == S_QUIT || p->state == S_CLOSED) {
			*used = len;	/* nothing more is read */
			return SMTP_EV_NEED_INPUT;
		}
		if (p->state == S_PREGREET || p->state == S_STARTTLS || off == len ||
		    p->out_len > SMTP_OUT_HIGH) {
			*used = off;
			return SMTP_EV_NEED_INPUT;
		}
		if (p->wk == NULL && work_alloc(p) != 0)
			return no_memory(p, ev);
		rc = line_read(p, buf + off, len - off, &n);
		off += n;
		*used = off;
		if (rc == LINE_AGAIN)
			return SMTP_EV_NEED_INPUT;
		if (rc == LINE_PART) {
			e = data_line(p, 1, ev);
			p->line_len = 0;
			if (e != SMTP_EV_NEED_INPUT)
				return e;
			continue;
		}
		if (rc != LINE_DONE)
			return bare_newline(p, rc, ev);
		if (p->state == S_DATA)
			e = data_line(p, 0, ev);
		else if (p->state == S_AUTH)
			e = auth_line(p, ev);
		else
			e = command_line(p, len - off, ev);
		line_reset(p);
		if (e != SMTP_EV_NEED_INPUT)
			return e;
	}
}

/* Does the reply text at s[0..n) start with an RFC 3463 code "c.sss.ddd"? */
static int has_enh(const char *s, size_t n)
{
	size_t i = 2, d;
	int part;

	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	for (part = 0; part < 2; part++) {
		for (d = 0; i < n && d < 3 && s[i] >= '0' && s[i] <= '9'; i++, d++)
			;
		if (d == 0)
			return 0;
		if (part == 0) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
	}
	return i == n || s[i] == ' ';
}

/* Can code answer the owed event? */
static int answer_fits(int owed, int code)
{
	if (code >= 400 && code <= 599)
		return 1;
	if (owed == SMTP_EV_DATA)
		return code == 354;
	return code >= 200 && code <= 299;
}

/* Apply an answer's code to the state (the reply is already queued). */
static void answer_apply(struct smtp_proto *p, int code)
{
	int owed = p->owed;

	p->owed = 0;
	/* refused MAIL and RCPT are errors, as in Postfix: harvesting recipients is not free */
	if ((owed == SMTP_EV_MAIL || owed == SMTP_EV_RCPT) && code >= 400 &&
	    (code != 452 || p->rcpt_overshoot++ >= RCPT_OVERSHOOT) && count_error(p))
		p->pending_close = SMTP_R_TOO_MANY_ERRORS;
	switch (owed) {
	case SMTP_EV_MAIL:
		if (code < 300) {
			p->cmd_ok[SMTP_W_MAIL]++;
			tx_reset(p);
			p->state = S_MAIL;
		}
		break;
	case SMTP_EV_RCPT:
		if (code < 300) {
			p->cmd_ok[SMTP_W_RCPT]++;
			p->naccepted_rcpts++;
			p->state = S_RCPT;
		}
		break;
	case SMTP_EV_AUTH:
		memset(p->wk->params, 0, sizeof(p->wk->params));     /* the password */
		if (code < 300) {
			p->authenticated = 1;
			p->cmd_ok[SMTP_W_AUTH]++;
		} else {
			/* 535: the credentials were checked and wrong: a try and an error,
			   as Postfix counts it. 454: no check was made (busy, one in
			   flight, limited): not the user's try, but an error, so that a
			   client looping on 454s meets max_errors */
			if (code >= 500)
				p->auth_failures++;
			if (count_error(p))
				p->pending_close = SMTP_R_TOO_MANY_ERRORS;
		}
		break;
	case SMTP_EV_DATA:
		if (code == 354) {
			p->state = S_DATA;
			p->msg_bytes = 0;
			p->data_error = SMTP_OK;
		}
		break;
	case SMTP_EV_DATA_END:
		if (code < 300) {
			p->junk = 0;	/* mail moved: junk is counted afresh (Postfix) */
			p->cmd_ok[SMTP_W_DATA]++;
		}
		break;
	default:
		break;
	}
}

/* Answer the owed event with a whole reply, e.g. the backend's. */
int smtp_proto_answer(struct smtp_proto *p, const char *reply, size_t len)
{
	char b[SMTP_ANSWER_MAX];
	size_t bl = 0, i = 0, j, t, ins;
	int code = -1;

	if (!p->owed || reply == NULL || len == 0)
		return -1;
	while (i < len) {
		int c, last, empty;
		char sep;

		if (len - i < 5 || reply[i] < '1' || reply[i] > '5' || reply[i + 1] < '0' ||
		    reply[i + 1] > '9' || reply[i + 2] < '0' || reply[i + 2] > '9')
			return -1;
		c = (reply[i] - '0') * 100 + (reply[i + 1] - '0') * 10 + (reply[i + 2] - '0');
		if (code != -1 && c != code)
			return -1;
		code = c;
		for (j = i + 3; j < len && reply[j] != '\r' && reply[j] != '\n' && reply[j] != '\0'; j++)
			;
		if (j + 1 >= len || reply[j] != '\r' || reply[j + 1] != '\n')
			return -1;
		last = j + 2 == len;
		empty = j == i + 3;	/* "ddd" CRLF */
		sep = empty ? ' ' : reply[i + 3];
		if ((sep == '-' && last) || (sep == ' ' && !last) || (sep != '-' && sep != ' '))
			return -1;
		t = i + (empty ? 3 : 4);
		/* RFC 3463 on every reply: "X.0.0" for a backend that has none */
		ins = code / 100 == 3 || has_enh(reply + t, j - t) ? 0 : empty ? 5 : 6;
		if (4 + ins + (j - t) + 2 > sizeof(b) - bl)
			return -1;
		memcpy(b + bl, reply + i, 3);
		b[bl + 3] = sep;
		bl += 4;
		if (ins) {
			b[bl] = (char)('0' + code / 100);
			memcpy(b + bl + 1, ".0.0 ", 5);
			bl += ins;
		}
		memcpy(b + bl, reply + t, j - t);
		bl += j - t;
		b[bl++] = '\r';
		b[bl++] = '\n';
		i = j + 2;
	}
	if (!answer_fits(p->owed, code) || out_put(p, b, bl) != 0)
		return -1;
	answer_apply(p, code);
	return 0;
}

/* Answer the owed event with one formatted line. */
int smtp_proto_answerf(struct smtp_proto *p, int code, const char *enh, const char *fmt, ...)
{
	char b[SMTP_STEP_OUT];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = format_reply(b, sizeof(b), code, enh, fmt, ap);
	va_end(ap);
	if (n == 0)
		return -1;
	return smtp_proto_answer(p, b, n);
}

/* Queue a reply that answers nothing. */
int smtp_proto_reply(struct smtp_proto *p, int code, const char *enh, const char *fmt, ...)
{
	char b[SMTP_STEP_OUT];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = format_reply(b, sizeof(b), code, enh, fmt, ap);
	va_end(ap);
	if (n == 0)
		return -1;
	return out_put(p, b, n);
}

/* TLS is up: everything said before it is forgotten (RFC 3207 4.2). */
void smtp_proto_tls_started(struct smtp_proto *p)
{
	if (p->where == SMTP_W_STARTTLS)
		p->cmd_ok[SMTP_W_STARTTLS]++;
	p->tls = 1;
	helo_forget(p);
	p->ehlo = 0;
	p->owed = 0;
	p->authenticated = 0;
	p->sasl = 0;
	tx_reset(p);
	line_reset(p);
	if (p->state != S_PREGREET && p->state != S_QUIT && p->state != S_CLOSED)
		p->state = S_CONNECTED;
}

/* Pending output. */
const char *smtp_proto_output(const struct smtp_proto *p, size_t *len)
{
	*len = p->out_len;
	return p->out;
}

/* n octets of the output were sent. */
void smtp_proto_output_done(struct smtp_proto *p, size_t n)
{
	if (n >= p->out_len) {
		p->out_len = 0;
		spare_put(spare_out(p), p->out, SMTP_OUT_MAX);
		p->out = NULL;
		return;
	}
	memmove(p->out, p->out + n, p->out_len - n);
	p->out_len -= n;
}

/* Release the buffers and pending output. */
void smtp_proto_free(struct smtp_proto *p)
{
	work_free(p);
	helo_forget(p);
	spare_put(spare_out(p), p->out, SMTP_OUT_MAX);
	p->out = NULL;
	p->out_len = 0;
}

void smtp_proto_trim(struct smtp_proto *p)
{
	if (p->wk != NULL && !smtp_proto_mid_line(p) && !p->owed && p->sasl == SASL_NONE)
		work_free(p);
}

const char *smtp_proto_arg(const struct smtp_proto *p)
{
	return p->wk != NULL && p->owed ? p->wk->arg : "";
}

int smtp_proto_in_transaction(const struct smtp_proto *p)
{
	return p->state == S_MAIL || p->state == S_RCPT || p->state == S_DATA;
}

/* Inside a message (the DATA timeout applies)? */
int smtp_proto_in_data(const struct smtp_proto *p)
{
	return p->state == S_DATA;
}

/* Part of a line read, its CRLF not yet? */
int smtp_proto_mid_line(const struct smtp_proto *p)
{
	return p->line_len > 0 || p->line_overflow || p->line_cont || p->cr;
}

/* strstate(): the current state's name. */
const char *smtp_proto_state_name(const struct smtp_proto *p)
{
	return p->state >= 0 && p->state < S_COUNT ? state_names[p->state] : "?";
}

/* Postfix's smtpd_format_cmd_stats(): its command table's order, unknown last. */
size_t smtp_proto_cmd_stats(const struct smtp_proto *p, char *buf, size_t len)
{
	static const struct { const char *name; enum smtp_where w; } order[] = {
		{ "helo", SMTP_W_HELO }, { "ehlo", SMTP_W_EHLO }, { "starttls", SMTP_W_STARTTLS },
		{ "auth", SMTP_W_AUTH }, { "mail", SMTP_W_MAIL }, { "rcpt", SMTP_W_RCPT }, { "data", SMTP_W_DATA },
		{ "rset", SMTP_W_RSET }, { "noop", SMTP_W_NOOP }, { "vrfy", SMTP_W_VRFY }, { "quit", SMTP_W_QUIT },
		{ "unknown", SMTP_W_UNKNOWN },
	};
	unsigned i, ok, total, all_ok = 0, all_total = 0;
	size_t o = 0;

#define PUT(...) do { int n_ = str_fmt(buf + o, len - o, __VA_ARGS__); \
		       if (n_ > 0) o += (size_t)n_ < len - o ? (size_t)n_ : len - o - 1; } while (0)
	if (len == 0)
		return 0;
	buf[0] = '\0';
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		ok = p->cmd_ok[order[i].w];
		total = p->cmd_total[order[i].w];
		if (order[i].w == SMTP_W_UNKNOWN) {
			ok = 0;          /* Postfix answers all of them 502 */
			total += p->cmd_total[SMTP_W_HELP] + p->cmd_total[SMTP_W_EXPN];
		}
		if (total == 0)
			continue;
		PUT(" %s=%u", order[i].name, ok);
		if (ok != total)
			PUT("/%u", total);
		all_ok += ok;
		all_total += total;
	}
	PUT(" commands=%u", all_ok);
	if (all_ok != all_total || all_total == 0)
		PUT("/%u", all_total);
#undef PUT
	return o;
}
