/*
 * tls.c - BoringSSL glue for mxgate's server side.
 *
 * A tls_ctx wraps one SSL_CTX (TLS 1.2/1.3, cipher list, groups, client
 * certificate verification, session tickets with our own rotating keys)
 * and the certificates: chains as CRYPTO_BUFFERs, private keys kept here
 * and never handed to BoringSSL. Each session's certificate is chosen by
 * SNI in the select-certificate callback and installed with our private
 * key method: sign()/decrypt() copy the input into the session and queue
 * it on the lcore's tls_worker, tls_worker_run() performs the queued
 * operations as one batch (key_batch_run(), the narrow door: RSA-2048
 * operations run eight at a time with AVX-512 IFMA, crypto/rsa_ifma.c,
 * the others one by one in BoringSSL) and calls done(conn_arg); the next
 * tls_handshake() collects the result through complete().
 *
 * The server's X25519 work (its key pair and the shared secret, the
 * largest part of an ECDSA handshake) goes through the same door, eight
 * lanes at once with AVX-512 IFMA (crypto/x25519_ifma.c); see "X25519
 * through the door" below for how BoringSSL is made to take the results.
 *
 * Records move through a custom BIO whose read/write call the session's
 * transport directly (no memory BIO copies). Handshake configuration is
 * shed once the handshake ends, so an idle session keeps little memory.
 * BoringSSL servers refuse renegotiation outright; nothing here enables it.
 */
#define _GNU_SOURCE             /* dladdr */
#include "crypto/tls.h"
#include "crypto/p256_ifma.h"
#include "crypto/rsa_ifma.h"
#include "crypto/x25519_ifma.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/curve25519.h>
#include <openssl/digest.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/pool.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/schema.h"
#include "common/strutil.h"

/* what the control plane pushes (common/schema.h) fits what is taken here */
_Static_assert(TLS_MAX_CERTS == CERTS_MAX, "certificates per SET_CERTS");
_Static_assert(TLS_MAX_SNI == SNI_MAX + 1, "names per certificate (NULL-ended)");
_Static_assert(TLS_OCSP_MAX == OCSP_MAX, "OCSP response");
_Static_assert(TLS_TICKET_KEY_LEN == TICKET_KEY_LEN, "session-ticket key");

#define TLS_BATCH       32      /* key operations run per batch */
#define TK_SLOTS        4       /* published ticket-key sets (see tk_publish) */
#define TLS_MAX_NAMES   64      /* names taken from a certificate's SANs */
#define TLS_MAX_WORKERS 128     /* workers whose counters tls_key_stats_total() sums */

/* One loaded certificate: the chain, our private key, the names it serves. */
struct tls_cert {
	CRYPTO_BUFFER **chain;
	size_t nchain;
	EVP_PKEY *pkey;
	struct rsa_ifma_key *ifma;      /* the key's IFMA form (RSA-2048), or NULL */
	struct p256_ifma_key *p256;     /* the key's lane form (ECDSA P-256), or NULL */
	uint16_t prefs[6];      /* signature algorithms the key can make */
	size_t nprefs;
	char **names;
	unsigned nnames;
	uint8_t *ocsp;          /* DER OCSP response to staple, or NULL */
	size_t ocsp_len;
};

/* One ticket key: name | HMAC-SHA256 key | AES-128-CBC key. */
struct tk_key {
	uint8_t name[16];
	uint8_t hmac[16];
	uint8_t aes[16];
};

/* The ticket keys in force: current (issues and opens), previous (opens). */
struct tk_set {
	struct tk_key cur, prev;
	int has_prev;
};

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	BIO_METHOD *bio_meth;
	struct tls_cert certs[TLS_MAX_CERTS];
	unsigned ncerts;
	int request_client_cert;
	int tickets;
	int x25519_first;               /* X25519 heads tls_groups: the door precomputes it */
	_Atomic unsigned tk_gen;        /* slot tk[tk_gen % TK_SLOTS] is in force */
	struct tk_set tk[TK_SLOTS];
	_Atomic long refs;              /* owner + one per live tls_conn */
};

enum key_state { KEY_IDLE, KEY_QUEUED, KEY_BATCH, KEY_DONE, KEY_FAILED };
enum key_op { KOP_SIGN, KOP_DECRYPT, KOP_X25519, KOP_CV };

/*
 * A session's X25519 work done by the door before BoringSSL asks for it.
 * A server session's job makes both lanes in one run (the client's share
 * is known from the ClientHello); a client session's makes its key pair
 * before the ClientHello and, in a later run, the shared secret once the
 * ServerHello is in (see "The client's X25519" below).
 */
struct x25519_job {
	uint8_t priv[32];       /* our private key (random) */
	uint8_t pub[32];        /* its public value, for our hello */
	uint8_t peer[32];       /* the peer's share from its hello */
	uint8_t shared[32];     /* X25519(priv, peer) */
	uint8_t pub_ready;      /* pub is made */
	uint8_t has_peer;       /* peer is known */
	uint8_t shared_ready;   /* shared is made */
	uint8_t taken;          /* BoringSSL took the key pair */
	uint8_t used;           /* ... and the shared secret */
};

/* A client's check of the server's CertificateVerify, put off to the door. */
enum cv_state { CV_HELD, CV_OK, CV_BAD };
struct cv_job {
	EC_KEY *key;            /* the server's public key (a reference) */
	uint8_t point[65];      /* the same, uncompressed: the worker's table cache key */
	uint8_t digest[32];     /* SHA-256 of the signed content */
	uint8_t r[32], s[32];   /* the signature */
	uint8_t state;          /* enum cv_state */
};

struct tls_conn {
	SSL *ssl;
	struct tls_ctx *ctx;
	struct tls_worker *w;
	struct tls_transport tr;
	void *arg;
	struct tls_conn *q_next, *q_prev;       /* worker queue links */
	uint8_t *kbuf;                          /* key op input, then output */
	struct x25519_job *xj;                  /* the handshake's X25519 work, or NULL */
	size_t kin_len, kout_len, kout_max;
	uint16_t sigalg;
	uint8_t kstate, kop;
	uint8_t cert;                           /* index into ctx->certs */
	uint8_t eof;                            /* transport read returned 0 */
	uint8_t gone;                           /* transport write returned -1 */
	uint8_t in_batch;                       /* in w->batch until done() is called */
	uint8_t rsa_at;                         /* RSA_WAIT or RSA_RUN: see tls_worker_set_rsa_steps */
	uint8_t verify_failed;                  /* the verify callback saw an error */
	uint8_t no_cert_req;                    /* tls_conn_no_client_cert() */
	uint8_t cert_req;                       /* tls_conn_ask_client_cert() */
	uint8_t client;                         /* tls_client_conn_new() */
	uint8_t x_tried;                        /* client: the key pair was offered to the door */
	uint8_t sh_checked;                     /* client: the ServerHello was looked at */
	uint16_t hold_len, hold_off;            /* client: the ServerHello record held back */
	uint8_t *hold;
	struct cv_job *cv;                      /* client: the server's CertificateVerify, checked later */
	const char *err_reason;
};

#define X25519_POOL 16            /* key pairs a worker keeps for its sessions */
#define CV_KEYS 4                 /* servers' public keys whose lane tables a worker keeps */
#define CV_TABLE_AFTER 4          /* a key's table is built once the key has come this often */
#define CV_MIN_FILL 2             /* a lone check: BoringSSL's (49 us) beats a run of 1 (55 us) */

/* A server's public key as a client's door sees it (see cv_pub). */
struct cv_key {
	uint8_t point[65];                      /* uncompressed; [0] == 0: a free slot */
	unsigned seen;                          /* CertificateVerify checks with it */
	uint64_t used;                          /* the worker's cv_tick when last seen */
	struct p256_ifma_pub *pub;              /* its tables, once seen CV_TABLE_AFTER times */
};

/* Where a session's RSA operation is when the worker runs RSA in steps. */
enum { RSA_NONE, RSA_WAIT, RSA_RUN };

struct tls_worker {
	void (*done)(void *conn_arg);
	unsigned attached;                      /* sessions whose c->w is this worker */
	int gone;                               /* tls_worker_free()d: kept until attached is 0 */
	unsigned npool;                         /* pool[0..npool) are fresh key pairs */
	struct { uint8_t priv[32], pub[32]; } pool[X25519_POOL];
	struct tls_conn *head, *tail;           /* queued key operations, FIFO */
	unsigned npending;
	struct tls_conn *batch[TLS_BATCH];      /* the batch being run */
	unsigned nbatch;
	/* RSA runs in steps (tls_worker_set_rsa_steps): budget 0 runs each whole */
	unsigned rsa_budget;                    /* units of a run per tls_worker_run() */
	struct tls_conn *rsa_head, *rsa_tail;   /* operations waiting for the next run, FIFO */
	unsigned nrsa_wait;
	unsigned rsa_hold_us, rsa_step_max;     /* tls_worker_set_rsa_pace */
	uint64_t rsa_end_ns;                    /* when the last run ended */
	struct rsa_ifma_steps *rsa_run;         /* the run going on, or NULL */
	unsigned rsa_n;                         /* its operations */
	struct tls_conn *rsa_c[RSA_IFMA_RUN_OPS]; /* their sessions (NULL: freed meanwhile) */
	struct tls_ctx *rsa_ctx[RSA_IFMA_RUN_OPS];/* a reference each: the run reads their keys */
	struct rsa_ifma_job rsa_jobs[RSA_IFMA_RUN_OPS];
	struct rsa_ifma_stats rsa_st;
	uint8_t rsa_in[RSA_IFMA_RUN_OPS][RSA_IFMA_BYTES], rsa_out[RSA_IFMA_RUN_OPS][RSA_IFMA_BYTES];
	struct cv_key cvk[CV_KEYS];             /* clients: servers' keys (least recently used goes) */
	uint64_t cv_tick;
	struct tls_key_stats st;                /* the door's counters */
};

/*
 * The session's worker, or NULL once tls_worker_free() has been called on
 * it (its sessions then do their key work inline; the worker's memory goes
 * with the last of them, see worker_detach).
 */
static struct tls_worker *conn_worker(const struct tls_conn *c)
{
	return c->w && !c->w->gone ? c->w : NULL;
}

/* A session lets go of its worker; a freed worker goes with its last session. */
static void worker_detach(struct tls_conn *c)
{
	struct tls_worker *w = c->w;

	c->w = NULL;
	if (w && --w->attached == 0 && w->gone)
		free(w);
}

const char *const tls_key_stat_names[] = {
#define X(name) #name,
	TLS_KEY_STATS(X)
#undef X
};

/* The histogram's first counter, as an index into the counters seen as an array. */
#define TLS_KEY_FILL_1 (offsetof(struct tls_key_stats, key_ifma_fill_1) / sizeof(uint64_t))
_Static_assert(offsetof(struct tls_key_stats, key_ifma_fill_4) -
	       offsetof(struct tls_key_stats, key_ifma_fill_1) == 3 * sizeof(uint64_t) &&
	       RSA_IFMA_RUN_OPS == 4, "one histogram counter per IFMA fill level");

/* Live workers, for tls_key_stats_total() (changed only at start and stop). */
static pthread_mutex_t workers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_worker *workers[TLS_MAX_WORKERS];

static const SSL_PRIVATE_KEY_METHOD key_method;

/* Format an error message into err. */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Empty the thread's error queue if anything is in it. ERR_clear_error()
 * walks all 16 slots of the queue whether or not they are used; called
 * before every SSL call, that was 2.5 us of a STARTTLS session (perf).
 * SSL_do_handshake, SSL_read and SSL_write clear the queue themselves.
 */
static void err_drop(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

/* BoringSSL's reason for the last error, or a fallback; clears the queue. */
static const char *ssl_reason(const char *fallback)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());

	ERR_clear_error();
	return r ? r : fallback;
}

/* ---- private keys: the narrow door ---- */

/* Sign in with pkey as signature algorithm alg; 1 on success. */
static int key_sign_one(EVP_PKEY *pkey, uint16_t alg, const uint8_t *in, size_t in_len,
			uint8_t *out, size_t *out_len)
{
	const EVP_MD *md = SSL_get_signature_algorithm_digest(alg);
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX mctx;
	int ok = 0;

	if (!md || SSL_get_signature_algorithm_key_type(alg) != EVP_PKEY_id(pkey))
		return 0;
	EVP_MD_CTX_init(&mctx);
	if (EVP_DigestSignInit(&mctx, &pctx, md, NULL, pkey) &&
	    (!SSL_is_signature_algorithm_rsa_pss(alg) ||
	     (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) &&
	      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, -1 /* = hash length */))) &&
	    EVP_DigestSign(&mctx, out, out_len, in, in_len))
		ok = 1;
	EVP_MD_CTX_cleanup(&mctx);
	return ok;
}

/* Is the session's operation one for the RSA-2048 lanes (an RSA-2048 key of ours)? */
static int key_rsa_lanes(const struct tls_conn *c, const struct tls_cert *ct)
{
	if (!ct->ifma || c->kout_max != RSA_IFMA_BYTES)
		return 0;
	if (c->kop == KOP_DECRYPT)
		return c->kin_len == RSA_IFMA_BYTES;
	return c->kop == KOP_SIGN && SSL_get_signature_algorithm_key_type(c->sigalg) == EVP_PKEY_RSA;
}

/*
 * The raw RSA input of an operation the IFMA path can take: the ciphertext
 * (decrypt) or the message encoded for the signature algorithm into em
 * (sign). NULL when the operation is not an RSA-2048 one of ours.
 */
static const uint8_t *key_ifma_input(const struct tls_conn *c, const struct tls_cert *ct, uint8_t *em)
{
	const EVP_MD *md;

	if (!key_rsa_lanes(c, ct))
		return NULL;
	if (c->kop == KOP_DECRYPT)
		return c->kbuf;
	md = SSL_get_signature_algorithm_digest(c->sigalg);
	if (!md || !rsa_ifma_encode(EVP_PKEY_get0_RSA(ct->pkey), md,
			     SSL_is_signature_algorithm_rsa_pss(c->sigalg), c->kbuf, c->kin_len, em))
		return NULL;
	return em;
}

