/*
 * fuzz_smtp_proto.c - libFuzzer target for the SMTP engine
 * (dataplane/smtp/smtp_proto.c), driven as the session drives it.
 *
 * Input: three header bytes, then a client transcript whose sends are
 * separated by 0x1e (each send is what one TCP segment delivers; a send may
 * hold several pipelined commands, or half of one):
 *   byte 0: bits 0-1 mode (MX, submission, SMTPS; 3 = MX), bit 2 a
 *           certificate is loaded, bit 3 AUTH users exist, bit 4 AUTH
 *           required, bits 5-6 SIZE limit (none, 64, 1000, 10 MB)
 *   byte 1: seed of the scripted backend's answers (yes, no, temporary
 *           failure, malformed: a malformed answer must be refused and
 *           leave the answer owed)
 *   byte 2: low nibble max_rcpts, high nibble max_errors (0 = default)
 * STARTTLS: the driver discards the rest of the send that carried it
 * (CVE-2011-0411), starts "TLS" and goes on with the next send.
 *
 * The transcript is played twice: send by send, and byte by byte (a TCP
 * peer may split anywhere). Both must give the same replies and events.
 * Asserted on every step: the engine never uses more than it was given,
 * its output stays within SMTP_OUT_MAX and is made of whole reply lines
 * ("ddd" or "ddd-" + text + CRLF, no bare CR/LF); a DATA line is one line
 * with its CRLF within SMTP_TEXT_MAX; the end of DATA only comes after
 * CRLF.CRLF; an owed event is owed; MAIL never comes before STARTTLS on
 * submission, nor before AUTH when AUTH is required; AUTH only comes under
 * TLS when users exist; no recipient past max_rcpts is accepted.
 * FUZZ_SMTP_DUMP=1 prints the transcript of each input (to read a seed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/smtp/smtp_proto.h"
#include "fuzz.h"

#define SEP        0x1e
#define RXQ_MAX    (1 << 16)
#define TR_MAX     (1 << 21)

/* One play of the transcript. */
struct drv {
	struct smtp_cfg cfg;
	struct smtp_proto p;
	uint32_t rng;                   /* the backend's choices */
	int closed;                     /* QUIT or CLOSE */
	int starttls;                   /* STARTTLS seen in this send: drop the rest */
	uint8_t tail[5];                /* last octets the engine used */
	size_t rxlen;
	uint8_t rxq[RXQ_MAX];
	size_t trlen;
	char *tr;                       /* replies and events, TR_MAX */
};

static struct drv A, B;

/* Append to the transcript (silently cut at TR_MAX; both plays cut alike). */
static void tr_put(struct drv *d, const void *s, size_t n)
{
	if (n > TR_MAX - d->trlen)
		n = TR_MAX - d->trlen;
	if (n == 0)
		return;
	memcpy(d->tr + d->trlen, s, n);
	d->trlen += n;
}

/* Append a NUL-terminated string. */
static void tr_str(struct drv *d, const char *s)
{
	tr_put(d, s, strlen(s));
}

/* Check and take the engine's output: whole, well-formed reply lines only. */
static void drain(struct drv *d)
{
	size_t len, i = 0;
	const char *out = smtp_proto_output(&d->p, &len);

	FUZZ_ASSERT(len <= SMTP_OUT_MAX);
	while (i < len) {
		const char *l = out + i, *cr = memchr(l, '\r', len - i);
		size_t ll;

		FUZZ_ASSERT(cr != NULL && (size_t)(cr - out) + 1 < len && cr[1] == '\n');
		ll = (size_t)(cr - l);
		FUZZ_ASSERT(memchr(l, '\n', ll) == NULL);
		FUZZ_ASSERT(ll >= 3 && l[0] >= '2' && l[0] <= '5' && l[1] >= '0' && l[1] <= '9' &&
			    l[2] >= '0' && l[2] <= '9');
		FUZZ_ASSERT(ll == 3 || l[3] == ' ' || l[3] == '-');
		FUZZ_ASSERT(ll <= SMTP_ANSWER_MAX);
		i += ll + 2;
	}
	tr_put(d, out, len);
	smtp_proto_output_done(&d->p, len);
}

/* A backend reply and whether smtp_proto_answer() must take it for that event. */
struct reply {
	const char *text;
	int ok;
};

