/*
 * smtp_proto.h - the SMTP server protocol engine (RFC 5321, 1869, 2920,
 * 3207, 3463, 4954, 6152, 6531, 1870): bytes in, replies and events out, no I/O,
 * no DPDK, no TLS. One struct smtp_proto per client session; the session
 * (dataplane/smtp/session.c) feeds it what TCP or TLS delivered, sends what
 * it produced, and answers the events that need the backend MTA.
 *
 * Model (after nginx's resumable parser and OpenSMTPD's command table):
 *  - smtp_proto_input() consumes input until it has one event for the
 *    session, or needs more bytes, or must wait for the session's answer.
 *  - While an answer is owed (MAIL, RCPT, DATA, end of DATA), input is not
 *    consumed: pipelined commands stay queued in front of the engine and
 *    replies go out in order (RFC 2920).
 *  - Replies are appended to a bounded output buffer; when it is fuller than
 *    SMTP_OUT_HIGH the engine stops consuming input (back-pressure): feed
 *    the queued input again once smtp_proto_output_done() has drained it.
 *    Budget: one input step adds at most SMTP_STEP_OUT, an answer at most
 *    SMTP_ANSWER_MAX, smtp_proto_reply() at most SMTP_STEP_OUT, so
 *    SMTP_OUT_HIGH + SMTP_STEP_OUT + SMTP_ANSWER_MAX + SMTP_STEP_OUT fits
 *    in SMTP_OUT_MAX and no reply is ever dropped.
 *  - Every line is bounded before its CRLF arrives (command 512 octets,
 *    text 1000, RFC 5321 4.5.3.1); bare CR or LF is refused like Postfix's
 *    smtpd_forbid_bare_newline, so <LF>.<LF> never ends DATA.
 */
#ifndef MX_SMTP_PROTO_H
#define MX_SMTP_PROTO_H

#include <stddef.h>
#include <stdint.h>

struct spare;

#define SMTP_CMD_MAX    512     /* octets including CRLF */
#define SMTP_TEXT_MAX   1000    /* octets including CRLF */
#define SMTP_OUT_MAX    2560    /* output buffer */
#define SMTP_OUT_HIGH   512     /* stop consuming input above this */
#define SMTP_ADDR_MAX   256     /* mailbox path */
#define SMTP_PARAM_MAX  256     /* MAIL/RCPT parameters kept for the relay */
#define SMTP_STEP_OUT   512     /* most output one command line (or one reply) adds */
#define SMTP_ANSWER_MAX 1024    /* longest answer (after enhanced codes are added) */
#define SMTP_AUTH_FAILS_MAX 3   /* AUTH answered 5xx (535) in one session, then 421 and close;
				   a 4xx (454, no check made) counts as an error (max_errors) */

/* The listening port's flavour. */
enum smtp_mode {
	SMTP_MODE_MX = 0,           /* 25: STARTTLS offered, not required */
	SMTP_MODE_SUBMISSION,       /* 587: STARTTLS required before MAIL (530 5.7.0) */
	SMTP_MODE_SMTPS,            /* 465: TLS from the first byte (RFC 8314) */
	SMTP_MODE_COUNT
};

/* What the session configures. */
struct smtp_cfg {
	const char *hostname;       /* in the greeting and EHLO reply */
	enum smtp_mode mode;
	int tls_available;          /* a certificate is loaded: offer STARTTLS */
	int auth_available;         /* users exist: offer AUTH PLAIN LOGIN once TLS is up (RFC 4954) */
	int auth_required;          /* 587 with submission_auth_required: MAIL needs AUTH (530) */
	uint64_t size_limit;        /* SIZE advertised and enforced, 0 = none */
	unsigned max_rcpts;         /* 100: then 452 4.5.3 (0 = 100) */
	unsigned max_errors;        /* 10 bad commands: 421 and close (0 = 10) */
	unsigned max_junk;          /* NOOP, RSET, VRFY, EXPN, HELP before each one counts as an
				       error, until a message is accepted (Postfix's
				       smtpd_junk_command_limit; 0 = 100) */
	struct spare *spare_out;    /* the worker's spare output buffers (common/spare.h); NULL: malloc */
	struct spare *spare_wk;     /* and line buffers (struct smtp_work) */
};