/* Put c at the tail of a FIFO of sessions (the door's queue, or the RSA run's wait). */
static void fifo_add(struct tls_conn **head, struct tls_conn **tail, unsigned *n, struct tls_conn *c)
{
	c->q_next = NULL;
	c->q_prev = *tail;
	if (*tail)
		(*tail)->q_next = c;
	else
		*head = c;
	*tail = c;
	(*n)++;
}

/* Take c out of its FIFO. */
static void fifo_del(struct tls_conn **head, struct tls_conn **tail, unsigned *n, struct tls_conn *c)
{
	if (c->q_prev)
		c->q_prev->q_next = c->q_next;
	else
		*head = c->q_next;
	if (c->q_next)
		c->q_next->q_prev = c->q_prev;
	else
		*tail = c->q_prev;
	c->q_next = c->q_prev = NULL;
	(*n)--;
}

/* Queue a session's operation at the tail of its worker's door. */
static void key_enqueue(struct tls_worker *w, struct tls_conn *c)
{
	c->kstate = KEY_QUEUED;
	fifo_add(&w->head, &w->tail, &w->npending, c);
}

/* ---- X25519 through the door ---- */

/*
 * BoringSSL makes the server's X25519 key share inside SSL_do_handshake()
 * (X25519_keypair(), then X25519() with the client's share) and, unlike the
 * private key, has no asynchronous hook for it. So the door takes it one
 * step earlier: select_cert_cb() reads the client's X25519 share from the
 * ClientHello, queues the session as for a key operation and answers
 * "retry"; key_batch_run() makes every queued session's key pair and shared
 * secret in IFMA runs of up to 8 lanes (x25519_run_jobs); when the handshake resumes,
 * libssl's calls to X25519_keypair() and X25519(), which it makes through
 * the dynamic linker, reach the definitions below (the executable's symbol
 * comes first) and get the session's results: tls_cur is the session this
 * thread is driving. Any other call (client sessions, other groups, a
 * session whose results BoringSSL did not take) goes to libcrypto's own
 * functions (dlsym RTLD_NEXT). A precomputed key pair is a fresh random one
 * used once, whatever asks for it; a shared secret is handed out only for
 * the same private key and peer value.
 */
static __thread struct tls_conn *tls_cur;

/*
 * The function RTLD_NEXT finds for one that mxgate defines over
 * libcrypto's (NULL if none), which must live in BoringSSL's libcrypto
 * (the object that defines X25519_public_from_private, which OpenSSL
 * lacks). Another libcrypto in the process (OpenSSL's, dragged in by a
 * plugin) defines the same names over other structures: calling it would
 * corrupt memory, so the process stops here instead, naming both objects.
 */
static void *libcrypto_next(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name), *ref = dlsym(RTLD_DEFAULT, "X25519_public_from_private");
	Dl_info a = { 0 }, b = { 0 };

	if (!fn)
		return NULL;
	if (!ref || !dladdr(fn, &a) || !dladdr(ref, &b) || a.dli_fbase != b.dli_fbase) {
		fprintf(stderr, "mxgate: %s comes from %s, not from the libcrypto mxgate is linked with (%s)\n",
			name, a.dli_fname ? a.dli_fname : "?", b.dli_fname ? b.dli_fname : "?");
		abort();
	}
	return fn;
}

static int (*x25519_next)(uint8_t *, const uint8_t *, const uint8_t *);
static void (*x25519_keypair_next)(uint8_t *, uint8_t *);
static pthread_once_t x25519_once = PTHREAD_ONCE_INIT;
static int x25519_lanes_off;            /* MXGATE_X25519_LANES=0: side-by-side runs */

static void x25519_resolve(void)
{
	const char *e = getenv("MXGATE_X25519_LANES");

	x25519_next = (int (*)(uint8_t *, const uint8_t *, const uint8_t *))
		      libcrypto_next("X25519");
	x25519_keypair_next = (void (*)(uint8_t *, uint8_t *))
			      libcrypto_next("X25519_keypair");
	x25519_lanes_off = e && strcmp(e, "0") == 0;
}

void tls_x25519_lanes_set(int on)
{
	pthread_once(&x25519_once, x25519_resolve);
	x25519_lanes_off = !on;
}

/* libcrypto's X25519 functions found (else the door cannot compute them); 1 or 0. */
static int x25519_ready(void)
{
	pthread_once(&x25519_once, x25519_resolve);
	return x25519_next && x25519_keypair_next;
}

/*
 * Wipe and free a session's X25519 job; count (when the handshake ends, its
 * worker alive) a job made whose shared secret BoringSSL never took.
 */
static void x25519_job_drop(struct tls_conn *c, int count)
{
	if (!c->xj)
		return;
	if (count && conn_worker(c) && c->xj->shared_ready && !c->xj->used)
		c->w->st.key_x25519_unused++;
	OPENSSL_cleanse(c->xj, sizeof(*c->xj));
	free(c->xj);
	c->xj = NULL;
}

static void x25519_fatal(void)
{
	fprintf(stderr, "mxgate: libcrypto's X25519 functions not found (dlsym RTLD_NEXT)\n");
	abort();
}

void X25519_keypair(uint8_t out_public_value[32], uint8_t out_private_key[32])
{
	struct tls_conn *c = tls_cur;

	if (c && c->xj && c->xj->pub_ready && !c->xj->taken) {
		memcpy(out_public_value, c->xj->pub, 32);
		memcpy(out_private_key, c->xj->priv, 32);
		c->xj->taken = 1;
		return;
	}
	if (!x25519_ready())
		x25519_fatal();
	x25519_keypair_next(out_public_value, out_private_key);
}

int X25519(uint8_t out_shared_key[32], const uint8_t private_key[32],
	   const uint8_t peer_public_value[32])
{
	struct tls_conn *c = tls_cur;
	const struct x25519_job *j = c ? c->xj : NULL;

	if (j && j->taken && j->shared_ready && CRYPTO_memcmp(private_key, j->priv, 32) == 0 &&
	    memcmp(peer_public_value, j->peer, 32) == 0) {
		static const uint8_t zeros[32];
		int ok;

		memcpy(out_shared_key, j->shared, 32);
		/* as BoringSSL: an all-zero secret (a point of small order) fails */
		ok = CRYPTO_memcmp(out_shared_key, zeros, 32) != 0;
		c->xj->used = 1;
		x25519_job_drop(c, 0);
		return ok;
	}
	if (!x25519_ready())
		x25519_fatal();
	return x25519_next(out_shared_key, private_key, peer_public_value);
}

/* The client's X25519 key share in the ClientHello; 1 and peer filled, or 0. */
static int ch_x25519_share(const SSL_CLIENT_HELLO *ch, uint8_t peer[32])
{
	const uint8_t *data;
	size_t len;
	CBS ext, shares;

	if (!SSL_early_callback_ctx_extension_get(ch, TLSEXT_TYPE_key_share, &data, &len))
		return 0;
	CBS_init(&ext, data, len);
	if (!CBS_get_u16_length_prefixed(&ext, &shares) || CBS_len(&ext) != 0)
		return 0;
	while (CBS_len(&shares) > 0) {
		uint16_t group;
		CBS kx;

		if (!CBS_get_u16(&shares, &group) || !CBS_get_u16_length_prefixed(&shares, &kx))
			return 0;
		if (group == SSL_CURVE_X25519 && CBS_len(&kx) == 32) {
			memcpy(peer, CBS_data(&kx), 32);
			return 1;
		}
	}
	return 0;
}

/* A key pair from w's pool into j (made in the free lanes of earlier runs); 1, or 0 (empty). */
static int x25519_pool_take(struct tls_worker *w, struct x25519_job *j)
{
	if (w->npool == 0)
		return 0;
	w->npool--;
	memcpy(j->priv, w->pool[w->npool].priv, 32);
	memcpy(j->pub, w->pool[w->npool].pub, 32);
	OPENSSL_cleanse(&w->pool[w->npool], sizeof(w->pool[0]));
	j->pub_ready = 1;
	return 1;
}

/*
 * Queue the session's X25519 work when the door can take it: a worker, the
 * CPU's IFMA, X25519 first in our groups and an X25519 share from the
 * client (so BoringSSL, with server preference, picks X25519 without a
 * HelloRetryRequest). 1 queued, 0 not (BoringSSL does it inline).
 */
static int x25519_queue(struct tls_conn *c, const SSL_CLIENT_HELLO *ch)
{
	struct tls_worker *w = conn_worker(c);
	struct x25519_job *j;

	if (!w || !c->ctx->x25519_first || c->kstate != KEY_IDLE || c->xj ||
	    !x25519_ifma_cpu() || !x25519_ready() || x25519_lanes_off)
		return 0;
	if (!(j = calloc(1, sizeof(*j))))
		return 0;
	if (!ch_x25519_share(ch, j->peer) ||
	    (!x25519_pool_take(w, j) && !RAND_bytes(j->priv, sizeof(j->priv)))) {
		OPENSSL_cleanse(j, sizeof(*j));
		free(j);
		ERR_clear_error();
		return 0;
	}
	j->has_peer = 1;
	c->xj = j;
	c->kop = KOP_X25519;
	key_enqueue(w, c);
	return 1;
}

/*
 * Make what n sessions' X25519 jobs lack, in IFMA runs of up to 8 lanes,
 * of two kinds. A shared secret (priv, the peer's share) takes a lane of
 * a Montgomery ladder run (x25519_ifma_raw); a key pair (priv, u = 9)
 * takes a lane of a fixed-base run (x25519_ifma_base: a table of multiples
 * of the base point, about 0.36 of a ladder lane). A server job needs both,
 * a client job its shared secret, and a job whose key pair came from the
 * worker's pool only its shared secret. A run of up to 4 lanes takes the
 * ymm kernels, 5 to 8 the zmm ones (about 1.7 times a ymm run on Zen 4:
 * `make bench-x25519`), so each kind goes in runs of 8 and the rest; every
 * run beats BoringSSL's scalar functions, so every queued job goes through
 * lanes. The worker's pool of key pairs (X25519_POOL) is filled by
 * fixed-base lanes: a run's free lanes, and a run of its own whenever 8
 * fit, at 3.2 us a key pair against BoringSSL's 16.7 us for one made when
 * a handshake asks. A pooled key pair is a fresh random one, used once and
 * wiped from the pool when taken.
 */
static void x25519_run_jobs(struct tls_worker *w, struct tls_key_stats *st, struct tls_conn *const *xs,
			    unsigned n)
{
	uint8_t k[X25519_IFMA_LANES][32], u[X25519_IFMA_LANES][32], out[X25519_IFMA_LANES][32];
	uint8_t *dst[X25519_IFMA_LANES];

	for (int pass = 0; pass < 2; pass++) {  /* 0: the shared secrets (ladder), 1: the key pairs (base) */
		unsigned i = 0, lanes;

		do {
			unsigned jl;

			for (lanes = 0; i < n && lanes < X25519_IFMA_LANES; i++) {
				struct x25519_job *j = xs[i]->xj;

				if (pass == 0 && j->has_peer && !j->shared_ready) {
					memcpy(u[lanes], j->peer, 32);
					dst[lanes] = j->shared;
				} else if (pass == 1 && !j->pub_ready) {
					dst[lanes] = j->pub;
				} else {
					continue;
				}
				memcpy(k[lanes++], j->priv, 32);
			}
			jl = lanes;     /* the jobs' lanes; in a fixed-base run the rest fill the pool */
			if (pass == 1 && w && (jl > 0 || X25519_POOL - w->npool >= X25519_IFMA_LANES)) {
				while (lanes < X25519_IFMA_LANES && w->npool + (lanes - jl) < X25519_POOL) {
					uint8_t *priv = w->pool[w->npool + (lanes - jl)].priv;

					if (!RAND_bytes(priv, 32)) {
						OPENSSL_cleanse(priv, 32);
						ERR_clear_error();
						break;
					}
					memcpy(k[lanes], priv, 32);
					dst[lanes] = w->pool[w->npool + (lanes - jl)].pub;
					lanes++;
				}
			}
			if (lanes == 0)
				break;
			if (pass == 0)
				x25519_ifma_raw(out, (const uint8_t (*)[32])k, (const uint8_t (*)[32])u, lanes);
			else
				x25519_ifma_base(out, (const uint8_t (*)[32])k, lanes);
			for (unsigned l = 0; l < lanes; l++)
				memcpy(dst[l], out[l], 32);
			if (pass == 1 && w)
				w->npool += lanes - jl;
			st->key_x25519_runs++;
			st->key_x25519_lanes += lanes;
		} while (i < n);
	}
	for (unsigned i = 0; i < n; i++) {
		struct x25519_job *j = xs[i]->xj;

		j->pub_ready = 1;
		j->shared_ready = j->has_peer;
	}
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(out, sizeof(out));
}

/*
 * ECDSA P-256 signatures in lanes (crypto/p256_ifma.c): on unless
 * MXGATE_P256_LANES=0 (side-by-side runs) or tls_p256_lanes_set(0), and
 * only on a CPU with IFMA. A run below P256_MIN_FILL signatures costs
 * more than BoringSSL signing them one at a time (`make bench-p256`).
 */
#define P256_MIN_FILL 3
static pthread_once_t p256_once = PTHREAD_ONCE_INIT;
static int p256_lanes_off;

static void p256_env(void)
{
	const char *e = getenv("MXGATE_P256_LANES");

	p256_lanes_off = e && strcmp(e, "0") == 0;
}

void tls_p256_lanes_set(int on)
{
	pthread_once(&p256_once, p256_env);
	p256_lanes_off = !on;
}

/* Can this operation go to the P-256 lanes? A SHA-256 ECDSA signature with a P-256 key of ours. */
static int key_p256_ok(const struct tls_conn *c, const struct tls_cert *ct)
{
	pthread_once(&p256_once, p256_env);
	return ct->p256 && c->kop == KOP_SIGN && c->sigalg == SSL_SIGN_ECDSA_SECP256R1_SHA256 &&
	       !p256_lanes_off && p256_ifma_cpu();
}

