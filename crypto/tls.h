/*
 * tls.h - BoringSSL glue for mxgate's server side: TLS contexts with
 * certificates chosen by SNI, client-certificate verification, session
 * tickets with rotating keys, a transport made of two callbacks (the
 * session plugs the TCP stack in: the glue knows nothing of DPDK), the
 * asynchronous private-key door where signing is queued and batched per
 * worker lcore, and sendmail's TLS macros ({verify}, {cipher}, ...).
 *
 * Threads: a tls_ctx is built once (service thread) and shared read-only
 * by every worker; a tls_worker and its tls_conns belong to one lcore.
 * The context is reference counted: every tls_conn holds a reference, so
 * tls_ctx_free() after an RCU swap leaves live sessions working. Ticket
 * keys are the one thing that changes in a shared context: only the
 * service thread changes them (rotate/set), workers read a published copy.
 *
 * Renegotiation: never. BoringSSL servers refuse every client-initiated
 * renegotiation (fatal no_renegotiation alert: tls_read() returns
 * -TLS_ERROR) and never start one.
 */
#ifndef MX_TLS_H
#define MX_TLS_H

#include <stddef.h>
#include <stdint.h>

#define TLS_MAX_CERTS   8
#define TLS_MAX_SNI     8
#define TLS_OCSP_MAX    (64u << 10)     /* largest OCSP response stapled */

/*
 * The TLS 1.2 suites when tls_ciphers is not set: ECDHE key exchange with an
 * AEAD only (Mozilla's "intermediate" list less its DHE suites), in this
 * order of preference. No static-RSA key exchange (no forward secrecy), no
 * CBC (Lucky13, padding oracles), no 3DES (SWEET32), no RC4, no NULL or
 * anonymous suites. TLS 1.3's suites are BoringSSL's and not configurable
 * (all AEAD with ephemeral key exchange).
 */
#define TLS_DEFAULT_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* One certificate: chain and key in PEM files, the names it serves. */
struct tls_cert_cfg {
	const char *chain_file;
	const char *key_file;
	/* PEM held in memory (from the control plane) instead of files: the file
	 * fields then only name the certificate in error messages */
	const char *chain_pem, *key_pem;
	size_t chain_pem_len, key_pem_len;
	const char *sni[TLS_MAX_SNI];   /* exact names or "*.example" wildcards; NULL-ended;
					   none: the certificate's DNS SANs (else its CN) */
	/* optional DER OCSP response stapled for this certificate (copied; 1..TLS_OCSP_MAX
	   bytes, one DER SEQUENCE), sent only to clients that ask (status_request) */
	const uint8_t *ocsp;
	size_t ocsp_len;
};

struct tls_server_cfg {
	struct tls_cert_cfg certs[TLS_MAX_CERTS]; /* certs[0] is the default */
	unsigned ncerts;
	int min_version;                /* 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3) */
	const char *ciphers;            /* TLS 1.2 cipher list, NULL = TLS_DEFAULT_CIPHERS */
	const char *groups;             /* e.g. "X25519:P-256" */
	int request_client_cert;        /* ask for a client certificate (never required) */
	const char *ca_file, *ca_dir;   /* trust anchors for client certificates */
	const char *crl_file;           /* optional CRL checked for client certificates */
	/* the same from memory (the control plane): PEM certificates, PEM CRL(s); when
	   set (non-NULL) they replace ca_file/ca_dir and crl_file respectively */
	const char *ca_pem, *crl_pem;
	size_t ca_pem_len, crl_pem_len;
	unsigned ticket_rotate_s;       /* session-ticket key lifetime; 0 = tickets off
					   (tickets live 2x this, at most 7 days) */
	/* ncerts == 0: take the certificates (chains, keys, names, OCSP responses) of
	   this context instead, e.g. to change only the CA/CRL of the one in force */
	const struct tls_ctx *certs_from;
};

struct tls_ctx;
struct tls_worker;
struct tls_conn;

/*
 * Check a TLS 1.2 cipher list (OpenSSL syntax, as BoringSSL takes it: names
 * and rules separated by ':', '!' to remove, [a|b] for equal preference).
 * 0 if BoringSSL takes it whole (strictly: an unknown name is an error, not
 * skipped) and it leaves at least one suite; else -1 with why in err, naming
 * the first entry BoringSSL does not know.
 */
int tls_check_ciphers(const char *list, char *err, size_t errlen);