/* Events for the session. */
enum smtp_ev {
	SMTP_EV_NEED_INPUT = 0,     /* all input used (or blocked): wait for more */
	SMTP_EV_WAIT,               /* an answer is owed: call smtp_proto_answer() first */
	SMTP_EV_HELO,               /* HELO/EHLO accepted (reply already queued); ev.arg = name;
				       never inside a transaction (503 there, as Postfix) */
	SMTP_EV_STARTTLS,           /* "220 2.0.0 Ready to start TLS" queued: send it, discard
				       every byte received after the command, start TLS, then
				       call smtp_proto_tls_started(); *used ends exactly at the
				       STARTTLS line, input is ignored until then */
	SMTP_EV_MAIL,               /* answer owed; ev.arg = reverse path, ev.params = parameters */
	SMTP_EV_RCPT,               /* answer owed; ev.arg = forward path, ev.params */
	SMTP_EV_DATA,               /* answer owed: 354 (then message lines follow) or an error */
	SMTP_EV_DATA_LINE,          /* message text exactly as received, still dot-stuffed:
				       ev.data/ev.len, a line with its CRLF, or a part of a line
				       longer than the line buffer (no CRLF; the rest follows);
				       no answer owed */
	SMTP_EV_DATA_END,           /* CRLF.CRLF: answer owed (250 after the backend's 250);
				       ev.error != 0 when the message was refused on the way
				       (over SIZE): the reply is already queued,
				       no answer is owed, and the backend must drop what it got */
	SMTP_EV_AUTH,               /* AUTH PLAIN/LOGIN credentials complete: answer owed (235
				       2.7.0, or 535 5.7.8 / 454 4.7.0); ev.arg = user (authcid),
				       ev.data/len = password, wiped once answered;
				       ev.params = the mechanism, "PLAIN" or "LOGIN" */
	SMTP_EV_RSET,               /* RSET: "250 2.0.0 Ok" queued; abort the backend transaction */
	SMTP_EV_QUIT,               /* "221 2.0.0 Bye" queued: flush, then close */
	SMTP_EV_CLOSE,              /* a 421 or 5xx-and-close reply queued: flush, then close */
};

/* Why an event came (counters, logs). */
enum smtp_refusal {
	SMTP_OK = 0,
	SMTP_R_LINE_TOO_LONG,       /* 500 5.5.2 Line too long */
	SMTP_R_BARE_NEWLINE,        /* 521 5.5.2 bare <LF> or <CR> received, and close; ev.arg =
				       "LF" or "CR" */
	SMTP_R_TOO_MANY_ERRORS,     /* 421 4.7.0 too many errors, and close */
	SMTP_R_TOO_BIG,             /* 552 5.3.4 message size exceeds fixed limit */
	SMTP_R_TOO_MANY_RCPTS,      /* 452 4.5.3 too many recipients */
	SMTP_R_PIPELINED_STARTTLS,  /* plaintext after STARTTLS discarded (CVE-2011-0411) */
	SMTP_R_AUTH_FAILURES,       /* 421 4.7.0 after SMTP_AUTH_FAILS_MAX failed AUTH, and close */
	SMTP_R_NON_SMTP,            /* 221 2.7.0: an HTTP verb or a header line (Postfix's
				       smtpd_forbidden_commands), and close; ev.arg = the line */
	SMTP_R_NUL,                 /* 521 5.5.2: a NUL byte inside DATA, and close */
	SMTP_R_NO_MEMORY,           /* 421 4.3.0: no memory for the line buffer or the HELO name, and close */
	SMTP_R_UTF8_UNDECLARED,     /* 553 5.6.7: a non-ASCII address in a transaction without SMTPUTF8 */
	SMTP_R_MAX
};

/*
 * The last command read: Postfix's word in "timeout after MAIL", "lost
 * connection after RCPT". A bounded set, so it can label counters.
 */
enum smtp_where {
	SMTP_W_CONNECT = 0,         /* nothing read yet */
	SMTP_W_HELO, SMTP_W_EHLO, SMTP_W_STARTTLS, SMTP_W_AUTH, SMTP_W_MAIL, SMTP_W_RCPT,
	SMTP_W_DATA,                /* the DATA command, and the message after its 354 */
	SMTP_W_END_OF_MESSAGE,      /* the final dot */
	SMTP_W_RSET, SMTP_W_NOOP, SMTP_W_QUIT, SMTP_W_HELP, SMTP_W_VRFY, SMTP_W_EXPN,
	SMTP_W_UNKNOWN,             /* a line that is no command */
	SMTP_W_COUNT
};
extern const char *const smtp_where_names[SMTP_W_COUNT];

struct smtp_evinfo {
	const char *arg;            /* NUL-terminated, valid until the next input call or
				       smtp_proto_trim() */
	const char *params;         /* MAIL/RCPT parameters after the path, may be "" */
	const uint8_t *data;        /* DATA_LINE */
	size_t len;
	enum smtp_refusal error;
	int auth_malformed;         /* AUTH: credentials that cannot pass (an authzid not the user's own,
				       an empty or too long field): arg and data empty, the check must fail */
};