/*
 * Sign n (>= 1) queued P-256 operations, their digests in pj: split evenly
 * into runs of at most 8 lanes; a run below P256_MIN_FILL, and a lane that
 * fails (r or s zero, no room), is signed by BoringSSL one at a time.
 */
static void p256_run_jobs(struct tls_key_stats *st, struct p256_ifma_job *pj, struct tls_conn *const *pc,
			  unsigned n)
{
	unsigned runs = (n + P256_IFMA_LANES - 1) / P256_IFMA_LANES;

	for (unsigned i = 0, r = 0; r < runs; r++) {
		unsigned g = (n - i) / (runs - r);      /* even split: 9 is 4 + 5, not 8 + 1 */

		if (g >= P256_MIN_FILL) {
			p256_ifma_sign(pj + i, g);
			st->key_p256_runs++;
			st->key_p256_lanes += g;
		} else {
			for (unsigned j = 0; j < g; j++)
				pj[i + j].ok = 0;
		}
		for (unsigned j = i; j < i + g; j++) {
			struct tls_conn *c = pc[j];
			uint8_t *out = c->kbuf + c->kin_len;
			size_t len = pj[j].ok ? p256_ifma_der(&pj[j], out, c->kout_max) : 0;
			int ok = len > 0;

			if (!ok) {
				len = c->kout_max;
				ok = key_sign_one(c->ctx->certs[c->cert].pkey, c->sigalg, c->kbuf, c->kin_len,
						  out, &len);
				st->key_scalar_ops++;
				st->key_failed += !ok;
			}
			c->kout_len = ok ? len : 0;
			c->kstate = ok ? KEY_DONE : KEY_FAILED;
		}
		i += g;
	}
}

/* ---- the server's CertificateVerify, checked by the door (clients) ---- */

/*
 * A TLS 1.3 client checks the server's CertificateVerify inside
 * SSL_do_handshake(), with no asynchronous hook: libssl calls
 * EVP_DigestVerify() through the dynamic linker and needs the answer at
 * once. For a client session on a worker, the definition below answers
 * "valid" for that one signature (an ECDSA P-256 SHA-256 signature over
 * the server's TLS 1.3 CertificateVerify content, strict DER, while
 * tls_handshake() drives the session) and keeps the key, the digest and
 * the signature (cv_defer). BoringSSL then finishes the handshake (its
 * Finished goes out: a MAC of the transcript, nothing a false server can
 * use), and tls_handshake() queues the check on the door instead of
 * saying TLS_DONE; key_batch_run() makes the checks of one round together
 * (cv_run_jobs), and the session is done only when its signature is shown
 * valid, or fails with a decrypt_error alert (cv_finish). Before that, no
 * application data is read or written. Every other call (servers, chain
 * checks, other algorithms, MXGATE_CV_LANES=0) goes to libcrypto's own
 * EVP_DigestVerify (dlsym RTLD_NEXT).
 */
static int (*digest_verify_next)(EVP_MD_CTX *, const uint8_t *, size_t, const uint8_t *, size_t);
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static int cv_lanes_off;

static void cv_resolve(void)
{
	const char *e = getenv("MXGATE_CV_LANES");

	digest_verify_next = (int (*)(EVP_MD_CTX *, const uint8_t *, size_t, const uint8_t *, size_t))
			     libcrypto_next("EVP_DigestVerify");
	cv_lanes_off = e && strcmp(e, "0") == 0;
}

void tls_cv_lanes_set(int on)
{
	pthread_once(&cv_once, cv_resolve);
	cv_lanes_off = !on;
}

/* RFC 8446 4.4.3: what a server's CertificateVerify signs, before the transcript hash. */
static const char cv_context[] = "TLS 1.3, server CertificateVerify";

static int cv_content(const uint8_t *data, size_t len)
{
	size_t pre = 64 + sizeof(cv_context);   /* 64 spaces, the context and its 0 */

	if (len != pre + 32 && len != pre + 48)   /* SHA-256 or SHA-384 transcripts */
		return 0;
	for (size_t i = 0; i < 64; i++)
		if (data[i] != 0x20)
			return 0;
	return memcmp(data + 64, cv_context, sizeof(cv_context)) == 0;
}

/*
 * Keep the signature for the door instead of checking it now; 1 kept (the
 * caller answers "valid" for now), 0 not (checked at once, as ever).
 */
static int cv_defer(struct tls_conn *c, EVP_MD_CTX *mctx, const uint8_t *sig, size_t sig_len,
		    const uint8_t *data, size_t len)
{
	EVP_PKEY *pkey;
	EC_KEY *ec;
	ECDSA_SIG *es = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	struct cv_job *j = NULL;
	int ok = 0;

	if (!conn_worker(c) || cv_lanes_off || !p256_ifma_cpu() || !cv_content(data, len) ||
	    EVP_MD_CTX_md(mctx) != EVP_sha256() || !mctx->pctx ||
	    !(pkey = EVP_PKEY_CTX_get0_pkey(mctx->pctx)) || EVP_PKEY_id(pkey) != EVP_PKEY_EC ||
	    !(ec = EVP_PKEY_get0_EC_KEY(pkey)) || !EC_KEY_get0_public_key(ec) ||
	    EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) != NID_X9_62_prime256v1)
		return 0;
	/* as ECDSA_verify: strict DER only (what re-encodes to the same bytes) */
	if (!(es = ECDSA_SIG_from_bytes(sig, sig_len)) || !ECDSA_SIG_to_bytes(&der, &der_len, es) ||
	    der_len != sig_len || memcmp(der, sig, sig_len) != 0 || !(j = calloc(1, sizeof(*j))) ||
	    !BN_bn2bin_padded(j->r, 32, es->r) || !BN_bn2bin_padded(j->s, 32, es->s) ||
	    EC_POINT_point2oct(EC_KEY_get0_group(ec), EC_KEY_get0_public_key(ec),
			       POINT_CONVERSION_UNCOMPRESSED, j->point, sizeof(j->point), NULL) != 65)
		goto out;
	SHA256(data, len, j->digest);
	EC_KEY_up_ref(ec);
	j->key = ec;
	j->state = CV_HELD;
	c->cv = j;
	j = NULL;
	ok = 1;
out:
	free(j);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	err_drop();
	return ok;
}

int EVP_DigestVerify(EVP_MD_CTX *ctx, const uint8_t *sig, size_t sig_len, const uint8_t *data,
		     size_t len)
{
	struct tls_conn *c = tls_cur;

	pthread_once(&cv_once, cv_resolve);
	if (c && c->client && !c->cv && cv_defer(c, ctx, sig, sig_len, data, len))
		return 1;
	if (!digest_verify_next) {
		fprintf(stderr, "mxgate: libcrypto's EVP_DigestVerify not found (dlsym RTLD_NEXT)\n");
		abort();
	}
	return digest_verify_next(ctx, sig, sig_len, data, len);
}

static void cv_drop(struct tls_conn *c)
{
	if (!c->cv)
		return;
	EC_KEY_free(c->cv->key);
	free(c->cv);
	c->cv = NULL;
}

/* BoringSSL's own check of a kept signature: 1 valid, 0 not. */
static int cv_check_one(const struct cv_job *j)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	int ok = es && BN_bin2bn(j->r, 32, es->r) && BN_bin2bn(j->s, 32, es->s) &&
		 ECDSA_do_verify(j->digest, 32, es, j->key) == 1;

	ECDSA_SIG_free(es);
	err_drop();
	return ok;
}

/*
 * The lane tables of the job's key, or NULL (BoringSSL checks it then). A
 * table costs milliseconds to build (52 x 16 multiples of the key), so a
 * key gets one only once it has come CV_TABLE_AFTER times, and a worker
 * keeps CV_KEYS of them, the least recently used making room: a client
 * talks to few servers; a server that shows a new key every time costs
 * the client BoringSSL's check, never a table build; and a round builds
 * one table at most (*builds), so servers that show each key 4 times
 * cost the client 3.5 ms a round at worst. A slot used in this
 * round (used > round: its table may be in the round's lanes) is never
 * the one that makes room.
 */
static const struct p256_ifma_pub *cv_pub(struct tls_worker *w, const struct cv_job *j, uint64_t round,
					  unsigned *builds)
{
	struct cv_key *k = NULL, *lru = NULL;

	for (unsigned i = 0; i < CV_KEYS && !k; i++) {
		if (memcmp(w->cvk[i].point, j->point, 65) == 0)
			k = &w->cvk[i];
		else if (w->cvk[i].used <= round && (!lru || w->cvk[i].used < lru->used))
			lru = &w->cvk[i];
	}
	if (!k) {
		/*
		 * A key seen in this round (used > round) stays: the round's
		 * lanes hold pointers to its table until p256_ifma_verify has
		 * run. Every slot taken this round: no slot, BoringSSL's check.
		 */
		if (!lru)
			return NULL;
		k = lru;
		p256_ifma_pub_free(k->pub);
		memset(k, 0, sizeof(*k));
		memcpy(k->point, j->point, 65);
	}
	k->used = ++w->cv_tick;
	if (++k->seen >= CV_TABLE_AFTER && !k->pub && *builds > 0) {
		(*builds)--;
		k->pub = p256_ifma_pub_new(j->key);     /* NULL on failure: BoringSSL's then */
	}
	return k->pub;
}

/*
 * Check n sessions' kept signatures (the door's round): those whose key
 * has tables in runs of up to 8 lanes (split evenly; `make bench-p256`:
 * 55 us a run of 1 to 4, 83 us of 5 to 8, against BoringSSL's 49 us a
 * signature), the rest, a run that would be alone, and every
 * signature the lanes did not show valid, by BoringSSL one at a time. A
 * lane's "valid" is sound (p256_ifma_verify); its "not shown valid" is
 * BoringSSL's to judge, so the verdicts are BoringSSL's.
 */
static void cv_run_jobs(struct tls_worker *w, struct tls_key_stats *st, struct tls_conn *const *vs,
			unsigned n)
{
	struct p256_ifma_vjob vj[TLS_BATCH];
	struct cv_job *lj[TLS_BATCH];
	unsigned nl = 0, runs;
	uint64_t round = w ? w->cv_tick : 0;    /* the slots this round uses are used > round */
	unsigned builds = 1;                    /* table builds this round may make */

	for (unsigned i = 0; i < n; i++) {
		struct cv_job *j = vs[i]->cv;
		const struct p256_ifma_pub *pub = w ? cv_pub(w, j, round, &builds) : NULL;

		j->state = CV_HELD;
		if (!pub)
			continue;
		vj[nl].pub = pub;
		memcpy(vj[nl].digest, j->digest, 32);
		memcpy(vj[nl].r, j->r, 32);
		memcpy(vj[nl].s, j->s, 32);
		vj[nl].ok = 0;
		lj[nl++] = j;
	}
	runs = (nl + P256_IFMA_LANES - 1) / P256_IFMA_LANES;
	for (unsigned i = 0, r = 0; r < runs; r++) {
		unsigned g = (nl - i) / (runs - r);     /* even split: 9 is 4 + 5 */

		if (g >= CV_MIN_FILL) {
			p256_ifma_verify(vj + i, g);
			st->key_cv_runs++;
			st->key_cv_lanes += g;
			for (unsigned k = i; k < i + g; k++)
				if (vj[k].ok)
					lj[k]->state = CV_OK;
		}
		i += g;
	}
	for (unsigned i = 0; i < n; i++) {
		struct cv_job *j = vs[i]->cv;

		if (j->state == CV_HELD) {
			j->state = cv_check_one(j) ? CV_OK : CV_BAD;
			st->key_cv_scalar++;
			st->key_cv_bad += j->state == CV_BAD;
		}
	}
}

/*
 * The end of a client handshake whose CertificateVerify was kept: checked
 * now if the door could not (its worker gone); TLS_DONE for a valid
 * signature, else TLS_ERROR after a decrypt_error alert, as BoringSSL.
 */
static enum tls_status cv_finish(struct tls_conn *c)
{
	if (c->cv->state == CV_HELD) {
		int ok = cv_check_one(c->cv);

		c->cv->state = ok ? CV_OK : CV_BAD;
	}
	if (c->cv->state == CV_OK) {
		cv_drop(c);
		return TLS_DONE;
	}
	if (!c->err_reason) {
		c->err_reason = "bad CertificateVerify signature";
		if (!c->eof && !c->gone)
			SSL_send_fatal_alert(c->ssl, SSL_AD_DECRYPT_ERROR);
		ERR_clear_error();
	}
	return TLS_ERROR;
}

/* Add what rsa_ifma_run() or a run in steps did to the door's counters. */
static void key_rsa_stats_add(struct tls_key_stats *st, const struct rsa_ifma_stats *rs)
{
	st->key_ifma_runs += rs->runs;
	for (unsigned k = 1; k <= RSA_IFMA_RUN_OPS; k++) {
		st->key_ifma_lanes += 2 * k * rs->fill[k];
		((uint64_t *)st)[TLS_KEY_FILL_1 + k - 1] += rs->fill[k];
	}
	st->key_ifma_ops += rs->ifma_ops;
	st->key_scalar_ops += rs->scalar_ops;
	st->key_verify_failed += rs->verify_failed;
	st->key_failed += rs->failed;
}

/*
 * Perform n key operations as one batch. Every private-key operation of
 * every session goes through here. RSA-2048 operations (signatures after
 * BoringSSL's padding, and raw decryptions) are gathered, whatever their
 * certificate, into IFMA runs of up to 4 (rsa_ifma_run: runs below the
 * break-even fill, a CPU without IFMA, and results failing the check with
 * the public exponent go to BoringSSL's scalar operation), or, when the
 * worker runs RSA in steps, to the wait of those runs (rsa_steps_go); ECDSA P-256
 * signatures likewise into lane runs (p256_run_jobs); the X25519 work of
 * the sessions into its own runs (x25519_run_jobs), and client sessions'
 * checks of their servers' CertificateVerify into P-256 verification runs
 * (cv_run_jobs); the rest (P-384, other RSA sizes) are signed one at a
 * time. Each op ends KEY_DONE (result after the input in kbuf) or
 * KEY_FAILED. w (NULL inline) gets the counts.
 */