/* The scripted backend: a reply for the owed event, chosen by the seed. */
static const struct reply *backend(struct drv *d, int owed)
{
	static const struct reply mail[] = { { "250 2.1.0 Ok\r\n", 1 },
		{ "451 4.3.0 Error: queue file write error\r\n", 1 },
		{ "553 5.7.1 Sender address rejected\r\n", 1 }, { "250 Ok\r\n", 1 },
		{ "250 2.1.0 Ok", 0 } };                                     /* no CRLF */
	static const struct reply rcpt[] = { { "250 2.1.5 Ok\r\n", 1 }, { "550 5.1.1 User unknown\r\n", 1 },
		{ "452 4.5.3 Too many recipients\r\n", 1 }, { "250-2.1.5 Ok\r\n250 2.1.5 more\r\n", 1 },
		{ "354 no\r\n", 0 } };                                     /* not a RCPT code */
	static const struct reply data[] = { { "354 End data with <CR><LF>.<CR><LF>\r\n", 1 },
		{ "554 5.5.1 Error: no valid recipients\r\n", 1 }, { "451 4.3.0 try again later\r\n", 1 },
		{ "354 go ahead\r\n", 1 }, { "250 2.0.0 Ok\r\n", 0 } };    /* not a DATA code */
	static const struct reply end[] = { { "250 2.0.0 Ok: queued as 4F2A1\r\n", 1 },
		{ "552 5.3.4 Message too big\r\n", 1 }, { "451 4.3.0 Error: queue file write error\r\n", 1 },
		{ "250 Ok\r\n", 1 }, { "250-x\r\n251 y\r\n", 0 } };       /* two codes */
	static const struct reply auth[] = { { "235 2.7.0 Authentication successful\r\n", 1 },
		{ "535 5.7.8 Error: authentication failed\r\n", 1 },
		{ "454 4.7.0 Temporary authentication failure\r\n", 1 }, { "235 2.7.0 Ok\r\n", 1 },
		{ "334 no\r\n", 0 } };                                     /* not an answer */
	const struct reply *t;

	d->rng = d->rng * 1103515245u + 12345u;
	switch (owed) {
	case SMTP_EV_MAIL: t = mail; break;
	case SMTP_EV_RCPT: t = rcpt; break;
	case SMTP_EV_DATA: t = data; break;
	case SMTP_EV_AUTH: t = auth; break;
	default: t = end; break;
	}
	return &t[(d->rng >> 16) % 5];
}

/* Answer what is owed; a malformed answer is refused and leaves it owed, then a good one goes. */
static void answer(struct drv *d)
{
	int owed = d->p.owed;
	const struct reply *r = backend(d, owed);
	int rc = smtp_proto_answer(&d->p, r->text, strlen(r->text));

	FUZZ_ASSERT(owed != 0);
	FUZZ_ASSERT(rc == (r->ok ? 0 : -1));
	if (rc != 0) {
		FUZZ_ASSERT(d->p.owed == owed);         /* nothing queued, still owed */
		FUZZ_ASSERT(smtp_proto_answerf(&d->p, owed == SMTP_EV_DATA ? 354 : 250, NULL, "fallback") == 0);
	}
	FUZZ_ASSERT(d->p.owed == 0);
}