/*
 * The buffers of the command being read: the line (a message line gets its
 * CRLF back in place), the MAIL/RCPT path or AUTH user (arg) and
 * the parameters or AUTH password (params). 1.5 KiB that an idle session
 * does not hold: allocated when input comes, released by smtp_proto_trim().
 */
struct smtp_work {
	uint8_t line[SMTP_TEXT_MAX + 1];
	char arg[SMTP_ADDR_MAX + 1];
	char params[SMTP_PARAM_MAX + 1];
};

/*
 * Engine state; the session embeds it (the output buffer is allocated only
 * while replies wait). The session may read helo, ehlo, tls, owed, where and
 * the stat_* counters, and the owed MAIL/RCPT path with smtp_proto_arg();
 * everything else is private.
 */
struct smtp_proto {
	const struct smtp_cfg *cfg;
	/* the implementation's fields follow (owned by smtp_proto.c) */
	int state;                  /* enum in smtp_proto.c; smtp_proto_state_name() */
	int tls;                    /* TLS active on this session */
	int ehlo;                   /* EHLO (not HELO) was used */
	int owed;                   /* the event whose answer is owed (enum smtp_ev), or 0 */
	int authenticated;          /* AUTH succeeded (235) */
	int sasl;                   /* inside an AUTH exchange: which response comes next */
	unsigned auth_failures;     /* AUTH answered 5xx in this session (SMTP_AUTH_FAILS_MAX) */
	unsigned errors;            /* bad commands so far, MAIL/RCPT answered 4xx/5xx and AUTH
				       answered 4xx (max_errors: 421) */
	unsigned junk;              /* junk commands since the last accepted message */
	enum smtp_refusal pending_close; /* an answer reached max_errors: the next input call
					    returns SMTP_EV_CLOSE with this error */
	enum smtp_where where;      /* the last command read */
	unsigned nrcpts;            /* RCPT commands relayed in this transaction */
	unsigned naccepted_rcpts;   /* of which the backend accepted (max_rcpts) */
	unsigned rcpt_overshoot;    /* 452s not counted as errors (Postfix's overshoot) */
	int smtputf8;               /* the last MAIL read carried SMTPUTF8 (RFC 6531) */
	uint64_t msg_bytes;         /* message octets so far, dot-stuffing removed */
	int data_error;             /* delayed refusal inside DATA (enum smtp_refusal) */
	int cr;                     /* the last byte read was a CR (line not ended yet) */
	int line_overflow;          /* current line is over its limit: being discarded */
	int line_cont;              /* message text: this line's first part already went out */
	size_t line_len;            /* bytes of the current line kept in wk->line[] */
	struct smtp_work *wk;       /* the line and command buffers: allocated when input comes,
				       released by smtp_proto_trim() */
	const char *helo;           /* the HELO/EHLO name, "" before one (allocated to its size) */
	size_t out_len;
	char *out;                  /* SMTP_OUT_MAX bytes, allocated only while output is pending */
	uint64_t stat_pipelined_after_starttls; /* bytes discarded after STARTTLS */
	uint64_t stat_improper_pipelining;      /* group-ending commands followed by more input */
	uint64_t stat_tls_unavailable;          /* STARTTLS answered 454 (no certificate) */
	uint64_t stat_530_starttls;             /* 587: 530 5.7.0 Must issue a STARTTLS command first */
	uint64_t stat_530_auth;                 /* 587: 530 5.7.0 Authentication required */
	uint64_t stat_auth_refused;             /* AUTH refused by the engine (not offered, syntax,
						   mechanism, aborted, undecodable) */
	uint64_t stat_refusal[SMTP_R_MAX];      /* refusals by reason (index SMTP_R_*) */
	/* commands by where (Postfix's per-command counts for the disconnect line): tried, and
	   succeeded (MAIL, RCPT, AUTH once answered 2xx; DATA once the message got its 2xx;
	   STARTTLS once TLS is up) */
	uint16_t cmd_total[SMTP_W_COUNT], cmd_ok[SMTP_W_COUNT];
};

/* smtp_proto_init() flags. */
#define SMTP_INIT_TLS       1   /* TLS is active from the start (SMTPS after its handshake) */
#define SMTP_INIT_NO_BANNER 2   /* no greeting yet: the session sends it later with
				   smtp_proto_greet() (greeting delay), or never (a refusal
				   or a 421 replaces it) */

/*
 * Start a session: queue the greeting "220 <hostname> ESMTP", unless SMTPS
 * before TLS (no SMTP_INIT_TLS) or SMTP_INIT_NO_BANNER: then input is not
 * read until smtp_proto_greet(). flags: SMTP_INIT_* (0: none).
 */