static void key_batch_run(struct tls_worker *w, struct tls_conn *const *ops, unsigned n)
{
	struct rsa_ifma_job jobs[TLS_BATCH];
	struct tls_conn *jc[TLS_BATCH];
	uint8_t em[TLS_BATCH][RSA_IFMA_BYTES];
	struct rsa_ifma_stats rs;
	struct tls_key_stats none = { 0 }, *st = w ? &w->st : &none;
	struct tls_conn *xs[TLS_BATCH], *pc[TLS_BATCH];
	struct p256_ifma_job pj[TLS_BATCH];
	struct tls_conn *vs[TLS_BATCH];
	unsigned nj = 0, nops = 0, nx = 0, np = 0, nv = 0;

	memset(&rs, 0, sizeof(rs));
	for (unsigned i = 0; i < n; i++) {
		struct tls_conn *c = ops[i];
		const struct tls_cert *ct;
		const uint8_t *in;
		EVP_PKEY *pkey;
		uint8_t *out;
		size_t out_len;
		int ok;

		if (!c)
			continue;
		if (c->kop == KOP_X25519) {
			xs[nx++] = c;
			c->kstate = KEY_DONE;
			continue;
		}
		if (c->kop == KOP_CV) {
			vs[nv++] = c;
			c->kstate = KEY_DONE;
			continue;
		}
		nops++;
		ct = &c->ctx->certs[c->cert];
		pkey = ct->pkey;
		out = c->kbuf + c->kin_len;
		if (w && w->rsa_budget && key_rsa_lanes(c, ct)) {
			/* the next run in steps takes it (rsa_steps_go) */
			c->rsa_at = RSA_WAIT;
			fifo_add(&w->rsa_head, &w->rsa_tail, &w->nrsa_wait, c);
			continue;
		}
		if (nj < TLS_BATCH && (in = key_ifma_input(c, ct, em[nj])) != NULL) {
			jobs[nj].key = ct->ifma;
			jobs[nj].in = in;
			jobs[nj].out = out;
			jc[nj++] = c;
			continue;
		}
		if (key_p256_ok(c, ct)) {
			pj[np].key = ct->p256;
			SHA256(c->kbuf, c->kin_len, pj[np].digest);
			pc[np++] = c;
			continue;
		}
		out_len = c->kout_max;
		if (c->kop == KOP_DECRYPT) {
			RSA *rsa = EVP_PKEY_get0_RSA(pkey);

			ok = rsa && RSA_decrypt(rsa, &out_len, out, c->kout_max,
						c->kbuf, c->kin_len, RSA_NO_PADDING);
		} else {
			ok = key_sign_one(pkey, c->sigalg, c->kbuf, c->kin_len, out, &out_len);
		}
		c->kout_len = ok ? out_len : 0;
		c->kstate = ok ? KEY_DONE : KEY_FAILED;
		st->key_scalar_ops++;
		st->key_failed += !ok;
	}
	if (nj) {
		rsa_ifma_run(jobs, nj, &rs);
		for (unsigned j = 0; j < nj; j++) {
			jc[j]->kout_len = jobs[j].ok ? RSA_IFMA_BYTES : 0;
			jc[j]->kstate = jobs[j].ok ? KEY_DONE : KEY_FAILED;
		}
		OPENSSL_cleanse(em, sizeof(em[0]) * nj);
	}
	if (np)
		p256_run_jobs(st, pj, pc, np);
	if (nx)
		x25519_run_jobs(w, st, xs, nx);
	if (nv)
		cv_run_jobs(w, st, vs, nv);
	st->key_batches++;
	st->key_batch_ops += nops;
	key_rsa_stats_add(st, &rs);
	err_drop();
}

/* Forget a session's key operation and wipe its buffer. */
static void key_release(struct tls_conn *c)
{
	if (c->kbuf) {
		OPENSSL_cleanse(c->kbuf, c->kin_len + c->kout_max);
		free(c->kbuf);
	}
	c->kbuf = NULL;
	c->kin_len = c->kout_len = c->kout_max = 0;
	c->kstate = KEY_IDLE;
}

/* Take a session out of its worker's queue. */
static void key_unlink(struct tls_worker *w, struct tls_conn *c)
{
	fifo_del(&w->head, &w->tail, &w->npending, c);
}

/* BoringSSL asks for the result of the session's key operation. */
static enum ssl_private_key_result_t key_complete(SSL *ssl, uint8_t *out, size_t *out_len,
						  size_t max_out)
{
	struct tls_conn *c = SSL_get_app_data(ssl);
	enum ssl_private_key_result_t r = ssl_private_key_failure;

	if (!c)
		return ssl_private_key_failure;
	switch (c->kstate) {
	case KEY_DONE:
		if (c->kout_len <= max_out) {
			memcpy(out, c->kbuf + c->kin_len, c->kout_len);
			*out_len = c->kout_len;
			r = ssl_private_key_success;
		}
		break;
	case KEY_FAILED:
		break;
	case KEY_QUEUED:
	case KEY_BATCH:
		return ssl_private_key_retry;
	default:
		return ssl_private_key_failure;
	}
	key_release(c);
	return r;
}

/* Copy a key operation into the session and queue it (or run it inline). */
static enum ssl_private_key_result_t key_queue(SSL *ssl, int op, uint16_t alg,
					       const uint8_t *in, size_t in_len,
					       uint8_t *out, size_t *out_len, size_t max_out)
{
	struct tls_conn *c = SSL_get_app_data(ssl);
	struct tls_worker *w;
	size_t omax;

	if (!c || c->kstate != KEY_IDLE)
		return ssl_private_key_failure;
	omax = EVP_PKEY_size(c->ctx->certs[c->cert].pkey);
	c->kbuf = malloc(in_len + omax);
	if (!c->kbuf)
		return ssl_private_key_failure;
	memcpy(c->kbuf, in, in_len);
	c->kin_len = in_len;
	c->kout_max = omax;
	c->kop = (uint8_t)op;
	c->sigalg = alg;
	w = conn_worker(c);
	if (!w) {
		c->kstate = KEY_BATCH;
		key_batch_run(NULL, &c, 1);
		return key_complete(ssl, out, out_len, max_out);
	}
	key_enqueue(w, c);
	return ssl_private_key_retry;
}

/* private key method: sign (TLS 1.3 CertificateVerify, TLS 1.2 ServerKeyExchange). */
static enum ssl_private_key_result_t key_sign(SSL *ssl, uint8_t *out, size_t *out_len,
					      size_t max_out, uint16_t alg,
					      const uint8_t *in, size_t in_len)
{
	return key_queue(ssl, KOP_SIGN, alg, in, in_len, out, out_len, max_out);
}

/* private key method: raw RSA decryption (TLS 1.2 RSA key exchange). */
static enum ssl_private_key_result_t key_decrypt(SSL *ssl, uint8_t *out, size_t *out_len,
						 size_t max_out, const uint8_t *in, size_t in_len)
{
	return key_queue(ssl, KOP_DECRYPT, 0, in, in_len, out, out_len, max_out);
}

static const SSL_PRIVATE_KEY_METHOD key_method = {
	.sign = key_sign,
	.decrypt = key_decrypt,
	.complete = key_complete,
};

static void ctx_unref(struct tls_ctx *ctx);
static void rsa_steps_release(struct tls_worker *w);

/* Create a worker's key-operation queue (registered for the counters' sum). */
struct tls_worker *tls_worker_new(void (*done)(void *conn_arg))
{
	struct tls_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->done = done;
	w->rsa_step_max = 1;
	pthread_mutex_lock(&workers_lock);
	for (unsigned i = 0; i < TLS_MAX_WORKERS; i++)
		if (!workers[i]) {
			workers[i] = w;
			break;
		}
	pthread_mutex_unlock(&workers_lock);
	return w;
}

/* A worker's key-door counters. */
const struct tls_key_stats *tls_worker_stats(const struct tls_worker *w)
{
	return &w->st;
}

/* The key-door counters summed over every live worker. */
void tls_key_stats_total(struct tls_key_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&workers_lock);
	for (unsigned i = 0; i < TLS_MAX_WORKERS; i++) {
		const uint64_t *v = (const uint64_t *)(workers[i] ? &workers[i]->st : NULL);

		for (unsigned k = 0; v && k < TLS_KEY_STAT_COUNT; k++)
			((uint64_t *)out)[k] += __atomic_load_n(&v[k], __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&workers_lock);
}

/* Free a worker; sessions still queued see their operation fail. */
void tls_worker_free(struct tls_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&workers_lock);
	for (unsigned i = 0; i < TLS_MAX_WORKERS; i++)
		if (workers[i] == w)
			workers[i] = NULL;
	pthread_mutex_unlock(&workers_lock);
	while (w->head) {
		struct tls_conn *c = w->head;

		key_unlink(w, c);
		c->kstate = KEY_FAILED;
		worker_detach(c);
	}
	while (w->rsa_head) {
		struct tls_conn *c = w->rsa_head;

		fifo_del(&w->rsa_head, &w->rsa_tail, &w->nrsa_wait, c);
		c->rsa_at = RSA_NONE;
		c->kstate = KEY_FAILED;
		worker_detach(c);
	}
	rsa_steps_release(w);
	for (unsigned k = 0; k < w->rsa_n; k++) {
		struct tls_conn *c = w->rsa_c[k];

		w->rsa_c[k] = NULL;
		if (!c)
			continue;
		c->rsa_at = RSA_NONE;
		c->kstate = KEY_FAILED;
		worker_detach(c);
	}
	OPENSSL_cleanse(w->rsa_in, sizeof(w->rsa_in));
	OPENSSL_cleanse(w->rsa_out, sizeof(w->rsa_out));
	w->rsa_n = 0;
	OPENSSL_cleanse(w->pool, sizeof(w->pool));
	w->npool = 0;
	for (unsigned i = 0; i < CV_KEYS; i++) {
		p256_ifma_pub_free(w->cvk[i].pub);
		w->cvk[i].pub = NULL;
	}
	w->gone = 1;
	if (w->attached == 0)
		free(w);
}

/* ---- RSA runs in steps ---- */

/*
 * A worker that polls its ports cannot stop for a whole RSA run (0.6 ms on
 * 8 lanes): frames and every other session would wait, and its RX ring
 * would overflow at line rate. With a budget (tls_worker_set_rsa_steps),
 * key_batch_run() moves the RSA-2048 operations of its batch to the wait
 * FIFO instead of running them, and each tls_worker_run() does one step of
 * the run going on: about budget units of rsa_ifma_steps_do(). A run takes
 * up to 4 waiting operations when the last one has ended, so the operations
 * that came during a run make the next one, as those of one poll round
 * make a batch when runs are whole. The run copies each operation's input
 * (BoringSSL's padding done here) and keeps its output in the worker: a
 * session freed meanwhile only empties its slot.
 */

/* Free the run's object and drop its references on the contexts whose keys it reads. */
static void rsa_steps_release(struct tls_worker *w)
{
	rsa_ifma_steps_free(w->rsa_run);
	w->rsa_run = NULL;
	for (unsigned k = 0; k < w->rsa_n; k++) {
		ctx_unref(w->rsa_ctx[k]);
		w->rsa_ctx[k] = NULL;
	}
}

/*
 * Hand the ended run's results to their sessions and wake them; returns how
 * many. ran 0: the run could not start (out of memory), they all fail.
 */
static unsigned rsa_steps_end(struct tls_worker *w, int ran)
{
	unsigned n = w->rsa_n, woke = 0;

	rsa_steps_release(w);
	key_rsa_stats_add(&w->st, &w->rsa_st);
	for (unsigned k = 0; k < n; k++) {
		struct tls_conn *c = w->rsa_c[k];
		int ok = w->rsa_jobs[k].ok == 1;

		/* not padded, or not run: the run's own counters do not have it */
		w->st.key_failed += !ok && (!ran || !w->rsa_jobs[k].key);
		if (!c)
			continue;
		if (ok)
			memcpy(c->kbuf + c->kin_len, w->rsa_out[k], RSA_IFMA_BYTES);
		c->kout_len = ok ? RSA_IFMA_BYTES : 0;
		c->kstate = ok ? KEY_DONE : KEY_FAILED;
	}
	OPENSSL_cleanse(w->rsa_in, sizeof(w->rsa_in[0]) * n);
	OPENSSL_cleanse(w->rsa_out, sizeof(w->rsa_out[0]) * n);
	/*
	 * done() may free any session, of this run or not: each slot is taken
	 * just before its call, so a session freed by an earlier one's done()
	 * (still RSA_RUN, its slot still counted) empties its slot first
	 */
	for (unsigned k = 0; k < n; k++) {
		struct tls_conn *c = w->rsa_c[k];

		w->rsa_c[k] = NULL;
		if (!c)
			continue;
		c->rsa_at = RSA_NONE;
		if (w->done) {
			w->done(c->arg);
			woke++;
		}
	}
	w->rsa_n = 0;
	return woke;
}