/* Record an event and check what it carries. */
static void record(struct drv *d, enum smtp_ev e, const struct smtp_evinfo *ev)
{
	char num[32];
	size_t i;

	snprintf(num, sizeof(num), "\n#%d ", (int)e);
	switch (e) {
	case SMTP_EV_NEED_INPUT:
	case SMTP_EV_WAIT:
		return;
	case SMTP_EV_HELO:
		FUZZ_ASSERT(d->p.owed == 0);
		tr_str(d, num);
		tr_str(d, ev->arg);
		break;
	case SMTP_EV_MAIL:
	case SMTP_EV_RCPT:
		FUZZ_ASSERT(d->p.owed == (int)e);
		FUZZ_ASSERT(strlen(ev->arg) <= SMTP_ADDR_MAX && strlen(ev->params) <= SMTP_PARAM_MAX);
		if (d->cfg.mode == SMTP_MODE_SUBMISSION || d->cfg.mode == SMTP_MODE_SMTPS)
			FUZZ_ASSERT(d->p.tls);
		if (d->cfg.auth_required)
			FUZZ_ASSERT(d->p.authenticated);
		tr_str(d, num);
		tr_str(d, ev->arg);
		tr_str(d, " ");
		tr_str(d, ev->params);
		break;
	case SMTP_EV_DATA_LINE:
		FUZZ_ASSERT(d->p.owed == 0);
		if (ev->len >= 2 && ev->data[ev->len - 2] == '\r' && ev->data[ev->len - 1] == '\n') {
			/* a line: 1000 octets with CRLF, one more for a transparency dot */
			FUZZ_ASSERT(ev->len <= SMTP_TEXT_MAX || (ev->len == SMTP_TEXT_MAX + 1 && ev->data[0] == '.'));
			for (i = 0; i + 2 < ev->len; i++)
				FUZZ_ASSERT(ev->data[i] != '\r' && ev->data[i] != '\n');
		} else {
			/* a part of a longer line: the line buffer's worth, no line end in it */
			FUZZ_ASSERT(d->p.line_cont);
			FUZZ_ASSERT(ev->len == SMTP_TEXT_MAX - 2 || (ev->len == SMTP_TEXT_MAX - 1 && ev->data[0] == '.'));
			for (i = 0; i < ev->len; i++)
				FUZZ_ASSERT(ev->data[i] != '\r' && ev->data[i] != '\n');
		}
		tr_str(d, num);
		tr_put(d, ev->data, ev->len);
		break;
	case SMTP_EV_DATA_END:
		if (ev->error == SMTP_OK) {
			FUZZ_ASSERT(memcmp(d->tail, "\r\n.\r\n", 5) == 0);
			FUZZ_ASSERT(d->p.owed == SMTP_EV_DATA_END);
		} else {
			FUZZ_ASSERT(d->p.owed == 0);
		}
		tr_str(d, num);
		snprintf(num, sizeof(num), "%d", (int)ev->error);
		tr_str(d, num);
		break;
	case SMTP_EV_AUTH:
		FUZZ_ASSERT(d->p.owed == SMTP_EV_AUTH);
		FUZZ_ASSERT(d->cfg.auth_available && d->p.tls);
		FUZZ_ASSERT(strcmp(ev->params, "PLAIN") == 0 || strcmp(ev->params, "LOGIN") == 0);
		tr_str(d, num);
		tr_str(d, ev->arg);
		tr_str(d, " ");
		tr_put(d, ev->data, ev->len);
		break;
	case SMTP_EV_DATA:
		FUZZ_ASSERT(d->p.owed == SMTP_EV_DATA);
		tr_str(d, num);
		break;
	case SMTP_EV_STARTTLS:
		FUZZ_ASSERT(!d->p.tls && d->p.owed == 0);
		tr_str(d, num);
		break;
	default:
		tr_str(d, num);
		snprintf(num, sizeof(num), "%d", (int)ev->error);
		tr_str(d, num);
		break;
	}
}

/* Keep the last five octets the engine used. */
static void note_used(struct drv *d, size_t used)
{
	size_t k;

	for (k = 0; k < used; k++) {
		memmove(d->tail, d->tail + 1, 4);
		d->tail[4] = d->rxq[k];
	}
}

/* Run the engine over what was received until it needs input. */
static void pump_events(struct drv *d)
{
	while (!d->closed && !d->starttls) {
		struct smtp_evinfo ev;
		size_t used = (size_t)-1, out_before = d->p.out_len;
		enum smtp_ev e = smtp_proto_input(&d->p, d->rxq, d->rxlen, &used, &ev);

		FUZZ_ASSERT(used <= d->rxlen);
		FUZZ_ASSERT(d->p.out_len <= SMTP_OUT_MAX);
		FUZZ_ASSERT(d->p.naccepted_rcpts <= (d->cfg.max_rcpts ? d->cfg.max_rcpts : 100));
		note_used(d, used);
		drain(d);
		record(d, e, &ev);
		memmove(d->rxq, d->rxq + used, d->rxlen - used);
		d->rxlen -= used;
		switch (e) {
		case SMTP_EV_NEED_INPUT:
			if (d->rxlen == 0 || (used == 0 && out_before == 0))
				return;
			break;
		case SMTP_EV_WAIT:
			FUZZ_ASSERT(used == 0 && d->p.owed != 0);
			answer(d);
			break;
		case SMTP_EV_STARTTLS:
			d->starttls = 1;
			d->rxlen = 0;
			smtp_proto_tls_started(&d->p);
			FUZZ_ASSERT(d->p.tls && d->p.helo[0] == '\0');
			tr_str(d, "\n#TLS");
			return;
		case SMTP_EV_MAIL:
		case SMTP_EV_RCPT:
		case SMTP_EV_DATA:
		case SMTP_EV_AUTH:
			answer(d);
			break;
		case SMTP_EV_DATA_END:
			if (ev.error == SMTP_OK)
				answer(d);
			break;
		case SMTP_EV_QUIT:
		case SMTP_EV_CLOSE:
			d->closed = 1;
			break;
		default:
			FUZZ_ASSERT(d->p.owed == 0);
			break;
		}
	}
	drain(d);
}