void smtp_proto_init(struct smtp_proto *p, const struct smtp_cfg *cfg, int flags);

/* The greeting held back at init (SMTPS: once TLS is up, marking TLS active); a no-op once greeted. */
void smtp_proto_greet(struct smtp_proto *p);

/*
 * Consume input. *used gets the bytes consumed from buf (the session drops
 * them from its receive queue). Returns the next event.
 */
enum smtp_ev smtp_proto_input(struct smtp_proto *p, const uint8_t *buf, size_t len,
			      size_t *used, struct smtp_evinfo *ev);

/*
 * Answer the owed event with a complete reply (one or more lines, each
 * "ddd-text\r\n" / "ddd text\r\n", one code), e.g. the backend's own reply.
 * A 2xx to MAIL/RCPT advances the transaction; a 4xx/5xx to MAIL/RCPT counts
 * as an error like a bad command (Postfix), except 452 (a recipient
 * overshoot, RFC 5321 4.5.3.1.10), and at max_errors queues the 421 after
 * the answer: the next smtp_proto_input() returns SMTP_EV_CLOSE. A 2xx to
 * AUTH authenticates; a 5xx counts toward SMTP_AUTH_FAILS_MAX; a 4xx (454:
 * no check could be made) does not, it counts as an error (max_errors, the
 * 421 as above). A 354 to DATA enters the message; a reply to the end of
 * DATA ends the transaction whatever it says;
 * anything else leaves the state as RFC 5321 says. A 2xx/4xx/5xx line
 * without an RFC 3463 code gets "X.0.0" inserted. Returns 0, or -1 (nothing
 * queued, still owed) when no answer was owed, the code does not fit the
 * event (MAIL/RCPT/end of DATA: 2xx/4xx/5xx; DATA: 354/4xx/5xx), the text
 * is not a well-formed reply or is longer than SMTP_ANSWER_MAX.
 */
int smtp_proto_answer(struct smtp_proto *p, const char *reply, size_t len);

/*
 * Same with code, enhanced code and one line of text: (p, 451, "4.4.1", "...");
 * enh NULL gives "X.0.0" for 2xx/4xx/5xx and nothing for 354.
 */
int smtp_proto_answerf(struct smtp_proto *p, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Queue a reply that is not an answer (e.g. 421 on a timeout, 554 pregreet),
 * one line of at most SMTP_STEP_OUT octets, enh as for answerf. Returns 0, or -1 when the output
 * buffer has no room (never after one input step and its answer).
 */
int smtp_proto_reply(struct smtp_proto *p, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* TLS is up after STARTTLS: forget HELO, transaction, everything (RFC 3207 4.2). */
void smtp_proto_tls_started(struct smtp_proto *p);

/* Release what the engine holds (buffers, pending output); call before reusing or freeing p. */
void smtp_proto_free(struct smtp_proto *p);

/*
 * The session handled every event and has no input left: release the line
 * and command buffers (their secrets wiped) unless a line is half read, an
 * answer is owed or an AUTH exchange is under way. Event text from earlier
 * input calls is invalid afterwards.
 */
void smtp_proto_trim(struct smtp_proto *p);

/* The path of the owed MAIL or RCPT ("" when none). */
const char *smtp_proto_arg(const struct smtp_proto *p);

/* Pending output, and how much of it was sent. */
const char *smtp_proto_output(const struct smtp_proto *p, size_t *len);
void smtp_proto_output_done(struct smtp_proto *p, size_t n);

/* Is the engine inside a message (DATA timeout applies) or between commands? */
int smtp_proto_in_data(const struct smtp_proto *p);

/* Is a mail transaction open (MAIL accepted, not yet ended by the message's end or RSET)? */
int smtp_proto_in_transaction(const struct smtp_proto *p);

/* Does the engine hold part of a line (a command or message line begun, no CRLF yet)? */
int smtp_proto_mid_line(const struct smtp_proto *p);

/*
 * Postfix's per-command summary of the session, as its disconnect line
 * ends: " ehlo=1 starttls=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=4/6":
 * name=n where every attempt succeeded, name=n/m where not, commands
 * absent when never tried, in Postfix's order; HELP and EXPN, which
 * Postfix does not know, count as unknown (never a success there);
 * "commands=0/0" when nothing
 * came. Returns the length written (cut to len - 1).
 */
size_t smtp_proto_cmd_stats(const struct smtp_proto *p, char *buf, size_t len);
/* Name of the current state, for logs and tests. */
const char *smtp_proto_state_name(const struct smtp_proto *p);

#endif