/* Start a run with up to 4 waiting operations. */
static void rsa_steps_start(struct tls_worker *w)
{
	struct rsa_ifma_job *jp[RSA_IFMA_RUN_OPS];
	unsigned n = 0, fill;

	memset(&w->rsa_st, 0, sizeof(w->rsa_st));
	while (n < RSA_IFMA_RUN_OPS && w->rsa_head) {
		struct tls_conn *c = w->rsa_head;
		const struct tls_cert *ct = &c->ctx->certs[c->cert];
		const uint8_t *in;

		fifo_del(&w->rsa_head, &w->rsa_tail, &w->nrsa_wait, c);
		c->rsa_at = RSA_RUN;
		/* the session may go before the run ends, and with it the last reference on its context */
		w->rsa_ctx[n] = c->ctx;
		atomic_fetch_add_explicit(&c->ctx->refs, 1, memory_order_relaxed);
		in = key_ifma_input(c, ct, w->rsa_in[n]);
		if (in && in != w->rsa_in[n])
			memcpy(w->rsa_in[n], in, RSA_IFMA_BYTES);
		/* a job without a key fails without being run */
		w->rsa_jobs[n] = (struct rsa_ifma_job){ in ? ct->ifma : NULL, w->rsa_in[n],
							w->rsa_out[n], 0 };
		jp[n] = &w->rsa_jobs[n];
		w->rsa_c[n++] = c;
	}
	w->rsa_n = n;
	/*
	 * A lone operation takes the lanes too (330 us in steps, where
	 * BoringSSL's 570 us would stop the worker's polls for as long), as the
	 * default least fill says; MXGATE_RSA_IFMA_MIN_FILL above it measures
	 * the scalar path
	 */
	fill = rsa_ifma_min_fill();
	w->rsa_run = rsa_ifma_steps_new(jp, n, fill, &w->rsa_st);
	err_drop();
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * A run of fewer than RSA_IFMA_RUN_OPS waits while the last run ended less
 * than the hold ago: operations come during a run and make the next, so
 * under load a run that starts the moment the last ends goes part empty
 * and the lanes cost more an operation. A worker that ran nothing lately
 * (light load) starts at once.
 */
static int rsa_steps_hold(struct tls_worker *w)
{
	return w->rsa_hold_us && w->nrsa_wait < RSA_IFMA_RUN_OPS &&
	       now_ns() - w->rsa_end_ns < (uint64_t)w->rsa_hold_us * 1000u;
}

/*
 * A step's units: the budget once, and once more for each run's worth of
 * operations waiting behind the run going on, at most rsa_step_max times.
 * One step a poll round gives the lanes only part of a worker that is
 * busy with everything else, which is when the FIFO grows.
 */
static unsigned rsa_step_budget(const struct tls_worker *w)
{
	unsigned k = 1 + w->nrsa_wait / RSA_IFMA_RUN_OPS;

	return w->rsa_budget * (k < w->rsa_step_max ? k : w->rsa_step_max);
}

/* One step of the RSA run going on (started first if none is); returns the work done. */
static unsigned rsa_steps_go(struct tls_worker *w)
{
	if (!w->rsa_run && w->rsa_head && rsa_steps_hold(w))
		return 0;
	if (!w->rsa_run && w->rsa_head) {
		rsa_steps_start(w);
		if (!w->rsa_run)
			return rsa_steps_end(w, 0);     /* out of memory: they fail */
	}
	if (!w->rsa_run)
		return 0;
	if (!rsa_ifma_steps_do(w->rsa_run, rsa_step_budget(w)))
		return 1;
	err_drop();
	w->rsa_end_ns = now_ns();
	return rsa_steps_end(w, 1);
}

/* Run up to max queued key operations in batches, then wake their sessions. */
unsigned tls_worker_run(struct tls_worker *w, unsigned max)
{
	unsigned ran = 0;

	while (ran < max && w->head) {
		unsigned n = 0;

		while (n < TLS_BATCH && ran + n < max && w->head) {
			struct tls_conn *c = w->head;

			key_unlink(w, c);
			c->kstate = KEY_BATCH;
			c->in_batch = 1;
			w->batch[n++] = c;
		}
		w->nbatch = n;
		key_batch_run(w, w->batch, n);
		/* done() may free any session of the batch: tls_conn_free clears its slot */
		for (unsigned i = 0; i < n; i++) {
			struct tls_conn *c = w->batch[i];

			if (!c)
				continue;
			w->batch[i] = NULL;
			c->in_batch = 0;
			if (c->rsa_at == RSA_WAIT)
				continue;       /* waits for an RSA run in steps */
			if (w->done)
				w->done(c->arg);
		}
		w->nbatch = 0;
		ran += n;
	}
	if (w->rsa_budget)
		ran += rsa_steps_go(w);
	return ran;
}

/* Key operations waiting, or in an RSA run going on. */
unsigned tls_worker_pending(const struct tls_worker *w)
{
	return w->npending + w->nrsa_wait + (w->rsa_run ? w->rsa_n : 0);
}

void tls_worker_set_rsa_steps(struct tls_worker *w, unsigned units)
{
	w->rsa_budget = units;
}

void tls_worker_set_rsa_pace(struct tls_worker *w, unsigned hold_us, unsigned step_max)
{
	w->rsa_hold_us = hold_us;
	w->rsa_step_max = step_max ? step_max : 1;
}

/* Key pairs in the worker's X25519 pool, waiting for its sessions. */
unsigned tls_worker_x25519_pool(const struct tls_worker *w)
{
	return w->npool;
}

/* ---- the client's X25519 through the door ---- */

/*
 * A client session given a worker (tls_client_conn_set_worker) has its
 * X25519 work done in lanes too. Before the first SSL_do_handshake() it
 * takes a key pair from the worker's pool (x25519_client_start), which
 * X25519_keypair() above hands to the ClientHello. Then bio_read() holds
 * back the first record the server sends; when it is a
 * whole ServerHello with an X25519 share (x25519_sh_share), the shared
 * secret is queued and BoringSSL is told to retry; once the run has made
 * it, the held record is handed over and BoringSSL's X25519() call gets
 * the result, checked against the same private key and share. Anything
 * else (a HelloRetryRequest, TLS 1.2, another group, a record too long or
 * not a handshake one) is handed over untouched and BoringSSL computes
 * the secret itself. The held bytes are only read here: BoringSSL parses
 * and checks the ServerHello as ever.
 */
#define SH_HOLD_MAX 1024        /* a ServerHello record with an X25519 share is about 100 bytes */

/* TLS 1.3's HelloRetryRequest is a ServerHello with this random (RFC 8446 4.1.3). */
static const uint8_t hrr_random[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/*
 * The server's X25519 share from a TLS 1.3 ServerHello, the record (header
 * included) whole in rec; 1 and peer filled, or 0.
 */
static int x25519_sh_share(const uint8_t *rec, size_t len, uint8_t peer[32])
{
	CBS r, body, random, sid, exts;
	uint8_t type, comp;
	uint16_t ver, suite;
	int tls13 = 0, found = 0;

	CBS_init(&r, rec + 5, len - 5);
	if (!CBS_get_u8(&r, &type) || type != SSL3_MT_SERVER_HELLO ||
	    !CBS_get_u24_length_prefixed(&r, &body) || !CBS_get_u16(&body, &ver) ||
	    !CBS_get_bytes(&body, &random, 32) || !CBS_get_u8_length_prefixed(&body, &sid) ||
	    !CBS_get_u16(&body, &suite) || !CBS_get_u8(&body, &comp) ||
	    !CBS_get_u16_length_prefixed(&body, &exts) || CBS_len(&body) != 0 ||
	    memcmp(CBS_data(&random), hrr_random, 32) == 0)
		return 0;
	while (CBS_len(&exts) > 0) {
		uint16_t et, group, v;
		CBS ed, kx;

		if (!CBS_get_u16(&exts, &et) || !CBS_get_u16_length_prefixed(&exts, &ed))
			return 0;
		if (et == TLSEXT_TYPE_supported_versions) {
			if (!CBS_get_u16(&ed, &v) || CBS_len(&ed) != 0)
				return 0;
			tls13 = v == TLS1_3_VERSION;
		} else if (et == TLSEXT_TYPE_key_share) {
			if (found || !CBS_get_u16(&ed, &group) || !CBS_get_u16_length_prefixed(&ed, &kx) ||
			    CBS_len(&ed) != 0 || group != SSL_CURVE_X25519 || CBS_len(&kx) != 32)
				return 0;
			memcpy(peer, CBS_data(&kx), 32);
			found = 1;
		}
	}
	return tls13 && found;
}

/*
 * Give a client session its key pair before the ClientHello (called once):
 * one from the worker's pool (made in the free lanes of earlier runs), or,
 * the pool empty, BoringSSL's own. Either way the job knows the private
 * key, so the shared secret can go through lanes. 1 done, 0 not (BoringSSL
 * does everything inline).
 */
static int x25519_client_start(struct tls_conn *c)
{
	struct tls_worker *w = conn_worker(c);
	struct x25519_job *j;

	c->x_tried = 1;
	if (!w || !c->ctx->x25519_first || c->kstate != KEY_IDLE || c->xj ||
	    !x25519_ifma_cpu() || !x25519_ready() || x25519_lanes_off)
		return 0;
	if (!(j = calloc(1, sizeof(*j))))
		return 0;
	if (!x25519_pool_take(w, j)) {
		x25519_keypair_next(j->pub, j->priv);
		j->pub_ready = 1;
	}
	c->xj = j;
	c->kop = KOP_X25519;
	return 1;
}

/* Stop holding: what is held goes to BoringSSL as it is. */
static void sh_release(struct tls_conn *c)
{
	c->sh_checked = 1;
	if (c->hold && c->hold_len == 0) {
		free(c->hold);
		c->hold = NULL;
	}
}

/*
 * bio_read()'s step while a client session waits for the ServerHello: 1
 * when BoringSSL must retry (more of the record to come, or its shared
 * secret queued), 0 when reading goes on (the held bytes first).
 */
static int sh_hold(struct tls_conn *c)
{
	struct x25519_job *j = c->xj;

	if (c->kstate == KEY_QUEUED || c->kstate == KEY_BATCH)
		return 1;
	if (!j->taken || j->has_peer || !conn_worker(c)) {
		sh_release(c);
		return 0;
	}
	if (!c->hold && !(c->hold = malloc(SH_HOLD_MAX))) {
		sh_release(c);
		return 0;
	}
	for (;;) {
		size_t need = 5;
		long n;

		if (c->hold_len >= 5) {
			if (c->hold[0] != SSL3_RT_HANDSHAKE || c->hold[1] != 3)
				break;
			need += (size_t)c->hold[3] << 8 | c->hold[4];
			if (need > SH_HOLD_MAX)
				break;
		}
		if (c->hold_len == need) {
			if (!x25519_sh_share(c->hold, need, j->peer))
				break;
			j->has_peer = 1;
			key_enqueue(c->w, c);
			return 1;
		}
		n = c->tr.read(c->tr.arg, c->hold + c->hold_len, need - c->hold_len);
		if (n < 0)
			return 1;
		if (n == 0) {
			c->eof = 1;     /* end of stream: BoringSSL sees it after the held bytes */
			break;
		}
		c->hold_len = (uint16_t)(c->hold_len + n);
	}
	sh_release(c);
	return 0;
}

/* ---- the transport BIO ---- */

/* BIO read: pull records straight from the TCP stack. */
static int bio_read(BIO *b, char *buf, int len)
{
	struct tls_conn *c = BIO_get_data(b);
	long n;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (c->xj && c->client && !c->sh_checked && sh_hold(c)) {
		BIO_set_retry_read(b);
		return -1;
	}
	if (c->hold) {
		size_t k = (size_t)(c->hold_len - c->hold_off);

		if (k > (size_t)len)
			k = (size_t)len;
		memcpy(buf, c->hold + c->hold_off, k);
		c->hold_off = (uint16_t)(c->hold_off + k);
		if (c->hold_off == c->hold_len) {
			free(c->hold);
			c->hold = NULL;
		}
		return (int)k;
	}
	if (c->eof)
		return 0;       /* the end of the stream stays the end */
	n = c->tr.read(c->tr.arg, (uint8_t *)buf, (size_t)len);
	if (n > 0)
		return (int)n;
	if (n == 0) {
		c->eof = 1;
		return 0;
	}
	BIO_set_retry_read(b);
	return -1;
}

/* BIO write: push records straight into the TCP stack. */
static int bio_write(BIO *b, const char *buf, int len)
{
	struct tls_conn *c = BIO_get_data(b);
	long n;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	n = c->tr.write(c->tr.arg, (const uint8_t *)buf, (size_t)len);
	if (n > 0)
		return (int)n;
	if (n == 0) {
		BIO_set_retry_write(b);
		return -1;
	}
	c->gone = 1;
	return -1;
}

/* BIO ctrl: flush is a no-op (the TCP stack sends what it accepted). */
static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

/* ---- session tickets ---- */

/* Copy the ticket keys in force. */
static void tk_load(struct tls_ctx *ctx, struct tk_set *out)
{
	unsigned gen = atomic_load_explicit(&ctx->tk_gen, memory_order_acquire);

	*out = ctx->tk[gen % TK_SLOTS];
}

/*
 * Publish a new key set (service thread only): written into the next slot,
 * then made current with a release store. A worker copying a slot would
 * have to be overtaken by TK_SLOTS - 1 rotations to see it change.
 */
static void tk_publish(struct tls_ctx *ctx, const struct tk_set *s)
{
	unsigned gen = atomic_load_explicit(&ctx->tk_gen, memory_order_relaxed) + 1;

	ctx->tk[gen % TK_SLOTS] = *s;
	atomic_store_explicit(&ctx->tk_gen, gen, memory_order_release);
}

/* Fill a ticket key from 48 bytes of key material. */
static void tk_from_bytes(struct tk_key *k, const uint8_t *b)
{
	memcpy(k->name, b, 16);
	memcpy(k->hmac, b + 16, 16);
	memcpy(k->aes, b + 32, 16);
}

/* Ticket callback: encrypt under the current key, decrypt under either. */
static int ticket_cb(SSL *ssl, uint8_t *key_name, uint8_t *iv, EVP_CIPHER_CTX *ectx,
		     HMAC_CTX *hctx, int enc)
{
	struct tls_conn *c = SSL_get_app_data(ssl);
	const struct tk_key *k;
	struct tk_set ks;
	int ret = 1;

	if (!c)
		return -1;
	tk_load(c->ctx, &ks);
	if (enc) {
		k = &ks.cur;
		memcpy(key_name, k->name, SSL_TICKET_KEY_NAME_LEN);
		if (!RAND_bytes(iv, 16) ||
		    !EVP_EncryptInit_ex(ectx, EVP_aes_128_cbc(), NULL, k->aes, iv) ||
		    !HMAC_Init_ex(hctx, k->hmac, sizeof(k->hmac), EVP_sha256(), NULL))
			ret = -1;
	} else {
		if (!memcmp(key_name, ks.cur.name, SSL_TICKET_KEY_NAME_LEN)) {
			k = &ks.cur;
		} else if (ks.has_prev && !memcmp(key_name, ks.prev.name, SSL_TICKET_KEY_NAME_LEN)) {
			k = &ks.prev;
			ret = 2;        /* renew under the current key */
		} else {
			k = NULL;
			ret = 0;        /* unknown key: full handshake */
		}
		if (k && (!HMAC_Init_ex(hctx, k->hmac, sizeof(k->hmac), EVP_sha256(), NULL) ||
			  !EVP_DecryptInit_ex(ectx, EVP_aes_128_cbc(), NULL, k->aes, iv)))
			ret = -1;
	}
	OPENSSL_cleanse(&ks, sizeof(ks));
	return ret;
}

/* Rotate the session-ticket keys now (the previous key still decrypts). */
void tls_ctx_rotate_tickets(struct tls_ctx *ctx)
{
	struct tk_set s;
	uint8_t b[TLS_TICKET_KEY_LEN];

	if (!ctx || !ctx->tickets)
		return;
	tk_load(ctx, &s);
	s.prev = s.cur;
	s.has_prev = 1;
	RAND_bytes(b, sizeof(b));
	tk_from_bytes(&s.cur, b);
	tk_publish(ctx, &s);
	OPENSSL_cleanse(b, sizeof(b));
	OPENSSL_cleanse(&s, sizeof(s));
}

/* Install explicit ticket keys (e.g. the fleet's keys from Redis). */
/* Copy the keys in force (service thread): to carry them into a new context. */
int tls_ctx_get_ticket_keys(struct tls_ctx *ctx, uint8_t *cur48, uint8_t *prev48, int *has_prev)
{
	struct tk_set s;

	if (!ctx || !ctx->tickets)
		return -1;
	tk_load(ctx, &s);
	memcpy(cur48, s.cur.name, 16);
	memcpy(cur48 + 16, s.cur.hmac, 16);
	memcpy(cur48 + 32, s.cur.aes, 16);
	memcpy(prev48, s.prev.name, 16);
	memcpy(prev48 + 16, s.prev.hmac, 16);
	memcpy(prev48 + 32, s.prev.aes, 16);
	*has_prev = s.has_prev;
	OPENSSL_cleanse(&s, sizeof(s));
	return 0;
}

int tls_ctx_set_ticket_keys(struct tls_ctx *ctx, const uint8_t *cur48, const uint8_t *prev48)
{
	struct tk_set s;

	if (!ctx || !ctx->tickets || !cur48)
		return -1;
	memset(&s, 0, sizeof(s));
	tk_from_bytes(&s.cur, cur48);
	if (prev48) {
		tk_from_bytes(&s.prev, prev48);
		s.has_prev = 1;
	}
	tk_publish(ctx, &s);
	OPENSSL_cleanse(&s, sizeof(s));
	return 0;
}

/* ---- certificates and SNI ---- */

/* Does host match pattern (exact, or "*.dom" for exactly one more label)? */
static int name_match(const char *pat, const char *host)
{
	if (pat[0] == '*' && pat[1] == '.') {
		const char *dot = strchr(host, '.');

		return dot && dot != host && strcasecmp(dot + 1, pat + 2) == 0;
	}
	return strcasecmp(pat, host) == 0;
}

/* The certificate for a server_name: exact names first, then wildcards, else certs[0]. */
static unsigned cert_pick(const struct tls_ctx *ctx, const char *host)
{
	if (!host || !*host)
		return 0;
	for (int wild = 0; wild < 2; wild++)
		for (unsigned i = 0; i < ctx->ncerts; i++)
			for (unsigned n = 0; n < ctx->certs[i].nnames; n++) {
				const char *pat = ctx->certs[i].names[n];

				if ((pat[0] == '*') == wild && name_match(pat, host))
					return i;
			}
	return 0;
}

/* Early ClientHello callback: install the SNI-chosen chain with our key method. */
static enum ssl_select_cert_result_t select_cert_cb(const SSL_CLIENT_HELLO *ch)
{
	SSL *ssl = ch->ssl;
	struct tls_conn *c = SSL_get_app_data(ssl);
	const struct tls_cert *ct;
	unsigned i;

	if (!c)
		return ssl_select_cert_error;
	if (c->kop == KOP_X25519) {
		/* called again while the door works, or after: go on once it is done */
		if (c->kstate == KEY_QUEUED || c->kstate == KEY_BATCH)
			return ssl_select_cert_retry;
		c->kstate = KEY_IDLE;   /* done, or failed (worker gone): BoringSSL's own then */
		c->kop = KOP_SIGN;
	} else if (x25519_queue(c, ch)) {
		return ssl_select_cert_retry;
	}
	i = cert_pick(c->ctx, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
	ct = &c->ctx->certs[i];
	c->cert = (uint8_t)i;
	/*
	 * a lone certificate is the context's own (tls_ctx_new), which SSL_new
	 * copied: SSL_set_chain_and_key would parse the leaf again and check it
	 * against the key, 1 us a handshake. With several, each session sets its
	 * own, so that nothing of another (its OCSP response) is left over.
	 */
	if (c->ctx->ncerts == 1)
		return ssl_select_cert_success;
	if (!SSL_set_chain_and_key(ssl, ct->chain, ct->nchain, NULL, &key_method) ||
	    !SSL_set_signing_algorithm_prefs(ssl, ct->prefs, ct->nprefs) ||
	    (ct->ocsp && !SSL_set_ocsp_response(ssl, ct->ocsp, ct->ocsp_len)))
		return ssl_select_cert_error;
	return ssl_select_cert_success;
}

/* Release one certificate's chain, key and names. */
static void cert_free(struct tls_cert *ct)
{
	for (size_t i = 0; i < ct->nchain; i++)
		CRYPTO_BUFFER_free(ct->chain[i]);
	free(ct->chain);
	EVP_PKEY_free(ct->pkey);
	rsa_ifma_key_free(ct->ifma);
	p256_ifma_key_free(ct->p256);
	for (unsigned i = 0; i < ct->nnames; i++)
		free(ct->names[i]);
	free(ct->names);
	free(ct->ocsp);
	memset(ct, 0, sizeof(*ct));
}

/* Share another context's loaded certificate (references, copies); 0 or -1 (out of memory). */
static int cert_dup(struct tls_cert *ct, const struct tls_cert *from)
{
	memset(ct, 0, sizeof(*ct));
	ct->chain = calloc(from->nchain ? from->nchain : 1, sizeof(*ct->chain));
	ct->names = calloc(from->nnames ? from->nnames : 1, sizeof(*ct->names));
	if (!ct->chain || !ct->names)
		goto oom;
	for (; ct->nchain < from->nchain; ct->nchain++) {
		CRYPTO_BUFFER_up_ref(from->chain[ct->nchain]);
		ct->chain[ct->nchain] = from->chain[ct->nchain];
	}
	EVP_PKEY_up_ref(from->pkey);
	ct->pkey = from->pkey;
	if (from->ifma && !(ct->ifma = rsa_ifma_key_new(EVP_PKEY_get0_RSA(ct->pkey))))
		goto oom;
	if (from->p256 && !(ct->p256 = p256_ifma_key_new(EVP_PKEY_get0_EC_KEY(ct->pkey))))
		goto oom;
	memcpy(ct->prefs, from->prefs, sizeof(ct->prefs));
	ct->nprefs = from->nprefs;
	for (; ct->nnames < from->nnames; ct->nnames++)
		if (!(ct->names[ct->nnames] = strdup(from->names[ct->nnames])))
			goto oom;
	if (from->ocsp) {
		if (!(ct->ocsp = malloc(from->ocsp_len)))
			goto oom;
		memcpy(ct->ocsp, from->ocsp, from->ocsp_len);
		ct->ocsp_len = from->ocsp_len;
	}
	return 0;
oom:
	cert_free(ct);
	return -1;
}

/* Add a served name (lowercased copy); 0 or -1. */
static int cert_add_name(struct tls_cert *ct, const char *name, size_t len)
{
	char **v, *s;

	if (!len || ct->nnames >= TLS_MAX_NAMES)
		return 0;
	v = realloc(ct->names, (ct->nnames + 1) * sizeof(*v));
	if (!v)
		return -1;
	ct->names = v;
	s = malloc(len + 1);
	if (!s)
		return -1;
	for (size_t i = 0; i < len; i++)
		s[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	s[len] = 0;
	v[ct->nnames++] = s;
	return 0;
}

/* The names a certificate serves when the configuration gives none: DNS SANs, else the CN. */
static int cert_names_from_x509(struct tls_cert *ct, X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int rc = 0;

	if (gens) {
		for (size_t i = 0; i < sk_GENERAL_NAME_num(gens) && !rc; i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

			if (g->type == GEN_DNS)
				rc = cert_add_name(ct, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
						   (size_t)ASN1_STRING_length(g->d.dNSName));
		}
		GENERAL_NAMES_free(gens);
	}
	if (!rc && !ct->nnames) {
		char cn[256];
		int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
						  cn, sizeof(cn));

		if (n > 0 && (size_t)n == strlen(cn))
			rc = cert_add_name(ct, cn, (size_t)n);
	}
	ERR_clear_error();
	return rc;
}

/* PEM password callback: encrypted keys are not supported. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* Load a certificate chain and its key; set err naming the file on failure. */
static int cert_load(struct tls_cert *ct, const struct tls_cert_cfg *cc, char *err, size_t errlen)
{
	X509 *leaf = NULL, *x;
	FILE *fp;
	int rc = -1, id;

	if (!cc->chain_file || !cc->key_file) {
		set_err(err, errlen, "certificate without %s file", cc->chain_file ? "key" : "chain");
		return -1;
	}
	fp = cc->chain_pem ? fmemopen((void *)cc->chain_pem, cc->chain_pem_len, "r")
			   : fopen(cc->chain_file, "r");
	if (!fp) {
		set_err(err, errlen, "cannot read certificate file %s: %s", cc->chain_file, strerror(errno));
		return -1;
	}
	while ((x = PEM_read_X509(fp, NULL, no_passphrase, NULL)) != NULL) {
		uint8_t *der = NULL;
		int len = i2d_X509(x, &der);
		CRYPTO_BUFFER **v = realloc(ct->chain, (ct->nchain + 1) * sizeof(*v));

		if (len > 0 && v) {
			ct->chain = v;
			v[ct->nchain] = CRYPTO_BUFFER_new(der, (size_t)len, NULL);
		}
		OPENSSL_free(der);
		if (len <= 0 || !v || !ct->chain[ct->nchain]) {
			X509_free(x);
			fclose(fp);
			set_err(err, errlen, "cannot read certificate file %s: %s", cc->chain_file,
				ssl_reason("out of memory"));
			goto out;
		}
		ct->nchain++;
		if (!leaf)
			leaf = x;
		else
			X509_free(x);
	}
	fclose(fp);
	if (!leaf) {
		set_err(err, errlen, "cannot read certificate file %s: no PEM certificate (%s)",
			cc->chain_file, ssl_reason("empty"));
		goto out;
	}
	ERR_clear_error();      /* the end-of-file "no start line" */

	fp = cc->key_pem ? fmemopen((void *)cc->key_pem, cc->key_pem_len, "r")
			 : fopen(cc->key_file, "r");
	if (!fp) {
		set_err(err, errlen, "cannot read key file %s: %s", cc->key_file, strerror(errno));
		goto out;
	}
	ct->pkey = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL);
	fclose(fp);
	if (!ct->pkey) {
		set_err(err, errlen, "cannot read key file %s: no usable PEM private key (%s)",
			cc->key_file, ssl_reason("unknown"));
		goto out;
	}
	if (!X509_check_private_key(leaf, ct->pkey)) {
		ERR_clear_error();
		set_err(err, errlen, "key file %s does not match certificate file %s",
			cc->key_file, cc->chain_file);
		goto out;
	}
	id = EVP_PKEY_id(ct->pkey);
	if (id == EVP_PKEY_RSA) {
		static const uint16_t rsa[] = {
			SSL_SIGN_RSA_PSS_RSAE_SHA256, SSL_SIGN_RSA_PSS_RSAE_SHA384,
			SSL_SIGN_RSA_PSS_RSAE_SHA512, SSL_SIGN_RSA_PKCS1_SHA256,
			SSL_SIGN_RSA_PKCS1_SHA384, SSL_SIGN_RSA_PKCS1_SHA512,
		};
		memcpy(ct->prefs, rsa, sizeof(rsa));
		ct->nprefs = sizeof(rsa) / sizeof(rsa[0]);
		/* NULL (scalar path) for keys the IFMA path does not serve */
		ct->ifma = rsa_ifma_key_new(EVP_PKEY_get0_RSA(ct->pkey));
		ERR_clear_error();
	} else if (id == EVP_PKEY_EC) {
		const EC_GROUP *g = EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(ct->pkey));
		int nid = g ? EC_GROUP_get_curve_name(g) : NID_undef;

		if (nid == NID_X9_62_prime256v1) {
			ct->prefs[0] = SSL_SIGN_ECDSA_SECP256R1_SHA256;
			/* NULL (scalar path) if the lane form cannot be made */
			ct->p256 = p256_ifma_key_new(EVP_PKEY_get0_EC_KEY(ct->pkey));
			ERR_clear_error();
		} else if (nid == NID_secp384r1)
			ct->prefs[0] = SSL_SIGN_ECDSA_SECP384R1_SHA384;
		ct->nprefs = ct->prefs[0] ? 1 : 0;
	}
	if (!ct->nprefs) {
		set_err(err, errlen, "key file %s: unsupported key type (RSA, ECDSA P-256 or P-384)",
			cc->key_file);
		goto out;
	}
	if (cc->ocsp) {
		CBS cbs, seq;

		CBS_init(&cbs, cc->ocsp, cc->ocsp_len);
		if (cc->ocsp_len == 0 || cc->ocsp_len > TLS_OCSP_MAX ||
		    !CBS_get_asn1(&cbs, &seq, CBS_ASN1_SEQUENCE) || CBS_len(&cbs) != 0) {
			set_err(err, errlen, "certificate %s: OCSP response of %zu bytes is not one DER "
				"structure of 1..%u bytes", cc->chain_file, cc->ocsp_len, TLS_OCSP_MAX);
			goto out;
		}
		ct->ocsp = malloc(cc->ocsp_len);
		if (!ct->ocsp)
			goto oom;
		memcpy(ct->ocsp, cc->ocsp, cc->ocsp_len);
		ct->ocsp_len = cc->ocsp_len;
	}
	for (unsigned i = 0; i < TLS_MAX_SNI && cc->sni[i]; i++)
		if (cert_add_name(ct, cc->sni[i], strlen(cc->sni[i])) < 0)
			goto oom;
	if (!ct->nnames && cert_names_from_x509(ct, leaf) < 0)
		goto oom;
	rc = 0;
	goto out;
oom:
	set_err(err, errlen, "out of memory loading %s", cc->chain_file);
out:
	X509_free(leaf);
	if (rc < 0)
		cert_free(ct);
	return rc;
}

/* ---- client certificates ---- */

/*
 * Verify callback: records a failure for {verify} and never stops the
 * handshake. BoringSSL also keeps the chain's result in the session
 * (SSL_get_verify_result), which is what a resumed session has.
 */
static int verify_cb(int ok, X509_STORE_CTX *sctx)
{
	SSL *ssl;
	struct tls_conn *c;

	if (!ok) {
		ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
		c = ssl ? SSL_get_app_data(ssl) : NULL;
		if (c)
			c->verify_failed = 1;
	}
	return 1;
}

/* CA certificates from PEM in memory into the store and the client CA list; 0 or -1. */
static int ca_pem_load(struct tls_ctx *ctx, const char *pem, size_t len, char *err, size_t errlen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl_ctx);
	STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x;
	int n = 0, rc = -1;

	if (!names || !b) {
		set_err(err, errlen, "CA certificates from the control plane: out of memory");
		goto out;
	}
	while ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL) {
		X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
		int ok = X509_STORE_add_cert(store, x);

		X509_free(x);
		if (!ok || !nm || !sk_X509_NAME_push(names, nm)) {
			X509_NAME_free(nm);
			set_err(err, errlen, "CA certificate %d from the control plane: %s", n + 1,
				ssl_reason("rejected"));
			goto out;
		}
		n++;
	}
	if (!n) {
		set_err(err, errlen, "CA certificates from the control plane: no PEM certificate (%s)",
			ssl_reason("empty"));
		goto out;
	}
	ERR_clear_error();      /* the end-of-data "no start line" */
	SSL_CTX_set_client_CA_list(ctx->ssl_ctx, names);
	names = NULL;
	rc = 0;
