/*
 * hs_pairs.h - N full TLS handshakes at once in one thread: N BoringSSL
 * clients and N of our server sessions (crypto/tls.c) over memory BIOs; the
 * server's private-key operations of a round wait in the worker until one
 * tls_worker_run() takes them all, as one poll round of an mxgate worker
 * would. Shared by the handshake bench (tests/bench/rsa_hs.c) and the key
 * door's unit test (tests/unit/test_rsa_ifma.c). Header-only.
 */
#ifndef MX_HS_PAIRS_H
#define MX_HS_PAIRS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "crypto/tls.h"

#define HS_PAIRS_MAX 8

/* One client and our server session over two memory BIOs. */
struct hs_pair {
	SSL *cli;
	BIO *to_cli, *from_cli;         /* the client's read and write BIOs */
	struct tls_conn *srv;
	int srv_done, cli_done, woken;
};

/* Server transport read: what the client wrote. */
static inline long hs_tr_read(void *arg, uint8_t *buf, size_t len)
{
	struct hs_pair *p = arg;
	int n = BIO_read(p->from_cli, buf, (int)len);

	return n > 0 ? n : -1;
}

/* Server transport write: to the client. */
static inline long hs_tr_write(void *arg, const uint8_t *buf, size_t len)
{
	struct hs_pair *p = arg;

	return BIO_write(p->to_cli, buf, (int)len);
}

/* done() of the worker (tls_worker_new(hs_key_done)): the session may go on. */
static inline void hs_key_done(void *arg)
{
	((struct hs_pair *)arg)->woken++;
}

/* This thread's CPU seconds. */
static inline double hs_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A self-signed certificate (CN cn) for key, and both in PEM (malloc'd). */
static inline void hs_self_signed(EVP_PKEY *key, const char *cn, char **chain,
				  size_t *chain_len, char **kpem, size_t *klen)
{
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());
	const uint8_t *d;
	size_t l;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const uint8_t *)cn, -1, -1, 0);
	X509_set_subject_name(x, nm);
	X509_set_issuer_name(x, nm);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha256());
	PEM_write_bio_X509(b1, x);
	PEM_write_bio_PrivateKey(b2, key, NULL, NULL, 0, NULL, NULL);
	BIO_mem_contents(b1, &d, &l);
	*chain = malloc(l);
	memcpy(*chain, d, l);
	*chain_len = l;
	BIO_mem_contents(b2, &d, &l);
	*kpem = malloc(l);
	memcpy(*kpem, d, l);
	*klen = l;
	BIO_free(b1);
	BIO_free(b2);
	X509_NAME_free(nm);
	X509_free(x);
}

/* Run stmt; with srv_s set, add the thread CPU time it took to *srv_s. */
#define HS_TIMED(srv_s, stmt) do {                                              \
		double hs_t0_ = (srv_s) != NULL ? hs_cpu_s() : 0;               \
		stmt;                                                           \
		if ((srv_s) != NULL)                                            \
			*(srv_s) += hs_cpu_s() - hs_t0_;                        \
	} while (0)

/* p's client over two memory BIOs, in connect state (p cleared first; no server yet). */
static inline void hs_pair_client(struct hs_pair *p, SSL_CTX *cctx)
{
	memset(p, 0, sizeof(*p));
	p->cli = SSL_new(cctx);
	p->to_cli = BIO_new(BIO_s_mem());
	p->from_cli = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(p->to_cli, -1);
	BIO_set_mem_eof_return(p->from_cli, -1);
	BIO_up_ref(p->to_cli);
	BIO_up_ref(p->from_cli);
	SSL_set_bio(p->cli, p->to_cli, p->from_cli);
	SSL_set_connect_state(p->cli);
}

/* Our server session for p's client. */
static inline struct tls_conn *hs_pair_server(struct hs_pair *p, struct tls_ctx *ctx, struct tls_worker *w)
{
	struct tls_transport tr = { .arg = p, .read = hs_tr_read, .write = hs_tr_write };

	return tls_conn_new(ctx, w, &tr, p);
}

/* Free p's server session (if any), its client and the BIOs. */
static inline void hs_pair_free(struct hs_pair *p)
{
	tls_conn_free(p->srv);
	p->srv = NULL;
	SSL_free(p->cli);
	BIO_free(p->to_cli);
	BIO_free(p->from_cli);
}

/*
 * n (<= HS_PAIRS_MAX) handshakes at once with clients of cctx; setup(cli,
 * i, arg), when not NULL, adjusts client i before its first flight. Each
 * round: every client and server session steps, then one
 * tls_worker_run() runs what the sessions queued (at most 20 rounds).
 * With srv_s set, the server's calls (tls_conn_new, tls_handshake,
 * tls_worker_run, tls_conn_free) are timed in this thread's CPU time and
 * added to *srv_s. Returns how many completed on both sides.
 */
static inline unsigned hs_round(SSL_CTX *cctx, struct tls_ctx *ctx, struct tls_worker *w,
				unsigned n, void (*setup)(SSL *cli, unsigned i, const void *arg),
				const void *arg, double *srv_s)
{
	struct hs_pair ps[HS_PAIRS_MAX];
	unsigned done = 0;

	if (n > HS_PAIRS_MAX)
		return 0;
	memset(ps, 0, sizeof(ps));
	for (unsigned i = 0; i < n; i++) {
		struct hs_pair *p = &ps[i];

		hs_pair_client(p, cctx);
		if (setup != NULL)
			setup(p->cli, i, arg);
		HS_TIMED(srv_s, p->srv = hs_pair_server(p, ctx, w));
	}
	for (unsigned round = 0; round < 20 && done < n; round++) {
		for (unsigned i = 0; i < n; i++) {
			struct hs_pair *p = &ps[i];

			if (!p->cli_done && SSL_do_handshake(p->cli) == 1)
				p->cli_done = 1;
			ERR_clear_error();
			HS_TIMED(srv_s, if (!p->srv_done && tls_handshake(p->srv) == TLS_DONE)
					p->srv_done = 1);
		}
		/* one poll round: everything queued now runs as one batch */
		HS_TIMED(srv_s, tls_worker_run(w, 64));
		done = 0;
		for (unsigned i = 0; i < n; i++)
			done += ps[i].cli_done && ps[i].srv_done;
	}
	for (unsigned i = 0; i < n; i++) {
		HS_TIMED(srv_s, tls_conn_free(ps[i].srv));
		ps[i].srv = NULL;
		hs_pair_free(&ps[i]);
	}
	return done;
}

#endif
