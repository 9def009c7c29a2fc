/*
 * session.h - SMTP sessions on a worker lcore: the client side (TCP, then
 * TLS after STARTTLS or from the start on 465, the SMTP engine) and its
 * relay to a backend MTA (ESMTP with XCLIENT or a PROXY v2 header, DATA
 * streamed with back-pressure, the client's 250 only after the backend's).
 */
#ifndef MX_SESSION_H
#define MX_SESSION_H

#include <stdint.h>
#include <stdio.h>
#include "config.h"
#include "net/tcp.h"

struct tls_ctx;
struct pol_snapshot;
struct auth_service;

/* SMTP counters of one worker (plain integers, read by the service thread). */
#define SMTP_STATS(X) \
	X(sessions)                 /* client connections accepted */ \
	X(sessions_refused)         /* max_sessions reached: 421 and close */ \
	X(starttls)                 /* STARTTLS handshakes completed */ \
	X(smtps)                    /* implicit-TLS (465) handshakes completed */ \
	X(tls_failed)               /* handshakes that failed (garbage, protocol) */ \
	X(tls_unavailable)          /* 454: STARTTLS with no certificate */ \
	X(starttls_injection)       /* sessions with plaintext pipelined after STARTTLS (discarded) */ \
	X(starttls_injected_bytes)  /* bytes of it */ \
	X(bare_newline)             /* bare CR/LF refused (SMTP smuggling) */ \
	X(line_too_long)            /* 500 5.5.2 line too long */ \
	X(pregreet)                 /* input before the greeting: 554 and close */ \
	X(too_many_errors)          /* 421 after the hard error limit */ \
	X(timeouts)                 /* command, DATA or handshake deadlines missed (by the last
				       command: mxgate_smtp_timeouts_after_total{after}) */ \
	X(stress_entered)           /* stress mode entered: sessions scarce, deadlines cut */ \
	X(non_smtp_command)         /* an HTTP verb or header line: 221 2.7.0 and close */ \
	X(nul_in_data)              /* a NUL byte inside DATA: 521 and close */ \
	X(messages_accepted)        /* the client got 250 for DATA */ \
	X(messages_rejected)        /* the client got 5xx for DATA */ \
	X(messages_tempfailed)      /* the client got 4xx for DATA */ \
	X(message_bytes)            /* bytes relayed inside DATA */ \
	X(backend_connects)         /* backend connections opened */ \
	X(backend_errors)           /* backend refused, timed out, closed, or said nonsense */ \
	X(backend_timeouts)         /* no reply or send space in backend_timeout_ms (by what was
				       awaited: mxgate_smtp_backend_timeouts_by_wait_total{waiting}) */ \
	X(xclient)                  /* sessions announced with XCLIENT */ \
	X(proxy_v2)                 /* sessions announced with a PROXY v2 header */ \
	X(tls_v12)                  /* TLS 1.2 sessions */ \
	X(tls_v13)                  /* TLS 1.3 sessions */ \
	X(tls_resumed)              /* sessions resumed with a ticket */ \
	X(verify_ok)                /* {verify} outcomes */ \
	X(verify_no) \
	X(verify_not) \
	X(verify_fail) \
	X(policy_connect_rejects)   /* access map: Connect: REJECT / ERROR */ \
	X(policy_mail_rejects)      /* MAIL refused: From:, Require_TLS (530), TLS_Clt (403/503) */ \
	X(policy_rcpt_rejects)      /* RCPT refused: To:, Relaying denied */ \
	X(policy_discards)          /* messages accepted and dropped (DISCARD) */ \
	X(limit_refused)            /* Limit: conn or rate exceeded: 421 4.7.0 */ \
	X(limit_table_full)         /* Limit: no room to count a client (let in, uncounted) */ \
	X(auth_success)             /* AUTH answered 235 */ \
	X(auth_failed)              /* AUTH answered 535: wrong user or password (after the delay) */ \
	X(auth_limited)             /* AUTH answered 454: too many failures from the address */ \
	X(auth_busy)                /* AUTH answered 454: check queue full or out of memory */ \
	X(auth_refused)             /* AUTH refused by the engine: not offered (no TLS: 538), syntax,
				       mechanism, aborted, undecodable */ \
	X(auth_too_many)            /* 421 after three failed AUTH in one session */ \
	X(reject_530_starttls)      /* 587: 530 Must issue a STARTTLS command first */ \
	X(reject_530_auth)          /* 587: 530 Authentication required */ \
	X(reject_530_require_tls)   /* access map Require_TLS: 530 Must issue a STARTTLS command first */ \
	X(active)                   /* gauge: sessions now */