out:
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	BIO_free(b);
	return rc;
}

/* CRLs from an open BIO into the store; what names the source in errors; 0 or -1. */
static int crl_bio_load(X509_STORE *store, BIO *b, const char *what, char *err, size_t errlen)
{
	X509_CRL *crl;
	int n = 0;

	while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_crl(store, crl);

		X509_CRL_free(crl);
		if (!ok) {
			set_err(err, errlen, "cannot use CRL %s: %s", what, ssl_reason("rejected"));
			return -1;
		}
		n++;
	}
	if (!n) {
		set_err(err, errlen, "cannot read CRL %s: no PEM CRL (%s)", what, ssl_reason("empty"));
		return -1;
	}
	ERR_clear_error();
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return 0;
}

/*
 * Load trust anchors and the CRL into the context's store: from memory
 * (ca_pem, crl_pem: the control plane) when given, else from the files.
 */
/* A CA file or directory that can be read, or why not in *err (BoringSSL would say "system library"). */
static int ca_path_ok(const char *what, const char *path, int dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode) != !dir) {
		set_err(err, errlen, "CA %s %s is %s", what, path, dir ? "not a directory" : "a directory");
		return 0;
	}
	if (access(path, dir ? R_OK | X_OK : R_OK) != 0) {
		set_err(err, errlen, "cannot read CA %s %s: %s", what, path, strerror(errno));
		return 0;
	}
	return 1;
}

