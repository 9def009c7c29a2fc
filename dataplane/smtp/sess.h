/*
 * sess.h - inside the SMTP sessions of one worker (private to
 * dataplane/smtp): the worker's state and one session's, shared by the
 * files that each handle one side of a session:
 *   session.c   the client side: TCP, the engine's events, deadlines,
 *               stress mode, the relay seen from the session
 *   sess_tls.c  the TLS bridge: handshakes, their facts and counters
 *   sess_auth.c the AUTH bridge: checks handed to the service lcore
 *   gate.c      the access map's stages (policy/stage.h) for a session
 *   worker.c    the worker: start, the service lcore's API, polling
 * Calls go one way: worker.c calls into session.c and the bridges;
 * session.c calls the bridges and gate.c; none calls back.
 */
#ifndef MX_SESS_H
#define MX_SESS_H

#include <stdint.h>
#include <arpa/inet.h>

#include "session.h"
#include "common/spare.h"
#include "dataplane/smtp/gate.h"
#include "dataplane/smtp/relay.h"
#include "dataplane/smtp/slog.h"
#include "dataplane/smtp/smtp_proto.h"
#include "dataplane/smtp/tx.h"

struct auth_req;
struct dns_check;
struct dns_resolver;
struct tls_macros;
struct tls_worker;

enum cstate { C_GREET_DELAY, C_SMTP, C_TLS_HS, C_CLOSING };

/* Handshakes of one cipher (names published before they are counted). */
struct cipher_count {
	char version[12], name[64];
	uint64_t n;
};

struct listen_arg {
	struct smtp_worker *w;
	enum smtp_mode mode;
};

#define TLS_IN_MAX 4096          /* decrypted client bytes waiting for the engine */
/* engine rounds (a line or an event each) one pump runs before other sessions get their turn */
#define SESS_PUMP_ROUNDS 4096

struct smtp_worker {
	struct net_ctx *ctx;
	const struct mx_config *cfg;
	const struct mx_config *next_cfg; /* set by the service lcore (SIGHUP), taken by smtp_worker_sync() */
	struct tls_ctx *tls;
	struct auth_service *auth;    /* SMTP AUTH checks (service lcore), NULL = none */
	struct tls_worker *tw;
	struct smtp_cfg pcfg[SMTP_MODE_COUNT];  /* the engine's settings per port flavour */
	struct listen_arg la[SMTP_MODE_COUNT];
	struct relay_pool rp;     /* the backends */
	struct slog_ring *log;    /* this worker's log lines, drained by the service lcore */
	struct slog_qid qid;      /* this worker's queue IDs */
	struct dns_resolver *dns; /* dns_servers: client names, DNSBL (NULL: none) */
	uint32_t next_id;
	struct sess *dead;        /* killed sessions, freed at the next poll */
	struct sess *live;        /* every session not killed (for listing) */
	struct sess *again;       /* sessions whose pump stopped at its round limit: pumped at the next poll */
	struct gate gate;         /* the access map's stages, Limit:, decision counters */
	int draining;             /* set by the service lcore: refuse new sessions */
	char *list_buf;           /* set by the service lcore: list sessions here */
	size_t list_len;
	long list_done;           /* -1 while a list is asked for, else its length */
	int stress;               /* Postfix's stress mode: sessions are scarce, deadlines cut */
	struct smtp_stats st;
	uint64_t timeouts_after[SMTP_W_COUNT];     /* client timeouts by the last command */
	struct cipher_count ciphers[SMTP_CIPHER_SLOTS + 1];  /* the last: "other" */
	unsigned nciphers;        /* published with a release store */
	/* handshake times (sess_tls.c): counts by bucket (tls_hs_le_us; the last: above them all), their sum */
	uint64_t tls_hs[SMTP_TLS_HS_BUCKETS + 1];
	uint64_t tls_hs_sum_us;
	/* freed buffers of the sessions, for the next (common/spare.h) */
	struct spare spare_out;   /* SMTP_OUT_MAX: the engine's output */
	struct spare spare_wk;    /* struct smtp_work: the engine's line buffer */
	struct spare spare_tin;   /* TLS_IN_MAX: decrypted input */
};

/*
 * The TLS facts every TLS session keeps (the certificate DNs live apart):
 * the static strings of struct tls_macros, "" (verify "NONE") before TLS.
 */
struct tls_brief {
	const char *verify, *version, *cipher;
	int cipher_bits, alg_bits;
};

