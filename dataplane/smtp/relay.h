/*
 * relay.h - the backend side of one SMTP session: an ESMTP client to a
 * backend MTA, opened at the session's first MAIL (so that STARTTLS and
 * HELO are known). It connects to the next backend not resting (round
 * robin), optionally sends a PROXY v2 header, reads the greeting, says
 * EHLO, STARTTLS when offered unless the access map's Try_TLS says NO
 * (/starttls: required), judges TLS_Srv, announces the client with
 * XCLIENT when offered with ADDR (only the attributes the backend lists;
 * then greets again as the client), AUTH with the
 * map's AuthInfo (a backend failing TLS_Srv or AUTH is skipped; with none
 * left the MAIL gets the map's 4xx through ops->replied), and then relays the session's MAIL, RCPT, DATA, the message and its dot,
 * and RSET. A MAIL that no backend answered moves to the next backend
 * (failover); a backend that failed during set-up rests for
 * backend_retry_ms, except when it refused this client (a 4xx/5xx to
 * XCLIENT or to the client's HELO right after; after a PROXY v2 header, a
 * 4xx/5xx with an X.7.Y enhanced code to the greeting or to the client's
 * HELO): then neither rest nor failover, and the MAIL gets a 4xx with the backend's reason through
 * ops->replied. Its timer runs whenever mxgate waits on the backend.
 * The bytes on the wire come from relay_wire.h.
 *
 * The relay never calls the session by name: it reports through a small
 * ops table (as nginx keeps ngx_mail_proxy_module.c apart from the mail
 * session):
 *   replied   a reply to the command the session handed over (what was
 *             awaited, the code, the whole reply);
 *   failed    the backend is lost (and no other took the MAIL): how that
 *             leaves the transaction, for the session to answer its client;
 *   writable  the relay can take more: the session may feed its client
 *             again (after a reply, or when send space freed);
 *   client    the facts about the client the relay announces (PROXY v2,
 *             XCLIENT, the client's HELO), asked for when needed.
 * After relay_close() (or relay_drop()) no callback comes.
 */
#ifndef MX_RELAY_H
#define MX_RELAY_H

#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include "common/config.h"
#include "dataplane/net/tcp_app.h"

struct tls_ctx;
struct smtp_stats;
struct gate;

/* What the relay awaits from the backend after the session's command. */
enum relay_wait { RELAY_W_NONE, RELAY_W_MAIL, RELAY_W_RCPT, RELAY_W_DATA, RELAY_W_DOT, RELAY_W_RSET };

/* What a backend timeout hit: labels of mxgate_smtp_backend_timeouts_by_wait_total. */
enum relay_what { RELAY_BW_CONNECT, RELAY_BW_GREETING, RELAY_BW_MAIL, RELAY_BW_RCPT, RELAY_BW_DATA,
		  RELAY_BW_DOT, RELAY_BW_RSET, RELAY_BW_SEND, RELAY_BW_COUNT };
extern const char *const relay_what_names[RELAY_BW_COUNT];

/* The backends of one worker: the round-robin cursor, which rest, counters. */
struct relay_pool {
	struct net_ctx *ctx;
	const struct mx_config *cfg;
	struct tls_ctx *client_tls;   /* STARTTLS to backends (backend_tls_ca_file's anchors) */
	const struct gate *gate;      /* the access map (Try_TLS, TLS_Srv, AuthInfo), NULL = none */
	unsigned inside_if;           /* the interface backends are reached through */
	unsigned rr;                  /* round-robin cursor over backends */
	uint64_t down_until_us[CFG_MAX_BACKENDS];   /* resting after a failure */
	unsigned gen;                 /* bumped when SIGHUP changes the backends */
	uint32_t xclient_noaddr_warned; /* backends warned about: XCLIENT offered without ADDR */
	uint32_t xclient_none_warned;   /* backends warned about: no XCLIENT offered (nor PROXY) */
	struct smtp_stats *st;        /* the worker's counters (backend_*, xclient, proxy_v2) */
	uint64_t timeouts[RELAY_BW_COUNT];          /* backend timeouts by what was awaited */
	struct relay *retired;        /* closed by relay_retire(), freed by relay_pool_reap() */
};

/* Set up a worker's pool (the inside interface, the client TLS context); -1 with a message. */
int relay_pool_init(struct relay_pool *rp, struct net_ctx *ctx, const struct mx_config *cfg,
		    struct smtp_stats *st, char *err, size_t errlen);
void relay_pool_free(struct relay_pool *rp);
/* A new configuration (SIGHUP, on the worker): new backends for new connections; open ones keep theirs. */
void relay_pool_set_config(struct relay_pool *rp, const struct mx_config *cfg);