static int client_ca_load(struct tls_ctx *ctx, const struct tls_server_cfg *cfg,
			  char *err, size_t errlen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl_ctx);

	if (!cfg->ca_pem && ((cfg->ca_file && !ca_path_ok("file", cfg->ca_file, 0, err, errlen)) ||
			     (cfg->ca_dir && !ca_path_ok("directory", cfg->ca_dir, 1, err, errlen))))
		return -1;
	if (cfg->ca_pem) {
		if (ca_pem_load(ctx, cfg->ca_pem, cfg->ca_pem_len, err, errlen) < 0)
			return -1;
	} else if ((cfg->ca_file || cfg->ca_dir) &&
		   !X509_STORE_load_locations(store, cfg->ca_file, cfg->ca_dir)) {
		const char *r = ssl_reason("unreadable");

		if (cfg->ca_file)
			set_err(err, errlen, "cannot read CA file %s: %s", cfg->ca_file, r);
		else
			set_err(err, errlen, "cannot read CA directory %s: %s", cfg->ca_dir, r);
		return -1;
	}
	if (!cfg->ca_pem && cfg->ca_file) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);

		if (names)
			SSL_CTX_set_client_CA_list(ctx->ssl_ctx, names);
		ERR_clear_error();
	}
	if (cfg->crl_pem) {
		BIO *b = BIO_new_mem_buf(cfg->crl_pem, (int)cfg->crl_pem_len);
		int rc;

		if (!b) {
			set_err(err, errlen, "CRL from the control plane: out of memory");
			return -1;
		}
		rc = crl_bio_load(store, b, "from the control plane", err, errlen);
		BIO_free(b);
		if (rc < 0)
			return -1;
	} else if (cfg->crl_file) {
		BIO *b = BIO_new_file(cfg->crl_file, "r");
		char what[300];
		int rc;

		if (!b) {
			set_err(err, errlen, "cannot read CRL file %s: %s", cfg->crl_file, strerror(errno));
			ERR_clear_error();
			return -1;
		}
		snprintf(what, sizeof(what), "file %s", cfg->crl_file);
		rc = crl_bio_load(store, b, what, err, errlen);
		BIO_free(b);
		if (rc < 0)
			return -1;
	}
	if (ctx->request_client_cert)
		SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, verify_cb);
	return 0;
}

/* ---- contexts ---- */

/* Free a context once its last reference is gone. */
static void ctx_destroy(struct tls_ctx *ctx)
{
	for (unsigned i = 0; i < ctx->ncerts; i++)
		cert_free(&ctx->certs[i]);
	SSL_CTX_free(ctx->ssl_ctx);
	if (ctx->bio_meth)
		BIO_meth_free(ctx->bio_meth);
	OPENSSL_cleanse(ctx->tk, sizeof(ctx->tk));
	free(ctx);
}

/* Drop one reference. */
static void ctx_unref(struct tls_ctx *ctx)
{
	if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) == 1)
		ctx_destroy(ctx);
}

/* A context with its SSL_CTX and our TCP BIO method, nothing configured yet. */
static struct tls_ctx *ctx_alloc(char *err, size_t errlen)
{
	struct tls_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&ctx->refs, 1);
	atomic_init(&ctx->tk_gen, 0);
	ERR_clear_error();
	ctx->ssl_ctx = SSL_CTX_new(TLS_method());
	ctx->bio_meth = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(), "mxgate-tcp");
	if (!ctx->ssl_ctx || !ctx->bio_meth ||
	    !BIO_meth_set_read(ctx->bio_meth, bio_read) ||
	    !BIO_meth_set_write(ctx->bio_meth, bio_write) ||
	    !BIO_meth_set_ctrl(ctx->bio_meth, bio_ctrl)) {
		set_err(err, errlen, "cannot create TLS context: %s", ssl_reason("out of memory"));
		ERR_clear_error();
		ctx_destroy(ctx);
		return NULL;
	}
	return ctx;
}

/* 1 if ctx takes "ALL:" followed by one rule of a cipher list (name, a+b, without operator). */
static int cipher_rule_known(SSL_CTX *ctx, const char *rule, size_t len)
{
	char buf[128];

	if (len == 0 || len >= sizeof(buf) - 4)
		return len == 0;
	snprintf(buf, sizeof(buf), "ALL:%.*s", (int)len, rule);
	return SSL_CTX_set_strict_cipher_list(ctx, buf) == 1;
}

int tls_check_ciphers(const char *list, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	const char *p = list, *why, *hint = "";
	int ok;

	if (ctx == NULL) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	ok = SSL_CTX_set_strict_cipher_list(ctx, list) == 1;
	why = ok ? NULL : ssl_reason("rejected");
	if (strstr(list, "TLS_AES_") || strstr(list, "TLS_CHACHA20_"))
		hint = " (TLS 1.3 suites are not configurable: tls_ciphers is the TLS 1.2 list)";
	/* name the first rule BoringSSL does not know: "[a|b]" and "!a" are split
	   into their names */
	while (!ok && *p) {
		size_t n;

		p += strspn(p, ":, []|!+-~");
		n = strcspn(p, ":, []|");
		if (n && !cipher_rule_known(ctx, p, n)) {
			set_err(err, errlen, "bad TLS 1.2 cipher list \"%s\": unknown cipher or rule "
				"\"%.*s\"%s", list, (int)n, p, hint);
			break;
		}
		p += n;
	}
	if (!ok && !*p)
		set_err(err, errlen, "bad TLS 1.2 cipher list \"%s\": %s%s", list,
			strcmp(why, "NO_CIPHER_MATCH") == 0 ? "it leaves no TLS 1.2 suite" :
			strcmp(why, "INVALID_COMMAND") == 0 ? "bad syntax (entries are separated by ':')" :
			why, hint);
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* Build a server context; NULL with a message naming the file or setting. */
struct tls_ctx *tls_ctx_new(const struct tls_server_cfg *cfg, char *err, size_t errlen)
{
	struct tls_ctx *ctx;
	const char *groups = cfg->groups ? cfg->groups : "X25519:P-256";
	int minv = cfg->min_version ? cfg->min_version : TLS1_2_VERSION;
	static const uint8_t sid_ctx[] = "mxgate";

	if ((!cfg->ncerts && (!cfg->certs_from || !cfg->certs_from->ncerts)) ||
	    cfg->ncerts > TLS_MAX_CERTS) {
		set_err(err, errlen, "%u certificates configured (1..%d)", cfg->ncerts, TLS_MAX_CERTS);
		return NULL;
	}
	if (minv != TLS1_2_VERSION && minv != TLS1_3_VERSION) {
		set_err(err, errlen, "min_version 0x%04x unsupported (0x0303 or 0x0304)", minv);
		return NULL;
	}
	ctx = ctx_alloc(err, errlen);
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx->ssl_ctx, (uint16_t)minv);
	SSL_CTX_set_max_proto_version(ctx->ssl_ctx, TLS1_3_VERSION);
	if (!SSL_CTX_set_strict_cipher_list(ctx->ssl_ctx, cfg->ciphers ? cfg->ciphers
								       : TLS_DEFAULT_CIPHERS)) {
		ERR_clear_error();
		tls_check_ciphers(cfg->ciphers ? cfg->ciphers : TLS_DEFAULT_CIPHERS, err, errlen);
		goto fail;
	}
	if (groups[0] == '\0') {
		set_err(err, errlen, "tls_groups is empty: name at least one group (X25519:P-256 by default)");
		goto fail;
	}
	if (!SSL_CTX_set1_curves_list(ctx->ssl_ctx, groups)) {
		set_err(err, errlen, "bad groups \"%s\": %s", groups, ssl_reason("rejected"));
		goto fail;
	}
	ctx->x25519_first = strncasecmp(groups, "X25519", 6) == 0 &&
			    (groups[6] == '\0' || groups[6] == ':' || groups[6] == ',');
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx->ssl_ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_select_certificate_cb(ctx->ssl_ctx, select_cert_cb);

	for (unsigned i = 0; i < cfg->ncerts; i++) {
		if (cert_load(&ctx->certs[i], &cfg->certs[i], err, errlen) < 0)
			goto fail;
		ctx->ncerts++;
	}
	for (unsigned i = 0; !cfg->ncerts && i < cfg->certs_from->ncerts; i++) {
		if (cert_dup(&ctx->certs[i], &cfg->certs_from->certs[i]) < 0) {
			set_err(err, errlen, "out of memory");
			goto fail;
		}
		ctx->ncerts++;
	}
	/* a lone certificate on the context, whence SSL_new copies it: select_cert_cb */
	if (ctx->ncerts == 1 && (!SSL_CTX_set_chain_and_key(ctx->ssl_ctx, ctx->certs[0].chain, ctx->certs[0].nchain,
				       NULL, &key_method) ||
	    !SSL_CTX_set_signing_algorithm_prefs(ctx->ssl_ctx, ctx->certs[0].prefs,
						 ctx->certs[0].nprefs) ||
	    (ctx->certs[0].ocsp && !SSL_CTX_set_ocsp_response(ctx->ssl_ctx, ctx->certs[0].ocsp,
								ctx->certs[0].ocsp_len)))) {
		set_err(err, errlen, "certificate: %s", ssl_reason("not accepted by BoringSSL"));
		goto fail;
	}

	ctx->request_client_cert = cfg->request_client_cert != 0;
	/* trust anchors also when not asking: Srv_Features v may ask one client */
	if ((ctx->request_client_cert || cfg->ca_pem || cfg->ca_file || cfg->ca_dir) &&
	    client_ca_load(ctx, cfg, err, errlen) < 0)
		goto fail;

	if (cfg->ticket_rotate_s) {
		uint32_t life = cfg->ticket_rotate_s > 302400 ? 604800 : 2 * cfg->ticket_rotate_s;

		ctx->tickets = 1;
		tls_ctx_rotate_tickets(ctx);    /* a first current key */
		SSL_CTX_set_tlsext_ticket_key_cb(ctx->ssl_ctx, ticket_cb);
		SSL_CTX_set_num_tickets(ctx->ssl_ctx, 1);
		SSL_CTX_set_timeout(ctx->ssl_ctx, life);
		SSL_CTX_set_session_psk_dhe_timeout(ctx->ssl_ctx, life);
	} else {
		SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx->ssl_ctx, 0);
	}
	ERR_clear_error();
	return ctx;