struct sess {
	struct smtp_worker *w;
	struct tcp_conn *c;
	struct tls_conn *tls;
	enum smtp_mode mode;
	enum cstate cst;
	int client_gone, shut, dead;
	int closing_armed;        /* C_CLOSING's timer runs (the client may never read the last reply) */
	int peer_fin;             /* the client half-closed (FIN, or TLS close_notify) while owed an answer: close once it is out */
	int greet_pause_ms;       /* GreetPause: the map's pause before the banner, -1: none */
	uint64_t req_start_us;    /* the current command began (its deadline runs from here) */
	uint64_t data_deadline_us; /* the message must be in by then (extended as bytes come) */
	uint64_t data_last_us;    /* message bytes last came */
	uint64_t paused_us;       /* the client's deadline is paused since (0 = running) */
	struct sess *lnext, *lprev; /* the worker's live list */
	struct gate_slot *lim;    /* counted under a limit (gate.c), or NULL */
	uint64_t born_us;
	uint64_t tls_hs_us;       /* the first bytes of the ClientHello came (0: not yet) */
	struct smtp_cfg pcfg;     /* the engine's settings for this session (Srv_Features) */
	struct sess *next_dead;
	struct sess *next_again;
	unsigned key;             /* the session number: [pid] of its log lines, id= in mxctl sessions */
	char id[12];              /* the same, as text */
	char qid[SLOG_QID_MAX];   /* the transaction's queue ID, once a recipient was taken, else "" */
	uint64_t mail_us, dot_us; /* the transaction's MAIL and the message's end (delay=, delays=) */
	char addr[INET6_ADDRSTRLEN];
	uint16_t port;
	char *namaddr;            /* Postfix's "name[addr]" in every line: namaddr_buf ("unknown[addr]"),
				     or malloc'd "name[addr]" once DNS verified the name */
	char namaddr_buf[INET6_ADDRSTRLEN + 10];
	char *name;               /* the verified client name (PTR and forward), NULL: "unknown" */
	struct dns_check *dns;    /* the connect-time lookups while the banner waits, or NULL */
	uint8_t name_status;      /* enum dns_name_status (${client_resolve}); 0: not looked up */
	uint8_t dns_wait;         /* the banner waits for the lookups */
	uint8_t rcpt_limit_logged; /* the 452 4.5.3 of smtpd_recipient_limit was logged (once a transaction) */
	uint8_t connect_ok;       /* a Connect: entry said OK or RELAY: no DNSBL verdict (sendmail's order) */
	uint8_t in_again;         /* on the worker's again list (next_again) */
	const char *blocked_by;   /* DNSBL score over the threshold: the site to name */
	struct smtp_tx tx;        /* the transaction */
	struct relay *relay;      /* the backend side, allocated at the first MAIL */
	struct tls_brief mac;     /* what logs, Received and PROXY v2 need */
	struct tls_macros *cert;  /* the full macros, kept only when a certificate was shown */
	struct auth_req *areq;    /* an AUTH check at the service lcore, or NULL */
	char *login;              /* the authenticated user (XCLIENT LOGIN=), or NULL */
	int no_auth;              /* Srv_Features A */
	int no_client_cert;       /* Srv_Features V */
	int ask_client_cert;      /* Srv_Features v */
	char sasl_method[8];      /* PLAIN or LOGIN, for the log */
	int tls_up;
	size_t tin_len;
	uint8_t *tin;             /* decrypted input, allocated only while non-empty */
	struct smtp_proto p;
};

/* Microseconds a deadline of ms may be at most now: cut in stress mode. */
static inline uint64_t cut_us(const struct smtp_worker *w, unsigned ms)
{
	if (w->stress && w->cfg->smtpd_stress_timeout_ms < ms)
		ms = w->cfg->smtpd_stress_timeout_ms;
	return (uint64_t)ms * 1000;
}

/* The queue ID in a log line: the transaction's, or Postfix's NOQUEUE before one. */
static inline const char *sess_qid(const struct sess *s)
{
	return s->qid[0] != '\0' ? s->qid : "NOQUEUE";
}

/* "ESMTP" or "SMTP", as proto= in Postfix's reject lines. */
static inline const char *sess_proto(const struct sess *s)
{
	return s->p.ehlo ? "ESMTP" : "SMTP";
}

/* The client's name for logs and Received (Postfix's client_name). */
static inline const char *sess_name(const struct sess *s)
{
	return s->name ? s->name : "unknown";
}

/* ---- session.c ---- */
extern const struct tcp_app_ops sess_client_ops;   /* the listeners' callbacks */
/* Feed the engine what the client sent, flush its replies (after an answer came). */
void sess_pump(struct sess *s);
/* End a session (reset the client when abort_client); freed by the worker's next poll. */
void sess_kill(struct sess *s, int abort_client);
/* Give the TLS input buffer (if any) back to the worker's spares, wiped. */
void sess_tin_release(struct sess *s);
/* What the backend was told of the client (HELO, TLS, LOGIN) changed: close its connection (the next MAIL opens one). */
void sess_relay_forget(struct sess *s);
/* A queued private-key operation of the session arg finished (tls_worker_new()). */
void sess_key_done(void *arg);

/* ---- sess_tls.c ---- */
/* Begin TLS on the client connection (465 at accept, or after STARTTLS): 0, or -1. */
int sess_tls_begin(struct sess *s);
/* What a step of the handshake came to. */
enum sess_tls_step { SESS_TLS_UP, SESS_TLS_WAIT, SESS_TLS_FAILED };
/* Drive the handshake; once up, its facts are kept, counted and logged; a failure is counted and logged. */
enum sess_tls_step sess_tls_handshake(struct sess *s);
/* mxgate_smtp_tls_cipher_total lines. */
void sess_tls_print_ciphers(FILE *f, const struct smtp_worker *w, unsigned lcore);
void sess_tls_print_hs_times(FILE *f, const struct smtp_worker *w, unsigned lcore);

/* ---- sess_auth.c ---- */
/* Hand AUTH's credentials to the service lcore (or answer 454 at once). */
void sess_auth_ask(struct sess *s, const struct smtp_evinfo *ei);
/* The service lcore's verdict: the answer is queued (the caller pumps the session). */
void sess_auth_answer(struct sess *s, const struct auth_req *r);

#endif