/* The session's transport: moves TLS records to and from the TCP stack. */
struct tls_transport {
	void *arg;
	/* Read up to len bytes: >0 count, 0 end of stream, -1 nothing now. */
	long (*read)(void *arg, uint8_t *buf, size_t len);
	/* Write up to len bytes: count accepted (0..len), -1 connection gone. */
	long (*write)(void *arg, const uint8_t *buf, size_t len);
};

enum tls_status {
	TLS_DONE = 0,       /* the operation completed */
	TLS_WANT_READ,      /* needs more input from the transport */
	TLS_WANT_WRITE,     /* the transport took less than offered: call again when writable */
	TLS_WANT_KEY,       /* parked on a private-key operation: resumes via the done callback */
	TLS_CLOSED,         /* peer closed (close_notify or end of stream) */
	TLS_ERROR,          /* protocol error or garbage: close the session, count it */
};

/*
 * sendmail's TLS macros of a session. verify, version and cipher are static
 * strings (literals, BoringSSL's tables), never NULL: a session may keep
 * the pointers after the connection is gone.
 */
struct tls_macros {
	const char *verify;     /* OK NO NOT FAIL NONE TEMP PROTOCOL SOFTWARE */
	const char *version;    /* "TLSv1.3", "" before the handshake ends */
	const char *cipher;     /* "TLS_AES_256_GCM_SHA384", "" when none */
	int cipher_bits;        /* {cipher_bits} */
	int alg_bits;           /* {alg_bits} */
	char cert_subject[512]; /* +HEX quoted DN */
	char cert_issuer[512];
	char cn_subject[128];
	char cn_issuer[128];
};

/* Build a server context; NULL with a message naming the file or setting. */
struct tls_ctx *tls_ctx_new(const struct tls_server_cfg *cfg, char *err, size_t errlen);
/* Drop the owner's reference; the context goes when its last session does. */
void tls_ctx_free(struct tls_ctx *ctx);

/*
 * Session-ticket keys: 48 bytes each, key name (16) | HMAC-SHA256 key (16) |
 * AES-128-CBC key (16). New tickets use the current key; tickets under the
 * previous key still resume and are re-issued under the current one.
 */
#define TLS_TICKET_KEY_LEN 48

/* Rotate the session-ticket keys now (the previous key still decrypts). */
void tls_ctx_rotate_tickets(struct tls_ctx *ctx);
/*
 * Install explicit key material (fleet-wide keys from Redis); prev48 may be
 * NULL. 0, or -1 when tickets are off (ticket_rotate_s == 0) or cur48 is NULL.
 */
int tls_ctx_get_ticket_keys(struct tls_ctx *ctx, uint8_t *cur48, uint8_t *prev48, int *has_prev);
int tls_ctx_set_ticket_keys(struct tls_ctx *ctx, const uint8_t *cur48, const uint8_t *prev48);

/*
 * Per-lcore state: the queue of private-key operations. done(conn_arg) is
 * called from tls_worker_run() for each connection whose operation finished.
 */
struct tls_worker *tls_worker_new(void (*done)(void *conn_arg));
/*
 * Free a worker (not from done()); operations still queued then fail.
 * Sessions still attached to it do their key work inline from then on; the
 * worker's memory goes with the last of them.
 */
void tls_worker_free(struct tls_worker *w);
/*
 * Run up to max queued key operations (batched), and a step of the RSA run
 * going on (tls_worker_set_rsa_steps); returns the work done: operations
 * taken and woken, plus one for a step that woke none. done() may call
 * tls_handshake() or free any session, including others of the same batch
 * (a freed session gets no done()).
 */
unsigned tls_worker_run(struct tls_worker *w, unsigned max);
/* Key operations waiting, or in an RSA run going on: call tls_worker_run() again. */
unsigned tls_worker_pending(const struct tls_worker *w);
/*
 * RSA-2048 runs in steps of about units (rsa_ifma_steps_do: a unit is 2 us
 * on 8 lanes of Zen 4) per tls_worker_run(), for a worker that must go on
 * polling: a whole run takes 0.6 ms. 0, the default, runs each whole in the
 * tls_worker_run() that takes its operations; mxgate's workers use
 * TLS_RSA_STEP_UNITS (about 50 us a step).
 */
#define TLS_RSA_STEP_UNITS 24
void tls_worker_set_rsa_steps(struct tls_worker *w, unsigned units);
/*
 * How the runs in steps are paced. hold_us: once a run has ended, a run of
 * fewer than 4 operations waits up to hold_us for more (a worker that ran
 * none lately starts at once). step_max: a step does its units once more
 * for each 4 operations waiting behind the run, at most step_max times.
 * The default, 0 and 1: no hold, one budget a step. mxgate's workers use
 * TLS_RSA_HOLD_US and TLS_RSA_STEP_MAX (docs/PERFORMANCE.md, "The RSA tail
 * was not the machine's").
 */