fail:
	ERR_clear_error();
	ctx_destroy(ctx);
	return NULL;
}

/* Drop the owner's reference; the context goes when its last session does. */
void tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx)
		ctx_unref(ctx);
}

/* ---- sessions ---- */

/* A session on ctx over a transport, not yet in server or client state. */
static struct tls_conn *conn_alloc(struct tls_ctx *ctx, const struct tls_transport *tr, void *conn_arg)
{
	struct tls_conn *c = calloc(1, sizeof(*c));
	BIO *bio;

	if (!c)
		return NULL;
	c->ssl = SSL_new(ctx->ssl_ctx);
	bio = BIO_new(ctx->bio_meth);
	if (!c->ssl || !bio) {
		BIO_free(bio);
		SSL_free(c->ssl);
		free(c);
		ERR_clear_error();
		return NULL;
	}
	c->ctx = ctx;
	c->tr = *tr;
	c->arg = conn_arg;
	BIO_set_data(bio, c);
	BIO_set_init(bio, 1);
	SSL_set_bio(c->ssl, bio, bio);
	SSL_set_app_data(c->ssl, c);
	SSL_set_renegotiate_mode(c->ssl, ssl_renegotiate_never); /* servers always refuse anyway */
	/* an idle session keeps what the handshake decided, not its configuration */
	SSL_set_shed_handshake_config(c->ssl, 1);
	atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
	return c;
}

/* A server-side TLS session over a transport. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, struct tls_worker *w,
			      const struct tls_transport *tr, void *conn_arg)
{
	struct tls_conn *c = conn_alloc(ctx, tr, conn_arg);

	if (!c)
		return NULL;
	c->w = w;
	if (w)
		w->attached++;
	SSL_set_accept_state(c->ssl);
	SSL_set_shed_handshake_config(c->ssl, 1);
	return c;
}

/* This session sends no CertificateRequest: {verify} NOT (Srv_Features V). */
void tls_conn_no_client_cert(struct tls_conn *c)
{
	if (!c)
		return;
	SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	c->no_cert_req = 1;
}

/* This session asks for a client certificate although the context does not (Srv_Features v). */
void tls_conn_ask_client_cert(struct tls_conn *c)
{
	if (!c || c->ctx->request_client_cert)
		return;
	SSL_set_verify(c->ssl, SSL_VERIFY_PEER, verify_cb);
	c->cert_req = 1;
	c->no_cert_req = 0;
}

/* Free a session, pulling any key operation out of its worker. */
void tls_conn_free(struct tls_conn *c)
{
	struct tls_ctx *ctx;

	if (!c)
		return;
	if (conn_worker(c) && c->kstate == KEY_QUEUED)
		key_unlink(c->w, c);
	if (conn_worker(c) && c->in_batch)
		for (unsigned i = 0; i < c->w->nbatch; i++)
			if (c->w->batch[i] == c)
				c->w->batch[i] = NULL;
	/* an RSA run in steps: out of the wait, or its slot emptied (the run goes on) */
	if (conn_worker(c) && c->rsa_at == RSA_WAIT)
		fifo_del(&c->w->rsa_head, &c->w->rsa_tail, &c->w->nrsa_wait, c);
	if (conn_worker(c) && c->rsa_at == RSA_RUN)
		for (unsigned k = 0; k < c->w->rsa_n; k++)
			if (c->w->rsa_c[k] == c)
				c->w->rsa_c[k] = NULL;
	worker_detach(c);
	key_release(c);
	x25519_job_drop(c, 0);  /* the worker may be gone: not counted */
	cv_drop(c);
	free(c->hold);
	SSL_free(c->ssl);
	err_drop();
	ctx = c->ctx;
	free(c);
	ctx_unref(ctx);
}

/* Map a failed SSL call to a status, remembering the reason for the log. */
static enum tls_status map_err(struct tls_conn *c, int r)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_WRITE;
	case SSL_ERROR_WANT_PRIVATE_KEY_OPERATION:
	case SSL_ERROR_PENDING_CERTIFICATE:     /* the door makes the X25519 share */
		return TLS_WANT_KEY;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_CLOSED;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (c->eof && !c->gone)
			return TLS_CLOSED;
		c->err_reason = c->gone ? "connection gone" : "transport error";
		return TLS_ERROR;
	default:
		c->err_reason = ssl_reason("TLS error");
		return TLS_ERROR;
	}
}

/* Drive the handshake. */
enum tls_status tls_handshake(struct tls_conn *c)
{
	enum tls_status st;
	int r;

	if (c->client) {
		/* the door's X25519 work for this client: queued, done, or to be queued */
		if (c->kstate == KEY_QUEUED || c->kstate == KEY_BATCH)
			return TLS_WANT_KEY;
		if (c->kstate == KEY_DONE || c->kstate == KEY_FAILED)
			c->kstate = KEY_IDLE;   /* failed (worker gone): BoringSSL's own then */
		/*
		 * the handshake is over but for its CertificateVerify (checked by
		 * the door, or its worker gone); a kept check of a handshake not
		 * over (its Finished to read or to send: TLS_WANT_READ/WRITE, or
		 * an error) waits for SSL_do_handshake() to end it
		 */
		if (c->cv && SSL_is_init_finished(c->ssl))
			return cv_finish(c);
		if (!c->x_tried)
			x25519_client_start(c);
	}
	tls_cur = c;    /* X25519_keypair() and X25519() hand out this session's results */
	r = SSL_do_handshake(c->ssl);
	tls_cur = NULL;
	if (r == 1) {
		x25519_job_drop(c, 1);
		if (c->cv && conn_worker(c)) {
			c->kop = KOP_CV;
			key_enqueue(c->w, c);
			return TLS_WANT_KEY;
		}
		return c->cv ? cv_finish(c) : TLS_DONE;
	}
	st = map_err(c, r);
	if (st == TLS_WANT_READ && c->client && c->kstate == KEY_QUEUED)
		return TLS_WANT_KEY;            /* bio_read() queued the shared secret */
	if (st == TLS_ERROR || st == TLS_CLOSED)
		x25519_job_drop(c, 1);
	return st;
}

/* Read application data: >0 bytes, or -(enum tls_status). */
long tls_read(struct tls_conn *c, uint8_t *buf, size_t len)
{
	int r;

	if (!len)
		return 0;
	if (c->cv)      /* the server's CertificateVerify is not checked yet */
		return -(long)(c->cv->state == CV_BAD ? TLS_ERROR : TLS_WANT_KEY);
	r = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	return r > 0 ? r : -(long)map_err(c, r);
}

/* Write application data: all len bytes, or -(enum tls_status). */
long tls_write(struct tls_conn *c, const uint8_t *buf, size_t len)
{
	int r;

	if (!len)
		return 0;
	if (c->cv)
		return -(long)(c->cv->state == CV_BAD ? TLS_ERROR : TLS_WANT_KEY);
	r = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	return r > 0 ? r : -(long)map_err(c, r);
}

/* Bytes BoringSSL already decrypted and holds for tls_read(). */
size_t tls_pending(const struct tls_conn *c)
{
	int n = SSL_pending(c->ssl);

	return n > 0 ? (size_t)n : 0;
}

/* Send close_notify (best effort). */
void tls_close_notify(struct tls_conn *c)
{
	if (!c->eof && !c->gone && SSL_is_init_finished(c->ssl))
		SSL_shutdown(c->ssl);
	err_drop();
}

/* Was the session resumed (ticket)? */
int tls_resumed(const struct tls_conn *c)
{
	return SSL_session_reused(c->ssl);
}

/* Why the last call returned TLS_ERROR. */
const char *tls_error_reason(const struct tls_conn *c)
{
	return c->err_reason ? c->err_reason : "";
}

/* ---- sendmail's macros ---- */

/* A DN as X509_NAME_oneline's "/C=../CN=..", quoted. */
static void dn_get(const X509_NAME *name, char *out, size_t outlen)
{
	char raw[1024];

	if (!X509_NAME_oneline(name, raw, sizeof(raw)))
		raw[0] = 0;
	str_dn_quote(raw, out, outlen);
}

/* The CN of a name, quoted; sendmail's Bad* words when it cannot be used. */
static void cn_get(const X509_NAME *name, char *out, size_t outlen)
{
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *u = NULL;
	char q[3 * 128 + 1];
	size_t qlen = 0;
	int n;

	out[0] = 0;
	if (i < 0)
		return;
	n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n < 0)
		snprintf(out, outlen, "BadCertificateUnknown");
	else if (memchr(u, 0, (size_t)n))
		snprintf(out, outlen, "BadCertificateContainsNUL");
	else if ((size_t)n >= 128 || (qlen = str_dn_quote((const char *)u, q, sizeof(q))) >= outlen)
		snprintf(out, outlen, "BadCertificateTooLong");
	else
		memcpy(out, q, qlen + 1);
	OPENSSL_free(u);
	ERR_clear_error();
}

/* The macros, valid after the handshake. */
void tls_get_macros(const struct tls_conn *c, struct tls_macros *m)
{
	const SSL_CIPHER *cipher;
	X509 *peer;

	memset(m, 0, sizeof(*m));
	m->verify = "NONE";
	m->version = m->cipher = "";
	if (!SSL_is_init_finished(c->ssl))
		return;
	m->version = SSL_get_version(c->ssl);
	cipher = SSL_get_current_cipher(c->ssl);
	if (cipher) {
		m->cipher = SSL_CIPHER_get_name(cipher);
		m->cipher_bits = SSL_CIPHER_get_bits(cipher, &m->alg_bits);
	}
	/* not asked: a resumed session's certificate is not reported either */
	peer = c->no_cert_req ? NULL : SSL_get_peer_certificate(c->ssl);
	if ((!c->ctx->request_client_cert && !c->cert_req) || c->no_cert_req)
		m->verify = "NOT";
	else if (!peer)
		m->verify = "NO";
	else
		m->verify = !c->verify_failed && SSL_get_verify_result(c->ssl) == X509_V_OK ? "OK" : "FAIL";
	if (peer) {
		dn_get(X509_get_subject_name(peer), m->cert_subject, sizeof(m->cert_subject));
		dn_get(X509_get_issuer_name(peer), m->cert_issuer, sizeof(m->cert_issuer));
		cn_get(X509_get_subject_name(peer), m->cn_subject, sizeof(m->cn_subject));
		cn_get(X509_get_issuer_name(peer), m->cn_issuer, sizeof(m->cn_issuer));
		X509_free(peer);
	}
}

/* ---- client side (STARTTLS to backend MTAs) ---- */

/* A client context: TLS 1.2+, default groups; the peer is our own backend, not verified. */
struct tls_ctx *tls_client_ctx_new(char *err, size_t errlen)
{
	struct tls_ctx *ctx = ctx_alloc(err, errlen);

	if (!ctx)
		return NULL;
	if (!SSL_CTX_set1_curves_list(ctx->ssl_ctx, "X25519:P-256")) {
		set_err(err, errlen, "cannot create TLS client context: %s", ssl_reason("out of memory"));
		ERR_clear_error();
		ctx_destroy(ctx);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx->ssl_ctx, TLS1_3_VERSION);
	SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_OFF);
	ctx->x25519_first = 1;  /* the ClientHello's one share is X25519 */
	return ctx;
}

/* A client-side session (sni may be NULL); driven with tls_handshake/read/write. */
struct tls_conn *tls_client_conn_new(struct tls_ctx *ctx, const struct tls_transport *tr,
				     const char *sni, void *conn_arg)
{
	struct tls_conn *c = conn_alloc(ctx, tr, conn_arg);

	if (!c)
		return NULL;
	if (sni && !SSL_set_tlsext_host_name(c->ssl, sni)) {
		tls_conn_free(c);
		return NULL;
	}
	SSL_set_connect_state(c->ssl);
	c->client = 1;
	return c;
}

/* The client session's X25519 work goes through w's door (before the first tls_handshake). */
void tls_client_conn_set_worker(struct tls_conn *c, struct tls_worker *w)
{
	if (c && c->client && !c->x_tried && !c->w && w && !w->gone) {
		c->w = w;
		w->attached++;
	}
}

/* Trust anchors for the servers' certificates: a PEM file (backend_tls_ca_file). */
int tls_client_ctx_set_ca(struct tls_ctx *ctx, const char *ca_file, char *err, size_t errlen)
{
	if (!SSL_CTX_load_verify_locations(ctx->ssl_ctx, ca_file, NULL)) {
		set_err(err, errlen, "%s: cannot load CA certificates: %s", ca_file, ssl_reason("no certificate"));
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* The macros of a client session: {verify} judges the server's certificate. */
void tls_get_server_macros(const struct tls_conn *c, struct tls_macros *m)
{
	X509 *peer;

	tls_get_macros(c, m);
	if (!SSL_is_init_finished(c->ssl))
		return;
	peer = SSL_get_peer_certificate(c->ssl);
	m->verify = !peer ? "NO" : SSL_get_verify_result(c->ssl) == X509_V_OK ? "OK" : "FAIL";
	X509_free(peer);        /* its DNs and CNs: tls_get_macros() took them */
}

/* Does the server's certificate name host (subjectAltName DNS, else CN; RFC 6125 wildcards)? */
int tls_server_name_matches(const struct tls_conn *c, const char *host)
{
	X509 *peer = SSL_get_peer_certificate(c->ssl);
	int ok;

	if (!peer || !host || !host[0]) {
		X509_free(peer);
		return 0;
	}
	ok = X509_check_host(peer, host, strlen(host), 0, NULL) == 1;
	X509_free(peer);
	return ok;
}

/* Why the server's certificate did not verify (X509 error text), for the log. */
const char *tls_server_verify_error(const struct tls_conn *c)
{
	return X509_verify_cert_error_string(SSL_get_verify_result(c->ssl));
}