struct smtp_stats {
#define X(n) uint64_t n;
	SMTP_STATS(X)
#undef X
};

extern const char *const smtp_stat_names[];
#define SMTP_STAT_COUNT (sizeof(struct smtp_stats) / sizeof(uint64_t))

struct smtp_worker;

/*
 * Start SMTP on a worker's stack: listeners on the configured ports.
 * tls may be NULL (no certificate: STARTTLS gets 454, 465 is not opened).
 * pol may be NULL (no access map: every command goes to the backend, which decides).
 * Returns the worker's SMTP state, or NULL with a message in err.
 */
struct smtp_worker *smtp_worker_start(struct net_ctx *ctx, const struct mx_config *cfg,
				      struct tls_ctx *tls, const struct pol_snapshot *pol,
				      struct auth_service *auth, char *err, size_t errlen);
/*
 * What the service lcore may change while the worker runs (each a single
 * atomic store the worker reads with an atomic load):
 *  - the access map: after smtp_worker_set_policy() on every worker, the
 *    caller waits for an RCU grace period before freeing the old map
 *    (sessions look the map up at each stage, never across polls);
 *  - draining: new sessions get 421 4.3.2 and are closed.
 */
void smtp_worker_set_policy(struct smtp_worker *w, const struct pol_snapshot *pol);
void smtp_worker_set_draining(struct smtp_worker *w, int on);
/* New TLS context for new handshakes; open sessions keep theirs (reference-counted). */
void smtp_worker_set_tls(struct smtp_worker *w, struct tls_ctx *tls);

/*
 * List the worker's sessions into buf (one line each), run on the worker
 * itself: smtp_worker_request_list() from the service lcore, then poll
 * smtp_worker_list_done() until it returns the length (or give up).
 */
void smtp_worker_request_list(struct smtp_worker *w, char *buf, size_t len);
long smtp_worker_list_done(struct smtp_worker *w);

/* Work to do on every poll: queued private-key operations. Returns work done. */
unsigned smtp_worker_poll(struct smtp_worker *w);
void smtp_worker_free(struct smtp_worker *w);
const struct smtp_stats *smtp_worker_stats(const struct smtp_worker *w);
/*
 * The worker's labelled counters, Prometheus text (any thread may call it:
 * plain integers, names published before their counts):
 *   mxgate_smtp_policy_decisions_total{lcore,tag,action}  access-map decisions by the
 *       tag of the deciding entry (policy.h pol_tag_names) and action (ok relay
 *       discard reject); only those that happened
 *   mxgate_smtp_tls_cipher_total{lcore,version,cipher}    handshakes by cipher (the first
 *       SMTP_CIPHER_SLOTS names; later ones under cipher="other")
 *   mxgate_smtp_timeouts_after_total{lcore,after}         client deadlines missed, by the last
 *       command (smtp_where_names: CONNECT, EHLO, MAIL, DATA, ...)
 *   mxgate_smtp_backend_timeouts_by_wait_total{lcore,waiting}  backend timeouts by what was
 *       awaited (CONNECT, GREETING, MAIL, RCPT, DATA, END-OF-MESSAGE, RSET, SEND)
 */
#define SMTP_CIPHER_SLOTS 32
void smtp_worker_print_labelled(FILE *f, const void *worker, unsigned lcore);

#endif