#define TLS_RSA_HOLD_US 200
#define TLS_RSA_STEP_MAX 4
void tls_worker_set_rsa_pace(struct tls_worker *w, unsigned hold_us, unsigned step_max);
/* Key pairs in the worker's X25519 pool, made in the free lanes of its runs, waiting for its sessions. */
unsigned tls_worker_x25519_pool(const struct tls_worker *w);

/*
 * The key door's counters, per worker (its lcore writes them). RSA-2048
 * operations (signatures and TLS 1.2 RSA key exchange alike: one raw
 * private operation each) of one tls_worker_run() (in steps: those that
 * came while the last run went on) go through AVX-512 IFMA runs of up to 4
 * (two lanes each: crypto/rsa_ifma.h) when the CPU has it and a run is full enough;
 * every IFMA result is checked with the public exponent.
 * The X25519 work of the sessions of one round goes through 8-lane IFMA
 * runs as well (crypto/x25519_ifma.h): two lanes a server session, one a
 * client session (tls_client_conn_set_worker) or a session whose key pair
 * came from the worker's pool, and key pairs for that pool in the free lanes.
 */
#define TLS_KEY_STATS(X) \
	X(key_batches)          /* batches through the door (one per tls_worker_run round) */ \
	X(key_batch_ops)        /* operations in them: / key_batches = operations per batch */ \
	X(key_ifma_runs)        /* IFMA runs of up to 4 RSA-2048 operations (two lanes each) */ \
	X(key_ifma_lanes)       /* lanes used in them, two an operation: / key_ifma_runs = lanes per run */ \
	X(key_ifma_fill_1)      /* runs by operations in them: the histogram */ \
	X(key_ifma_fill_2) \
	X(key_ifma_fill_3) \
	X(key_ifma_fill_4) \
	X(key_ifma_ops)         /* RSA operations done by IFMA (checked) */ \
	X(key_scalar_ops)       /* operations done one at a time by BoringSSL */ \
	X(key_verify_failed)    /* IFMA results that failed the check: redone by BoringSSL */ \
	X(key_failed)           /* operations that failed altogether */ \
	X(key_x25519_runs)      /* X25519 IFMA runs (up to 8 lanes) */ \
	X(key_x25519_lanes)     /* lanes used in them: key pairs and shared secrets */ \
	X(key_x25519_unused)    /* handshakes that ended without taking their precomputed X25519 */ \
	X(key_p256_runs)        /* ECDSA P-256 lane runs (up to 8 signatures) */ \
	X(key_p256_lanes)       /* signatures in them (a lane that failed is redone by BoringSSL) */ \
	X(key_cv_runs)          /* client: P-256 lane runs checking servers' CertificateVerify */ \
	X(key_cv_lanes)         /* signatures in them */ \
	X(key_cv_scalar)        /* client: CertificateVerify checks BoringSSL made (not shown valid in lanes) */ \
	X(key_cv_bad)           /* client: CertificateVerify signatures found invalid (handshake failed) */

struct tls_key_stats {
#define X(name) uint64_t name;
	TLS_KEY_STATS(X)
#undef X
};

extern const char *const tls_key_stat_names[];
#define TLS_KEY_STAT_COUNT (sizeof(struct tls_key_stats) / sizeof(uint64_t))

/* A worker's key-door counters. */
const struct tls_key_stats *tls_worker_stats(const struct tls_worker *w);
/*
 * Benchmarks only: X25519 in lanes on (the default, unless
 * MXGATE_X25519_LANES=0) or off, for every worker from the next handshake.
 */
void tls_x25519_lanes_set(int on);
/* The same for ECDSA P-256 signatures in lanes (MXGATE_P256_LANES=0 turns them off). */
void tls_p256_lanes_set(int on);
/* The same for a client's check of the server's CertificateVerify (MXGATE_CV_LANES=0 turns it off). */
void tls_cv_lanes_set(int on);
/*
 * The sum over every live worker (the service thread: plain reads of
 * counters other lcores write, as for every other counter).
 */
void tls_key_stats_total(struct tls_key_stats *out);

/*
 * A server-side TLS session over a transport; conn_arg is given back to
 * done(). w may be NULL: key operations then run inline (tools, tests).
 * Free a worker's sessions before the worker.
 */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, struct tls_worker *w,
			      const struct tls_transport *tr, void *conn_arg);