/* The client as the relay announces it; pointers valid during the call that asked. */
struct relay_client {
	const struct net_tuple *tuple;  /* the client's connection (PROXY v2 addresses and ports) */
	const char *addr;               /* its address as text */
	uint16_t port;
	const char *helo;               /* its HELO/EHLO name, "" before one */
	const char *name;               /* its verified name, or NULL (name_temp: for now) */
	int name_temp;
	int ehlo;                       /* it said EHLO */
	const char *login;              /* the AUTH user, or NULL */
	int tls;                        /* under TLS: the facts below (PROXY v2) */
	const char *verify, *version, *cipher, *cn;
};

/* How a backend loss leaves the session's transaction (ops->failed). */
struct relay_loss {
	enum relay_wait was;      /* what was awaited when it was lost */
	int in_message;           /* the backend had said 354: the message was streaming */
	int mail_unplaced;        /* the MAIL found no backend: answer it 451 4.4.1 */
	int cmd_pending;          /* a command was handed over and not sent yet */
};

struct relay_ops {
	/* A reply to what was awaited (MAIL, RCPT, DATA, the dot, RSET). Return nonzero when
	   the session stops (closing, or the relay was lost meanwhile): nothing else is sent. */
	int (*replied)(void *owner, enum relay_wait was, int code, const char *rep, size_t len);
	/* The backend is lost; the relay is idle and may be used again (a new MAIL reconnects). */
	void (*failed)(void *owner, const struct relay_loss *loss);
	/* The relay can take more (after a reply, or send space freed while the message streams). */
	void (*writable)(void *owner);
	/* Fill in the client's facts. */
	void (*client)(void *owner, struct relay_client *c);
};

struct relay;

/* A relay for one session (no connection yet); NULL when out of memory. id (the queue ID, kept) and key: for logs. */
struct relay *relay_new(struct relay_pool *rp, const struct relay_ops *ops, void *owner, const char *id,
			unsigned key);
/* Free it (after relay_close()); NULL is fine. */
void relay_free(struct relay *r);
/*
 * Close it now and free it at the pool's next relay_pool_reap(): for a
 * session that drops its relay from inside one of the relay's own
 * callbacks (the relay's code reads it again when the callback returns).
 */
void relay_retire(struct relay *r);
/* Free the relays retired since the last call (the worker's poll). */
void relay_pool_reap(struct relay_pool *rp);

/* relay_command()'s outcome. */
enum relay_status {
	RELAY_OK = 0,             /* sent, or queued until the backend is ready */
	RELAY_GONE,               /* not MAIL and the backend that had MAIL is gone */
	RELAY_NO_BACKEND,         /* MAIL and no backend could be opened */
};

/*
 * Hand a command (printf-formatted, with its CRLF) to the backend now or as
 * soon as it is ready; wait is what its reply answers. MAIL opens a backend
 * when none is connected. The reply comes through ops->replied; a loss
 * through ops->failed (perhaps before this returns).
 */
enum relay_status relay_command(struct relay *r, enum relay_wait wait, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Send message bytes (a line of the message, the Received header); -1 when that lost the backend. */
int relay_send(struct relay *r, const void *buf, size_t len);
/* The message is complete: send the dot and await the reply. */
void relay_end_message(struct relay *r);
/* RSET to the backend when it is idle and ready (else nothing). */
void relay_rset(struct relay *r);

/* Is a backend connection there (NULL: no)? */
int relay_connected(const struct relay *r);
/* Is a message or a reply outstanding (dropping now would lose or cut something)? */
int relay_busy(const struct relay *r);
/* The index of the backend in use, for logs. */
int relay_backend(const struct relay *r);

/*
 * Back-pressure while the message streams: relay_full() is 1 when the
 * backend has less than a message line's room (and asks for ops->writable
 * when that frees). The session says it waits (relay_space_wait(r, 1)) or
 * not; the backend's timer runs while it waits (relay_arm() applies a change).
 */
int relay_full(struct relay *r);
void relay_space_wait(struct relay *r, int on);
int relay_space_waiting(const struct relay *r);
void relay_arm(struct relay *r);

/* The backend is useless (e.g. its reply was unfit for the client): as a loss, ops->failed follows. */
void relay_fail(struct relay *r, const char *why);
/* Abort the backend connection so that a half-sent message is never delivered (no callback). */
void relay_drop(struct relay *r);
/* The session ends: abort if a message or reply is outstanding, else QUIT and close (no callback). */
void relay_close(struct relay *r);

#endif
