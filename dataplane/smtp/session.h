/*
 * session.h - SMTP sessions on a worker lcore: the client side (TCP, then
 * TLS after STARTTLS or from the start on 465, the SMTP engine) and, through
 * relay.h, its relay to a backend MTA (ESMTP with XCLIENT or a PROXY v2
 * header, DATA streamed with back-pressure, the client's 250 only after the
 * backend's).
 */
#ifndef MX_SESSION_H
#define MX_SESSION_H

#include <stdint.h>
#include <stdio.h>
#include "common/config.h"
#include "dataplane/net/tcp_app.h"
#include "dataplane/smtp/smtp_stats.h"

struct tls_ctx;
struct pol_snapshot;
struct auth_service;

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
 * SIGHUP: a new configuration (what config.h's cfg_merge() left of the
 * file: the keys that need a restart hold their running values). The
 * worker takes it at the top of its loop, smtp_worker_sync(), right after
 * it reports RCU quiescence: the caller frees the old one after a grace
 * period. New sessions take the new limits, every session the new
 * deadlines at its next command, new backend connections the new
 * backends. hostname needs a restart: sessions keep pointing at the
 * first configuration's, which must outlive the worker.
 */
void smtp_worker_set_config(struct smtp_worker *w, const struct mx_config *cfg);
void smtp_worker_sync(struct smtp_worker *w);

/*
 * List the worker's sessions into buf (one line each), run on the worker
 * itself: smtp_worker_request_list() from the service lcore, then poll
 * smtp_worker_list_done() until it returns the length (or give up).
 */
void smtp_worker_request_list(struct smtp_worker *w, char *buf, size_t len);
long smtp_worker_list_done(struct smtp_worker *w);

/* Work to do on every poll: queued private-key operations. Returns work done. */
unsigned smtp_worker_poll(struct smtp_worker *w);
/* Key operations wait or run (an RSA run held for more operations, say): the lcore must not sleep. */
int smtp_worker_keys_waiting(const struct smtp_worker *w);
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
 *   mxgate_smtp_tls_handshake_seconds{lcore}              a histogram of the client
 *       handshakes' times, from the ClientHello's first bytes to the handshake's end (the
 *       client's Finished read, on the poll loop's clock), with SMTP_TLS_HS_BUCKETS bounds
 */
#define SMTP_CIPHER_SLOTS 32
#define SMTP_TLS_HS_BUCKETS 14
void smtp_worker_print_labelled(FILE *f, const void *worker, unsigned lcore);

#endif