void tls_conn_free(struct tls_conn *c);
/*
 * This one session asks for no client certificate (no CertificateRequest,
 * sendmail's Srv_Features V): its {verify} is NOT and the certificate
 * macros stay empty. Call after tls_conn_new() and before the first
 * tls_handshake(); a server session only.
 */
void tls_conn_no_client_cert(struct tls_conn *c);
/*
 * The opposite (Srv_Features v): this session asks for a client certificate
 * although the context does not (tls_ask_client_cert = no), verified against
 * the context's trust anchors; a no-op when the context asks anyway.
 */
void tls_conn_ask_client_cert(struct tls_conn *c);

/* Drive the handshake. */
enum tls_status tls_handshake(struct tls_conn *c);
/* Application data: >0 bytes, or -(enum tls_status). */
long tls_read(struct tls_conn *c, uint8_t *buf, size_t len);
/*
 * All len bytes, or -(enum tls_status). After -TLS_WANT_WRITE call again
 * with the same bytes (the buffer may move) once the transport drains.
 */
long tls_write(struct tls_conn *c, const uint8_t *buf, size_t len);
/* Bytes BoringSSL already decrypted and holds for tls_read(). */
size_t tls_pending(const struct tls_conn *c);
/* Send close_notify (best effort). */
void tls_close_notify(struct tls_conn *c);

/*
 * The macros, valid after the handshake (before it: all empty, verify
 * "NONE"; the session sets TEMP/PROTOCOL/SOFTWARE itself on failures).
 * verify: NOT (no certificate requested, by the context or by
 * tls_conn_no_client_cert), NO (none presented), OK (chain verified against
 * ca_pem or ca_file/ca_dir, and crl_pem or crl_file if set), FAIL (did not).
 */
void tls_get_macros(const struct tls_conn *c, struct tls_macros *m);
/* Was the session resumed (ticket)? */
int tls_resumed(const struct tls_conn *c);
/* Why the last call returned TLS_ERROR (BoringSSL's reason), for the log. */
const char *tls_error_reason(const struct tls_conn *c);

/*
 * Client side, for STARTTLS to backend MTAs: a context (the backend is
 * ours and is not verified) and sessions driven with the same
 * tls_handshake / tls_read / tls_write; tls_get_macros describes the server.
 */
struct tls_ctx *tls_client_ctx_new(char *err, size_t errlen);
struct tls_conn *tls_client_conn_new(struct tls_ctx *ctx, const struct tls_transport *tr,
				     const char *sni, void *conn_arg);
/*
 * A client session's X25519 goes through w's door: its key pair comes from
 * the worker's pool (filled in the free lanes of its runs; BoringSSL's when
 * empty), its shared secret from a run once the ServerHello is in:
 * tls_handshake() then also returns TLS_WANT_KEY, and done(conn_arg) says
 * when to call it again: the caller must run the worker (tls_worker_run)
 * in its poll rounds. Call before the first tls_handshake(). Without it,
 * BoringSSL computes both inline.
 *
 * The worker also checks the server's TLS 1.3 CertificateVerify when it is
 * an ECDSA P-256 SHA-256 signature, in P-256 lane runs with the checks of
 * other sessions (see "The server's CertificateVerify" in tls.c): BoringSSL
 * finishes the handshake first (its Finished goes out), and tls_handshake()
 * says TLS_WANT_KEY until the check has run, then TLS_DONE, or TLS_ERROR
 * with a decrypt_error alert for a bad signature. No application data moves
 * before. MXGATE_CV_LANES=0 (or tls_cv_lanes_set(0)) leaves the check to
 * BoringSSL, inside the handshake.
 */
void tls_client_conn_set_worker(struct tls_conn *c, struct tls_worker *w);
/*
 * Trust anchors (PEM file) for the servers' chains: 0, or -1 with a
 * message. Verification never fails a handshake (the caller judges, as
 * sendmail's TLS_Srv does); without anchors no server verifies.
 */
int tls_client_ctx_set_ca(struct tls_ctx *ctx, const char *ca_file, char *err, size_t errlen);
/*
 * A client session's macros: as tls_get_macros, with {verify} about the
 * server: OK (its chain verified against the anchors), FAIL (it did not),
 * NO (no certificate); the certificate's DNs and CNs.
 */
void tls_get_server_macros(const struct tls_conn *c, struct tls_macros *m);
/* 1 when the server's certificate names host (X509_check_host), else 0. */
int tls_server_name_matches(const struct tls_conn *c, const char *host);
/* The server chain's verification error, as text ("ok" when it verified). */
const char *tls_server_verify_error(const struct tls_conn *c);

#endif