/* As the session's loop does: the events, then the line buffers released (ASan finds a later use). */
static void pump(struct drv *d)
{
	pump_events(d);
	smtp_proto_trim(&d->p);
	FUZZ_ASSERT(d->p.wk == NULL || smtp_proto_mid_line(&d->p) || d->p.owed || d->p.sasl);
}

/* A fresh session with the configuration the header asks for. */
static void setup(struct drv *d, const uint8_t *h)
{
	static const uint64_t sizes[] = { 0, 64, 1000, 10485760 };

	smtp_proto_free(&d->p);
	memset(&d->cfg, 0, sizeof(d->cfg));
	d->cfg.hostname = "mx.example";
	d->cfg.mode = (h[0] & 3) == 3 ? SMTP_MODE_MX : (enum smtp_mode)(h[0] & 3);
	d->cfg.tls_available = (h[0] >> 2) & 1;
	d->cfg.auth_available = (h[0] >> 3) & 1;
	d->cfg.auth_required = (h[0] >> 4) & 1;
	d->cfg.size_limit = sizes[(h[0] >> 5) & 3];
	d->cfg.max_rcpts = h[2] & 15;
	d->cfg.max_errors = h[2] >> 4;
	d->rng = h[1];
	d->closed = d->starttls = 0;
	d->rxlen = d->trlen = 0;
	memset(d->tail, 0, sizeof(d->tail));
	smtp_proto_init(&d->p, &d->cfg, 0);
	if (d->cfg.mode == SMTP_MODE_SMTPS)
		smtp_proto_greet(&d->p);        /* the session greets once TLS is up */
	drain(d);
}

/* The client sends n bytes (what fits in the receive queue). */
static void feed(struct drv *d, const uint8_t *s, size_t n)
{
	if (n > RXQ_MAX - d->rxlen)
		n = RXQ_MAX - d->rxlen;
	memcpy(d->rxq + d->rxlen, s, n);
	d->rxlen += n;
	pump(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: see the file comment. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *s, *end = data + size;

	if (size < 3)
		return 0;
	if (A.tr == NULL) {
		A.tr = malloc(TR_MAX);
		B.tr = malloc(TR_MAX);
		FUZZ_ASSERT(A.tr && B.tr);
	}
	setup(&A, data);
	setup(&B, data);
	for (s = data + 3; s <= end && !A.closed && !B.closed;) {
		const uint8_t *e = memchr(s, SEP, (size_t)(end - s));
		size_t n, k;

		if (e == NULL)
			e = end;
		n = (size_t)(e - s);
		/* A: the whole send at once */
		A.starttls = 0;
		feed(&A, s, n);
		/* B: the same send, one octet at a time */
		B.starttls = 0;
		for (k = 0; k < n && !B.closed && !B.starttls; k++)
			feed(&B, s + k, 1);
		FUZZ_ASSERT(A.trlen == B.trlen && memcmp(A.tr, B.tr, A.trlen) == 0);
		s = e + 1;
	}
	FUZZ_ASSERT(A.closed == B.closed);
	FUZZ_ASSERT(A.trlen == B.trlen && memcmp(A.tr, B.tr, A.trlen) == 0);
	if (getenv("FUZZ_SMTP_DUMP"))   /* show what a seed does: replies and "#event" lines */
		fprintf(stderr, "%.*s\n", (int)A.trlen, A.tr);
	smtp_proto_free(&A.p);
	smtp_proto_free(&B.p);
	return 0;
}
