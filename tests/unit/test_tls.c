/*
 * test_tls.c - unit tests for crypto/tls.c, the BoringSSL server glue.
 *
 * The test builds its own PKI with BoringSSL's X509 API (a CA, an RSA-2048
 * server certificate for mx.lab.example, an ECDSA P-256 one for
 * other.example, client certificates: good, self-signed, revoked, and a
 * CRL) in a mkdtemp() directory removed at the end. A BoringSSL client SSL
 * talks to our tls_conn through two memory queues (the client's BIOs; our
 * side reads and writes them through the tls_transport callbacks), and
 * tls_worker_run() drives the private-key operations. Covered: TLS 1.3 and
 * 1.2 handshakes through the asynchronous key door (sign and RSA decrypt),
 * SNI, data both ways, sendmail's macros and DN quoting, client
 * certificates (NOT/NO/OK/FAIL, CRL; CA and CRL as PEM in memory; a session
 * that asks for none), OCSP stapling on request, ticket resumption across rotations
 * and explicit fleet keys, garbage, end of stream, a crafted client
 * renegotiation (refused), bad files, partial transport writes, and the
 * memory of an idle session (printed).
 *
 * Every test runs twice: first with the X25519 step of the door (a queued
 * key share before the signature) off, so that each handshake queues
 * exactly its private-key operations, then with it on, as mxgate runs
 * (SNI, client certificates, resumption, TLS 1.2 through the door). The
 * exact queue counts of worker_queue hold only for the first pass;
 * tests/unit/test_x25519_ifma.c tests the queue with the step on.
 *
 * Build: gcc -std=gnu11 -Wall -Wextra -Werror -O2 -g -I. -I/usr/include/android \
 *   crypto/tls.c tests/unit/test_tls.c -o build/test_tls \
 *   -L/usr/lib/x86_64-linux-gnu/android -Wl,-rpath,/usr/lib/x86_64-linux-gnu/android -lssl -lcrypto
 */
#define _GNU_SOURCE
#include "crypto/tls.h"
#include "crypto/x25519_ifma.h"
#include "tests/unit/t.h"

#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/aead.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CLIENT_CN "Bob+Co <lab>"

static char dir[64];
static char paths[24][128];
static unsigned npaths;

/* The lab PKI. */
static struct {
	EVP_PKEY *ca_key, *rsa_key, *ec_key, *cli_key, *self_key, *rev_key, *p521_key, *odd_key;
	X509 *ca, *rsa, *ec, *cli, *self, *rev, *p521, *nul, *lng, *utf8;
} pki;

/* ---- PKI generation ---- */

/* A fresh RSA-2048 key. */
static EVP_PKEY *key_rsa(void)
{
	RSA *r = RSA_new();
	BIGNUM *e = BN_new();
	EVP_PKEY *k = EVP_PKEY_new();

	BN_set_word(e, RSA_F4);
	RSA_generate_key_ex(r, 2048, e, NULL);
	BN_free(e);
	EVP_PKEY_assign_RSA(k, r);
	return k;
}

/* A fresh EC key on curve nid. */
static EVP_PKEY *key_ec(int nid)
{
	EC_KEY *ec = EC_KEY_new_by_curve_name(nid);
	EVP_PKEY *k = EVP_PKEY_new();

	EC_KEY_generate_key(ec);
	EVP_PKEY_assign_EC_KEY(k, ec);
	return k;
}

/* Add one X509v3 extension written in config syntax. */
static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, v3, nid, value);

	if (!ext) {
		fprintf(stderr, "extension %d=%s failed\n", nid, value);
		exit(2);
	}
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
}

/* A certificate for cn signed by iss (self-signed when iss is NULL). */
static X509 *mk_cert(const char *cn, EVP_PKEY *key, X509 *iss, EVP_PKEY *iss_key,
		     long serial, int ca, const char *san)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	X509V3_CTX v3;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30);
	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const uint8_t *)"XX", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const uint8_t *)"Lab", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const uint8_t *)cn,
				   strcmp(cn, "nul") ? -1 : 7, -1, 0);  /* "nul\0bad": NUL inside */
	X509_set_issuer_name(x, iss ? X509_get_subject_name(iss) : n);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, iss ? iss : x, x, NULL, NULL, 0);
	add_ext(x, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, &v3, NID_key_usage, ca ? "critical,keyCertSign,cRLSign"
				      : "critical,digitalSignature,keyEncipherment");
	add_ext(x, &v3, NID_subject_key_identifier, "hash");
	if (iss)
		add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
	if (san)
		add_ext(x, &v3, NID_subject_alt_name, san);
	X509_sign(x, iss_key ? iss_key : key, EVP_sha256());
	return x;
}

/* A path in the temp dir, remembered for clean-up. */
static const char *tpath(const char *name)
{
	char *p = paths[npaths++];

	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	return p;
}

/* Write certificates (a chain) to a PEM file. */
static const char *write_certs(const char *name, X509 *a, X509 *b)
{
	const char *p = tpath(name);
	FILE *fp = fopen(p, "w");

	PEM_write_X509(fp, a);
	if (b)
		PEM_write_X509(fp, b);
	fclose(fp);
	return p;
}

/* Write a private key to a PEM file. */
static const char *write_key(const char *name, EVP_PKEY *k)
{
	const char *p = tpath(name);
	FILE *fp = fopen(p, "w");

	PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	return p;
}

/* Write arbitrary text to a file. */
static const char *write_text(const char *name, const char *text)
{
	const char *p = tpath(name);
	FILE *fp = fopen(p, "w");

	fputs(text, fp);
	fclose(fp);
	return p;
}

/* A CRL from the CA revoking serial. */
static const char *write_crl(const char *name, long serial)
{
	X509_CRL *crl = X509_CRL_new();
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_INTEGER *s = ASN1_INTEGER_new();
	ASN1_TIME *t = ASN1_TIME_new();
	const char *p = tpath(name);
	FILE *fp;

	X509_CRL_set_version(crl, X509_CRL_VERSION_2);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(pki.ca));
	X509_gmtime_adj(t, -60);
	X509_CRL_set1_lastUpdate(crl, t);
	X509_REVOKED_set_revocationDate(r, t);
	X509_gmtime_adj(t, 86400);
	X509_CRL_set1_nextUpdate(crl, t);
	ASN1_INTEGER_set(s, serial);
	X509_REVOKED_set_serialNumber(r, s);
	X509_CRL_add0_revoked(crl, r);
	X509_CRL_sort(crl);
	X509_CRL_sign(crl, pki.ca_key, EVP_sha256());
	fp = fopen(p, "w");
	PEM_write_X509_CRL(fp, crl);
	fclose(fp);
	ASN1_INTEGER_free(s);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return p;
}

static const char *f_ca, *f_rsa_chain, *f_rsa_key, *f_ec_chain, *f_ec_key, *f_crl,
	*f_garbage, *f_p521_chain, *f_p521_key;

/* Build the PKI and write its files. */
static void pki_build(void)
{
	pki.ca_key = key_ec(NID_X9_62_prime256v1);
	pki.ca = mk_cert("Lab CA", pki.ca_key, NULL, NULL, 1, 1, NULL);
	pki.rsa_key = key_rsa();
	pki.rsa = mk_cert("mx.lab.example", pki.rsa_key, pki.ca, pki.ca_key, 2, 0,
			  "DNS:mx.lab.example");
	pki.ec_key = key_ec(NID_X9_62_prime256v1);
	pki.ec = mk_cert("other.example", pki.ec_key, pki.ca, pki.ca_key, 3, 0,
			 "DNS:other.example,DNS:*.other.example");
	pki.cli_key = key_ec(NID_X9_62_prime256v1);
	pki.cli = mk_cert(CLIENT_CN, pki.cli_key, pki.ca, pki.ca_key, 4, 0, NULL);
	pki.self_key = key_ec(NID_X9_62_prime256v1);
	pki.self = mk_cert("self.example", pki.self_key, NULL, NULL, 5, 0, NULL);
	pki.rev_key = key_ec(NID_X9_62_prime256v1);
	pki.rev = mk_cert("revoked.example", pki.rev_key, pki.ca, pki.ca_key, 6, 0, NULL);
	pki.p521_key = key_ec(NID_secp521r1);
	pki.p521 = mk_cert("p521.example", pki.p521_key, pki.ca, pki.ca_key, 7, 0, NULL);
	pki.odd_key = key_ec(NID_X9_62_prime256v1);
	pki.nul = mk_cert("nul\0bad", pki.odd_key, pki.ca, pki.ca_key, 8, 0, NULL);
	pki.lng = mk_cert("<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<",
			  pki.odd_key, pki.ca, pki.ca_key, 9, 0, NULL);
	pki.utf8 = mk_cert("J\xc3\xbcrgen (mail)", pki.odd_key, pki.ca, pki.ca_key, 10, 0, NULL);

	f_ca = write_certs("ca.pem", pki.ca, NULL);
	f_rsa_chain = write_certs("rsa_chain.pem", pki.rsa, pki.ca);
	f_rsa_key = write_key("rsa_key.pem", pki.rsa_key);
	f_ec_chain = write_certs("ec_chain.pem", pki.ec, pki.ca);
	f_ec_key = write_key("ec_key.pem", pki.ec_key);
	f_p521_chain = write_certs("p521_chain.pem", pki.p521, NULL);
	f_p521_key = write_key("p521_key.pem", pki.p521_key);
	f_crl = write_crl("crl.pem", 6);
	f_garbage = write_text("garbage.pem", "this is not PEM\n");
}

/* Free the PKI and remove the temp dir. */
static void pki_free(void)
{
	EVP_PKEY *k[] = { pki.ca_key, pki.rsa_key, pki.ec_key, pki.cli_key, pki.self_key,
			  pki.rev_key, pki.p521_key, pki.odd_key };
	X509 *x[] = { pki.ca, pki.rsa, pki.ec, pki.cli, pki.self, pki.rev, pki.p521,
		      pki.nul, pki.lng, pki.utf8 };

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		EVP_PKEY_free(k[i]);
	for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
		X509_free(x[i]);
	for (unsigned i = 0; i < npaths; i++)
		unlink(paths[i]);
	rmdir(dir);
}

/* ---- in-memory connection ---- */

/* Two byte queues: the client's BIOs, read and written by our transport. */
struct pipe {
	BIO *c2s, *s2c;
	int wmode;              /* 0 all, 1 one byte or nothing (alternating), 2 gone */
	unsigned wcalls;
	int eof;                /* client side closed: reads return 0 once drained */
};

/* Transport read: from the client-to-server queue. */
static long tr_read(void *arg, uint8_t *buf, size_t len)
{
	struct pipe *p = arg;

	if (!p->c2s || BIO_pending(p->c2s) == 0)
		return p->eof ? 0 : -1;
	return BIO_read(p->c2s, buf, (int)len);
}

/* Transport write: into the server-to-client queue, as wmode allows. */
static long tr_write(void *arg, const uint8_t *buf, size_t len)
{
	struct pipe *p = arg;

	p->wcalls++;
	if (p->wmode == 2 || !p->s2c)
		return -1;
	if (p->wmode == 1) {
		if (p->wcalls & 1)
			return 0;
		len = 1;
	}
	return BIO_write(p->s2c, buf, (int)len);
}

/* One client/server pair. */
struct sess {
	struct pipe p;
	SSL *cli;
	struct tls_conn *srv;
	struct tls_worker *w;
	int want_key, want_write, cli_done, srv_done, cli_err;
	enum tls_status st;
};

/* Client options. */
struct copt {
	const char *sni;
	int maxv;
	const char *ciphers;
	X509 *cert;
	EVP_PKEY *key;
	SSL_SESSION *sess;
};

static SSL_CTX *cli_ctx;
static SSL_SESSION *last_sess;
static int capture = 1;
static struct tls_worker *W;
static int done_calls;
static void *done_last;
static struct sess *free_in_done;       /* done() frees this session (batch test) */

/* Client session callback: keep the newest session. */
static int new_sess_cb(SSL *ssl, SSL_SESSION *s)
{
	(void)ssl;
	if (!capture)
		return 0;
	SSL_SESSION_free(last_sess);
	last_sess = s;
	return 1;
}

/* Take the captured session. */
static SSL_SESSION *take_sess(void)
{
	SSL_SESSION *s = last_sess;

	last_sess = NULL;
	return s;
}

/* Worker done callback. */
static void on_done(void *arg)
{
	done_calls++;
	done_last = arg;
	if (free_in_done && free_in_done != arg) {
		tls_conn_free(free_in_done->srv);
		free_in_done->srv = NULL;
		free_in_done = NULL;
	}
}

/* Set up a client SSL and our server session over fresh queues. */
static void sess_open(struct sess *s, struct tls_ctx *ctx, struct tls_worker *w,
		      const struct copt *o)
{
	struct tls_transport tr = { .arg = &s->p, .read = tr_read, .write = tr_write };
	static const struct copt none;

	if (!o)
		o = &none;
	memset(s, 0, sizeof(*s));
	s->p.c2s = BIO_new(BIO_s_mem());
	s->p.s2c = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(s->p.c2s, -1);
	BIO_set_mem_eof_return(s->p.s2c, -1);
	s->cli = SSL_new(cli_ctx);
	SSL_set_connect_state(s->cli);
	if (o->sni)
		SSL_set_tlsext_host_name(s->cli, o->sni);
	if (o->maxv)
		SSL_set_max_proto_version(s->cli, (uint16_t)o->maxv);
	if (o->ciphers)
		SSL_set_strict_cipher_list(s->cli, o->ciphers);
	if (o->cert) {
		SSL_use_certificate(s->cli, o->cert);
		SSL_use_PrivateKey(s->cli, o->key);
	}
	if (o->sess)
		SSL_set_session(s->cli, o->sess);
	BIO_up_ref(s->p.c2s);
	BIO_up_ref(s->p.s2c);
	SSL_set_bio(s->cli, s->p.s2c, s->p.c2s);
	s->w = w;
	s->srv = tls_conn_new(ctx, w, &tr, s);
}

/* Free both ends. */
static void sess_close(struct sess *s)
{
	tls_conn_free(s->srv);
	SSL_free(s->cli);
	BIO_free(s->p.c2s);
	BIO_free(s->p.s2c);
	s->srv = NULL;
	s->cli = NULL;
	s->p.c2s = s->p.s2c = NULL;
}

/* One step of the client's handshake. */
static void cli_step(struct sess *s)
{
	int r, e;

	if (s->cli_done || s->cli_err)
		return;
	r = SSL_do_handshake(s->cli);
	if (r == 1) {
		s->cli_done = 1;
		return;
	}
	e = SSL_get_error(s->cli, r);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		s->cli_err = 1;
	ERR_clear_error();
}

/* One step of our handshake; runs the worker when parked on a key. */
static void srv_step(struct sess *s)
{
	if (s->srv_done || s->st == TLS_ERROR || s->st == TLS_CLOSED)
		return;
	s->st = tls_handshake(s->srv);
	if (s->st == TLS_DONE)
		s->srv_done = 1;
	else if (s->st == TLS_WANT_KEY)
		s->want_key++;
	else if (s->st == TLS_WANT_WRITE)
		s->want_write++;
	if (s->st == TLS_WANT_KEY && s->w)
		tls_worker_run(s->w, 64);
}

/* Run both handshakes to the end; 0 when both completed. */
static int sess_handshake(struct sess *s)
{
	for (int i = 0; i < 2000; i++) {
		cli_step(s);
		srv_step(s);
		if (s->cli_done && s->srv_done)
			return 0;
		if (s->st == TLS_ERROR || s->st == TLS_CLOSED)
			return -1;
		if (s->cli_err) {
			srv_step(s);    /* let the server see the alert */
			return -1;
		}
	}
	return -1;
}

/* Client sends text, our side reads it back; 1 when it arrived intact. */
static int c2s_text(struct sess *s, const char *msg)
{
	uint8_t buf[256];
	size_t got = 0, len = strlen(msg);

	if (SSL_write(s->cli, msg, (int)len) != (int)len)
		return 0;
	while (got < len) {
		long n = tls_read(s->srv, buf + got, sizeof(buf) - got);

		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	return got == len && memcmp(buf, msg, len) == 0;
}

/* Our side sends text, the client reads it (and any tickets); 1 when intact. */
static int s2c_text(struct sess *s, const char *msg)
{
	char buf[256];
	size_t len = strlen(msg);
	int n;

	if (tls_write(s->srv, (const uint8_t *)msg, len) != (long)len)
		return 0;
	n = SSL_read(s->cli, buf, sizeof(buf));
	ERR_clear_error();
	return n == (int)len && memcmp(buf, msg, len) == 0;
}

/* The CN of the client's view of the server certificate. */
static const char *peer_cn(struct sess *s)
{
	static char cn[128];
	X509 *x = SSL_get_peer_certificate(s->cli);

	cn[0] = 0;
	if (x) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
		X509_free(x);
	}
	return cn;
}

/* A server configuration with the two server certificates. */
static struct tls_server_cfg base_cfg(void)
{
	struct tls_server_cfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.certs[0].chain_file = f_rsa_chain;
	cfg.certs[0].key_file = f_rsa_key;
	cfg.certs[0].sni[0] = "mx.lab.example";
	cfg.certs[1].chain_file = f_ec_chain;
	cfg.certs[1].key_file = f_ec_key;       /* names from the SANs */
	cfg.ncerts = 2;
	cfg.ticket_rotate_s = 3600;
	return cfg;
}

/* A context from cfg; aborts the test when it fails. */
static struct tls_ctx *ctx_or_die(const struct tls_server_cfg *cfg)
{
	char err[256];
	struct tls_ctx *ctx = tls_ctx_new(cfg, err, sizeof(err));

	if (!ctx) {
		fprintf(stderr, "tls_ctx_new: %s\n", err);
		exit(2);
	}
	return ctx;
}

/* ---- tests ---- */

/* TLS 1.3 with the RSA certificate through the key door; macros, data, KeyUpdate, close. */
TEST(tls13_rsa_async_key)
{
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx = ctx_or_die(&cfg);
	struct copt o = { .sni = "mx.lab.example" };
	struct tls_macros m;
	struct sess s;
	uint8_t buf[64];
	int calls = done_calls;
	int bits, alg;

	sess_open(&s, ctx, W, &o);
	tls_get_macros(s.srv, &m);
	CHECK_STR(m.verify, "NONE");
	CHECK_STR(m.version, "");
	CHECK_EQ(tls_handshake(s.srv), TLS_WANT_READ);     /* nothing from the client yet */
	CHECK_EQ(sess_handshake(&s), 0);
	CHECK(s.want_key > 0);
	CHECK(done_calls > calls);
	CHECK(done_last == &s);
	CHECK_EQ(tls_worker_pending(W), 0);
	CHECK_EQ(tls_resumed(s.srv), 0);
	CHECK_EQ(SSL_version(s.cli), TLS1_3_VERSION);
	CHECK_STR(peer_cn(&s), "mx.lab.example");
	CHECK_EQ(sk_CRYPTO_BUFFER_num(SSL_get0_peer_certificates(s.cli)), 2);

	tls_get_macros(s.srv, &m);
	CHECK_STR(m.version, "TLSv1.3");
	CHECK_STR(m.cipher, SSL_CIPHER_standard_name(SSL_get_current_cipher(s.cli)));
	CHECK(strncmp(m.cipher, "TLS_AES_", 8) == 0 || strncmp(m.cipher, "TLS_CHACHA20_", 13) == 0);
	bits = SSL_CIPHER_get_bits(SSL_get_current_cipher(s.cli), &alg);
	CHECK_EQ(m.cipher_bits, bits);
	CHECK_EQ(m.alg_bits, alg);
	CHECK(m.cipher_bits == 128 || m.cipher_bits == 256);
	CHECK_STR(m.verify, "NOT");
	CHECK_STR(m.cert_subject, "");
	CHECK_STR(m.cn_subject, "");

	/* data both ways; two records, a short read leaves the rest pending */
	CHECK(c2s_text(&s, "EHLO client.example\r\n"));
	CHECK(s2c_text(&s, "250-mx.lab.example\r\n250 STARTTLS\r\n"));
	SSL_write(s.cli, "MAIL FROM:<a@b>\r\n", 17);
	CHECK_EQ(tls_read(s.srv, buf, 4), 4);
	CHECK_EQ(tls_pending(s.srv), 13);
	CHECK_EQ(tls_read(s.srv, buf + 4, sizeof(buf) - 4), 13);
	CHECK(memcmp(buf, "MAIL FROM:<a@b>\r\n", 17) == 0);
	CHECK_EQ(tls_read(s.srv, buf, sizeof(buf)), -TLS_WANT_READ);

	/* TLS 1.3 KeyUpdate from the client is fine (not a renegotiation) */
	CHECK_EQ(SSL_key_update(s.cli, SSL_KEY_UPDATE_REQUESTED), 1);
	CHECK(c2s_text(&s, "RCPT TO:<c@d>\r\n"));
	CHECK(s2c_text(&s, "250 2.1.5 Ok\r\n"));

	/* close_notify from the client */
	SSL_shutdown(s.cli);
	CHECK_EQ(tls_read(s.srv, buf, sizeof(buf)), -TLS_CLOSED);
	sess_close(&s);

	/* no worker: key operations run inline, never TLS_WANT_KEY */
	sess_open(&s, ctx, NULL, &o);
	CHECK_EQ(sess_handshake(&s), 0);
	CHECK_EQ(s.want_key, 0);
	CHECK(c2s_text(&s, "QUIT\r\n"));
	tls_close_notify(s.srv);
	CHECK_EQ(SSL_read(s.cli, buf, sizeof(buf)), 0);    /* client sees close_notify */
	CHECK_EQ(SSL_get_error(s.cli, 0), SSL_ERROR_ZERO_RETURN);
	sess_close(&s);
	tls_ctx_free(ctx);
}

/* SNI picks the certificate: exact, case-insensitive, one-label wildcard, else certs[0]. */
TEST(sni_choice)
{
	static const struct { const char *sni; const char *cn; int ec; } t[] = {
		{ "mx.lab.example", "mx.lab.example", 0 },
		{ "MX.Lab.Example", "mx.lab.example", 0 },
		{ "other.example", "other.example", 1 },
		{ "smtp.other.example", "other.example", 1 },
		{ "a.b.other.example", "mx.lab.example", 0 },  /* wildcard covers one label */
		{ ".other.example", "mx.lab.example", 0 },
		{ "unknown.test", "mx.lab.example", 0 },
		{ NULL, "mx.lab.example", 0 },
	};
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx = ctx_or_die(&cfg);

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct copt o = { .sni = t[i].sni };
		struct sess s;
		X509 *x;

		sess_open(&s, ctx, W, &o);
		CHECK_EQ(sess_handshake(&s), 0);
		CHECK(s.want_key > 0);
		CHECK_STR(peer_cn(&s), t[i].cn);
		x = SSL_get_peer_certificate(s.cli);
		if (x) {
			EVP_PKEY *k = X509_get_pubkey(x);

			CHECK_EQ(EVP_PKEY_id(k), t[i].ec ? EVP_PKEY_EC : EVP_PKEY_RSA);
			EVP_PKEY_free(k);
			X509_free(x);
		}
		sess_close(&s);
	}
	tls_ctx_free(ctx);
}

/* TLS 1.2: ECDHE-RSA, ECDHE-ECDSA, RSA key exchange (decrypt); min_version 1.3 refuses 1.2. */
TEST(tls12)
{
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx = ctx_or_die(&cfg), *ctx13;
	struct tls_macros m;
	struct sess s;

	{       /* ECDHE-RSA: PSS or PKCS#1 signature through the worker */
		struct copt o = { .sni = "mx.lab.example", .maxv = TLS1_2_VERSION };

		sess_open(&s, ctx, W, &o);
		CHECK_EQ(sess_handshake(&s), 0);
		CHECK(s.want_key > 0);
		tls_get_macros(s.srv, &m);
		CHECK_STR(m.version, "TLSv1.2");
		/* TLS 1.2 suites by their OpenSSL names, as Postfix and sendmail log them */
		CHECK_STR(m.cipher, SSL_CIPHER_get_name(SSL_get_current_cipher(s.cli)));
		CHECK(strncmp(m.cipher, "ECDHE-RSA-", 10) == 0);
		CHECK(c2s_text(&s, "EHLO x\r\n"));
		CHECK(s2c_text(&s, "250 ok\r\n"));
		sess_close(&s);
	}
	{       /* ECDHE-ECDSA */
		struct copt o = { .sni = "other.example", .maxv = TLS1_2_VERSION };

		sess_open(&s, ctx, W, &o);
		CHECK_EQ(sess_handshake(&s), 0);
		CHECK(s.want_key > 0);
		tls_get_macros(s.srv, &m);
		CHECK(strncmp(m.cipher, "ECDHE-ECDSA-", 12) == 0);
		CHECK(c2s_text(&s, "EHLO x\r\n"));
		sess_close(&s);
	}
	{       /* plain RSA key exchange (not in the defaults; tls_ciphers can add it):
		   the decrypt operation */
		struct copt o = { .maxv = TLS1_2_VERSION,
				  .ciphers = "TLS_RSA_WITH_AES_128_GCM_SHA256" };
		struct tls_ctx *rsa_kx;

		cfg.ciphers = "ECDHE-RSA-AES128-GCM-SHA256:AES128-GCM-SHA256";
		rsa_kx = ctx_or_die(&cfg);
		cfg.ciphers = NULL;
		sess_open(&s, ctx, W, &o);
		CHECK_EQ(sess_handshake(&s), -1);       /* refused by the defaults */
		sess_close(&s);
		sess_open(&s, rsa_kx, W, &o);
		CHECK_EQ(sess_handshake(&s), 0);
		CHECK(s.want_key > 0);
		tls_get_macros(s.srv, &m);
		CHECK_STR(m.cipher, "AES128-GCM-SHA256");
		CHECK_EQ(m.cipher_bits, 128);
		CHECK_EQ(m.alg_bits, 128);
		CHECK(c2s_text(&s, "EHLO x\r\n"));
		CHECK(s2c_text(&s, "250 ok\r\n"));
		sess_close(&s);
		tls_ctx_free(rsa_kx);
	}
	tls_ctx_free(ctx);

	/* min_version TLS 1.3 refuses a TLS 1.2 client */
	cfg.min_version = 0x0304;
	ctx13 = ctx_or_die(&cfg);
	{
		struct copt o = { .maxv = TLS1_2_VERSION };

		sess_open(&s, ctx13, W, &o);
		CHECK_EQ(sess_handshake(&s), -1);
		CHECK_EQ(s.st, TLS_ERROR);
		CHECK(strlen(tls_error_reason(s.srv)) > 0);
		sess_close(&s);
	}
	{
		struct copt o = { 0 };

		sess_open(&s, ctx13, W, &o);
		CHECK_EQ(sess_handshake(&s), 0);
		tls_get_macros(s.srv, &m);
		CHECK_STR(m.version, "TLSv1.3");
		sess_close(&s);
	}
	tls_ctx_free(ctx13);
}

/* Handshake with a client certificate (or none) and return {verify} etc. */
static void client_cert_run(struct tls_ctx *ctx, X509 *cert, EVP_PKEY *key, int maxv,
			    struct tls_macros *m)
{
	struct copt o = { .cert = cert, .key = key, .maxv = maxv };
	struct sess s;

	sess_open(&s, ctx, W, &o);
	CHECK_EQ(sess_handshake(&s), 0);
	CHECK(c2s_text(&s, "EHLO x\r\n"));
	tls_get_macros(s.srv, m);
	sess_close(&s);
}

/* {verify} NOT/NO/OK/FAIL, CRL, quoted subject/issuer/CN, resumed sessions keep the result. */
TEST(client_certs)
{
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx, *nocrl, *noreq;
	struct tls_macros m;

	cfg.request_client_cert = 1;
	cfg.ca_file = f_ca;
	cfg.crl_file = f_crl;
	cfg.ticket_rotate_s = 0;
	ctx = ctx_or_die(&cfg);

	client_cert_run(ctx, NULL, NULL, 0, &m);
	CHECK_STR(m.verify, "NO");
	CHECK_STR(m.cert_subject, "");

	client_cert_run(ctx, pki.cli, pki.cli_key, 0, &m);
	CHECK_STR(m.verify, "OK");
	CHECK_STR(m.cert_subject, "/C=XX/O=Lab/CN=Bob+2BCo+20+3Clab+3E");
	CHECK_STR(m.cn_subject, "Bob+2BCo+20+3Clab+3E");
	CHECK_STR(m.cert_issuer, "/C=XX/O=Lab/CN=Lab+20CA");
	CHECK_STR(m.cn_issuer, "Lab+20CA");

	client_cert_run(ctx, pki.cli, pki.cli_key, TLS1_2_VERSION, &m);
	CHECK_STR(m.version, "TLSv1.2");
	CHECK_STR(m.verify, "OK");

	client_cert_run(ctx, pki.self, pki.self_key, 0, &m);
	CHECK_STR(m.verify, "FAIL");
	CHECK_STR(m.cn_subject, "self.example");
	CHECK_STR(m.cert_issuer, "/C=XX/O=Lab/CN=self.example");

	client_cert_run(ctx, pki.rev, pki.rev_key, 0, &m);
	CHECK_STR(m.verify, "FAIL");
	CHECK_STR(m.cn_subject, "revoked.example");

	/* CNs sendmail replaces, and a UTF-8 CN */
	client_cert_run(ctx, pki.nul, pki.odd_key, 0, &m);
	CHECK_STR(m.verify, "OK");
	CHECK_STR(m.cn_subject, "BadCertificateContainsNUL");
	client_cert_run(ctx, pki.lng, pki.odd_key, 0, &m);
	CHECK_STR(m.cn_subject, "BadCertificateTooLong");
	CHECK(strncmp(m.cert_subject, "/C=XX/O=Lab/CN=+3C+3C+3C", 24) == 0);
	client_cert_run(ctx, pki.utf8, pki.odd_key, 0, &m);
	CHECK_STR(m.cn_subject, "J+C3+BCrgen+20+28mail+29");
	CHECK_STR(m.cert_subject, "/C=XX/O=Lab/CN=J\\xC3\\xBCrgen+20+28mail+29");
	tls_ctx_free(ctx);

	/* a resumed session keeps the client certificate and its result */
	cfg.ticket_rotate_s = 3600;
	ctx = ctx_or_die(&cfg);
	{
		struct copt o = { .cert = pki.cli, .key = pki.cli_key };
		struct sess s;

		SSL_SESSION_free(take_sess());
		sess_open(&s, ctx, W, &o);
		CHECK_EQ(sess_handshake(&s), 0);
		CHECK(c2s_text(&s, "EHLO x\r\n"));
		CHECK(s2c_text(&s, "250 ok\r\n"));   /* the client reads its ticket */
		sess_close(&s);
		o.sess = take_sess();
		CHECK(o.sess != NULL);
		sess_open(&s, ctx, W, &o);
		CHECK_EQ(sess_handshake(&s), 0);
		CHECK_EQ(tls_resumed(s.srv), 1);
		tls_get_macros(s.srv, &m);
		CHECK_STR(m.verify, "OK");
		CHECK_STR(m.cn_subject, "Bob+2BCo+20+3Clab+3E");
		sess_close(&s);
		SSL_SESSION_free(o.sess);
		SSL_SESSION_free(take_sess());
	}
	cfg.ticket_rotate_s = 0;
	tls_ctx_free(ctx);

	/* without the CRL the revoked certificate verifies */
	cfg.crl_file = NULL;
	nocrl = ctx_or_die(&cfg);
	client_cert_run(nocrl, pki.rev, pki.rev_key, 0, &m);
	CHECK_STR(m.verify, "OK");
	client_cert_run(nocrl, pki.self, pki.self_key, TLS1_2_VERSION, &m);
	CHECK_STR(m.verify, "FAIL");
	tls_ctx_free(nocrl);

	/* not requested: the client sends nothing */
	cfg.request_client_cert = 0;
	noreq = ctx_or_die(&cfg);
	client_cert_run(noreq, pki.cli, pki.cli_key, 0, &m);
	CHECK_STR(m.verify, "NOT");
	CHECK_STR(m.cert_subject, "");
	tls_ctx_free(noreq);
}

/* A whole file into malloc'd memory (NUL-terminated); *len its size. */
static char *file_text(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = malloc(1 << 16);
	size_t n = fp && buf ? fread(buf, 1, (1 << 16) - 1, fp) : 0;

	if (fp)
		fclose(fp);
	if (buf)
		buf[n] = 0;
	*len = n;
	return buf;
}

/* Client certificate callback: counts CertificateRequests, notes the first CA name offered. */
static int cert_requests;
static char cert_request_ca[128];
static int count_cert_cb(SSL *ssl, void *arg)
{
	STACK_OF(X509_NAME) *names = SSL_get_client_CA_list(ssl);

	(void)arg;
	cert_requests++;
	cert_request_ca[0] = 0;
	if (names && sk_X509_NAME_num(names) > 0)
		X509_NAME_get_text_by_NID(sk_X509_NAME_value(names, 0), NID_commonName,
					  cert_request_ca, sizeof(cert_request_ca));
	return 1;
}

/*
 * One session whose client offers o's certificate when asked (counted in
 * cert_requests); per (if set) is applied to the server's side first. The
 * server's macros after the EHLO go to m.
 */
static void cert_session(struct tls_ctx *ctx, const struct copt *o, void (*per)(struct tls_conn *),
			 struct tls_macros *m)
{
	struct sess s;

	cert_requests = 0;
	sess_open(&s, ctx, W, o);
	SSL_set_cert_cb(s.cli, count_cert_cb, NULL);
	if (per != NULL)
		per(s.srv);
	CHECK_EQ(sess_handshake(&s), 0);
	CHECK(c2s_text(&s, "EHLO x\r\n"));
	tls_get_macros(s.srv, m);
	sess_close(&s);
}

/* CA and CRL as PEM in memory: they replace the files; bad ones are refused with a reason. */
TEST(ca_crl_from_memory)
{
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx;
	struct tls_macros m;
	size_t calen, crllen, selflen;
	char *ca = file_text(f_ca, &calen), *crl = file_text(f_crl, &crllen), err[256];
	EVP_PKEY *oca_key = key_ec(NID_X9_62_prime256v1), *ocli_key = key_ec(NID_X9_62_prime256v1);
	X509 *oca = mk_cert("Other CA", oca_key, NULL, NULL, 100, 1, NULL);
	X509 *ocli = mk_cert("other-client", ocli_key, oca, oca_key, 101, 0, NULL);
	char *other = file_text(write_certs("other_ca.pem", oca, NULL), &selflen);

	cfg.request_client_cert = 1;
	cfg.ticket_rotate_s = 0;
	cfg.ca_pem = ca;
	cfg.ca_pem_len = calen;
	cfg.crl_pem = crl;
	cfg.crl_pem_len = crllen;
	ctx = ctx_or_die(&cfg);
	client_cert_run(ctx, pki.cli, pki.cli_key, 0, &m);
	CHECK_STR(m.verify, "OK");
	client_cert_run(ctx, pki.rev, pki.rev_key, 0, &m);
	CHECK_STR(m.verify, "FAIL");
	client_cert_run(ctx, pki.self, pki.self_key, TLS1_2_VERSION, &m);
	CHECK_STR(m.verify, "FAIL");
	tls_ctx_free(ctx);

	/* the CA list offered in the CertificateRequest comes from the PEM too */
	{
		struct copt o = { .cert = pki.cli, .key = pki.cli_key };
		struct sess s;

		ctx = ctx_or_die(&cfg);
		cert_requests = 0;
		sess_open(&s, ctx, W, &o);
		SSL_set_cert_cb(s.cli, count_cert_cb, NULL);
		CHECK_EQ(sess_handshake(&s), 0);
		CHECK_EQ(cert_requests, 1);
		CHECK_STR(cert_request_ca, "Lab CA");
		sess_close(&s);
		tls_ctx_free(ctx);
	}

	/* memory replaces the files: another trust anchor */
	cfg.ca_file = f_ca;
	cfg.ca_pem = other;
	cfg.ca_pem_len = selflen;
	cfg.crl_pem = NULL;
	ctx = ctx_or_die(&cfg);
	client_cert_run(ctx, pki.cli, pki.cli_key, 0, &m);
	CHECK_STR(m.verify, "FAIL");
	client_cert_run(ctx, ocli, ocli_key, 0, &m);
	CHECK_STR(m.verify, "OK");
	tls_ctx_free(ctx);
	/* the CRL file still applies and checks every chain: Other CA has none there */
	cfg.crl_file = f_crl;
	ctx = ctx_or_die(&cfg);
	client_cert_run(ctx, ocli, ocli_key, 0, &m);
	CHECK_STR(m.verify, "FAIL");
	tls_ctx_free(ctx);
	/* the files alone: as before (the file CRL revokes) */
	cfg.ca_pem = NULL;
	ctx = ctx_or_die(&cfg);
	client_cert_run(ctx, pki.rev, pki.rev_key, 0, &m);
	CHECK_STR(m.verify, "FAIL");
	client_cert_run(ctx, ocli, ocli_key, 0, &m);
	CHECK_STR(m.verify, "FAIL");
	tls_ctx_free(ctx);
	/* a CRL from memory replaces the file's: the CA's CRL revoking another serial */
	{
		char *crl9 = file_text(write_crl("crl9.pem", 9), &crllen);

		cfg.crl_pem = crl9;
		cfg.crl_pem_len = crllen;
		ctx = ctx_or_die(&cfg);
		client_cert_run(ctx, pki.rev, pki.rev_key, 0, &m);
		CHECK_STR(m.verify, "OK");
		tls_ctx_free(ctx);
		cfg.crl_pem = NULL;
		free(crl9);
		crllen = strlen(crl);
	}

	/* bad PEM: refused, saying where from */
	cfg.ca_pem = "garbage\n";
	cfg.ca_pem_len = 8;
	CHECK(tls_ctx_new(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "CA certificates from the control plane: no PEM certificate") != NULL);
	cfg.ca_pem = ca;
	cfg.ca_pem_len = calen;
	cfg.crl_pem = ca;               /* certificates, not a CRL */
	cfg.crl_pem_len = calen;
	CHECK(tls_ctx_new(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "cannot read CRL from the control plane: no PEM CRL") != NULL);
	cfg.crl_pem = crl;
	cfg.crl_pem_len = 0;
	CHECK(tls_ctx_new(&cfg, err, sizeof(err)) == NULL);
	free(ca);
	free(crl);
	free(other);
	X509_free(oca);
	X509_free(ocli);
	EVP_PKEY_free(oca_key);
	EVP_PKEY_free(ocli_key);
}

/* Handshake asking (or not) for the certificate status; the stapled bytes, or NULL. */
static int ocsp_run(struct tls_ctx *ctx, const char *sni, int ask, int maxv, uint8_t *out, size_t *len)
{
	struct copt o = { .sni = sni, .maxv = maxv };
	const uint8_t *p = NULL;
	struct sess s;
	int r;

	sess_open(&s, ctx, W, &o);
	if (ask)
		SSL_enable_ocsp_stapling(s.cli);
	r = sess_handshake(&s);
	CHECK_EQ(r, 0);
	*len = 0;
	SSL_get0_ocsp_response(s.cli, &p, len);
	if (p && *len <= 256)
		memcpy(out, p, *len);
	sess_close(&s);
	return r == 0 && p != NULL && *len > 0;
}

/*
 * A lone certificate lives on the context: every name gets it, with its
 * own signature algorithms, in TLS 1.3 and 1.2, through the door and
 * without it; a context of two still picks by name.
 */
TEST(lone_certificate)
{
	static const struct { const char *cn; int ec; } t[] = {
		{ "mx.lab.example", 0 },        /* RSA: base_cfg()'s certs[0] */
		{ NULL, 1 },                    /* EC: base_cfg()'s certs[1] */
	};

	for (unsigned i = 0; i < 2; i++) {
		struct tls_server_cfg cfg = base_cfg();
		const char *names[] = { "mx.lab.example", "other.example", NULL };
		struct tls_ctx *ctx;
		char cn[128];

		if (t[i].ec)
			cfg.certs[0] = cfg.certs[1];
		cfg.ncerts = 1;
		ctx = ctx_or_die(&cfg);
		cn[0] = 0;
		for (unsigned n = 0; n < 3; n++)
			for (int v = 0; v < 2; v++)
				for (int door = 0; door < 2; door++) {
					struct copt o = { .sni = names[n], .maxv = v ? TLS1_2_VERSION : 0 };
					struct sess s;
					uint16_t sig;

					sess_open(&s, ctx, door ? W : NULL, &o);
					CHECK_EQ(sess_handshake(&s), 0);
					if (!cn[0])
						snprintf(cn, sizeof(cn), "%s", peer_cn(&s));
					CHECK_STR(peer_cn(&s), cn);     /* the same one for every name */
					sig = SSL_get_peer_signature_algorithm(s.cli);
					CHECK(t[i].ec ? sig == SSL_SIGN_ECDSA_SECP256R1_SHA256
						      : (sig == SSL_SIGN_RSA_PSS_RSAE_SHA256 ||
							 sig == SSL_SIGN_RSA_PKCS1_SHA256));
					CHECK(c2s_text(&s, "EHLO a\r\n"));
					CHECK(s2c_text(&s, "250 b\r\n"));
					sess_close(&s);
				}
		if (t[i].cn)
			CHECK_STR(cn, t[i].cn);
		tls_ctx_free(ctx);
	}
}

/*
 * An error some other call left in the thread's queue does not turn a
 * handshake, a read that waits, or a write into a TLS error: the calls
 * that feed SSL_get_error() must start from an empty queue (BoringSSL's
 * SSL_do_handshake, SSL_read and SSL_write clear it; tls.c no longer does).
 */
TEST(stale_error_queue)
{
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx = ctx_or_die(&cfg);
	struct copt o = { .sni = "mx.lab.example" };
	uint8_t buf[64];
	struct sess s;

	sess_open(&s, ctx, W, &o);
	OPENSSL_PUT_ERROR(SSL, ERR_R_INTERNAL_ERROR);
	CHECK_EQ(tls_handshake(s.srv), TLS_WANT_READ);
	CHECK_EQ(sess_handshake(&s), 0);
	OPENSSL_PUT_ERROR(SSL, ERR_R_INTERNAL_ERROR);
	CHECK_EQ(tls_read(s.srv, buf, sizeof(buf)), -TLS_WANT_READ);
	OPENSSL_PUT_ERROR(SSL, ERR_R_INTERNAL_ERROR);
	CHECK(s2c_text(&s, "220 ok\r\n"));
	OPENSSL_PUT_ERROR(SSL, ERR_R_INTERNAL_ERROR);
	CHECK(c2s_text(&s, "QUIT\r\n"));
	sess_close(&s);
	tls_ctx_free(ctx);
	ERR_clear_error();
}

/* An OCSP response per certificate, stapled only when the client asks (status_request). */
TEST(ocsp_staple)
{
	static const uint8_t resp[] = { 0x30, 0x06, 0x0a, 0x01, 0x00, 0xa0, 0x01, 0x00 };
	static const uint8_t trailing[] = { 0x30, 0x00, 0x00 };
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx;
	uint8_t got[256], *big;
	size_t len;
	char err[256];

	cfg.certs[0].ocsp = resp;
	cfg.certs[0].ocsp_len = sizeof(resp);
	ctx = ctx_or_die(&cfg);
	CHECK(ocsp_run(ctx, "mx.lab.example", 1, 0, got, &len));
	CHECK(len == sizeof(resp) && memcmp(got, resp, len) == 0);
	CHECK(ocsp_run(ctx, "mx.lab.example", 1, TLS1_2_VERSION, got, &len));
	CHECK(len == sizeof(resp) && memcmp(got, resp, len) == 0);
	CHECK(!ocsp_run(ctx, "mx.lab.example", 0, 0, got, &len));      /* not asked: none */
	CHECK(!ocsp_run(ctx, "mx.lab.example", 0, TLS1_2_VERSION, got, &len));
	CHECK(!ocsp_run(ctx, "other.example", 1, 0, got, &len));        /* that one has none */
	CHECK(ocsp_run(ctx, "unknown.example", 1, 0, got, &len));       /* the default has */
	tls_ctx_free(ctx);

	/*
	 * a lone certificate is set on the context once (select_cert_cb sets
	 * none): its staple still goes only to those who ask, whatever the
	 * name; a lone one without a response staples nothing
	 */
	cfg.ncerts = 1;
	ctx = ctx_or_die(&cfg);
	CHECK(ocsp_run(ctx, "unknown.example", 1, 0, got, &len));
	CHECK(len == sizeof(resp) && memcmp(got, resp, len) == 0);
	CHECK(ocsp_run(ctx, NULL, 1, TLS1_2_VERSION, got, &len));
	CHECK(len == sizeof(resp) && memcmp(got, resp, len) == 0);
	CHECK(!ocsp_run(ctx, "mx.lab.example", 0, 0, got, &len));
	tls_ctx_free(ctx);
	cfg.certs[0] = cfg.certs[1];    /* the EC certificate alone, no response */
	ctx = ctx_or_die(&cfg);
	CHECK(!ocsp_run(ctx, "mx.lab.example", 1, 0, got, &len));
	CHECK(!ocsp_run(ctx, "mx.lab.example", 1, TLS1_2_VERSION, got, &len));
	tls_ctx_free(ctx);
	cfg = base_cfg();
	cfg.certs[0].ocsp = resp;

	/* refused: empty, trailing bytes, not DER, too large */
	cfg.certs[0].ocsp_len = 0;
	CHECK(tls_ctx_new(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "OCSP response of 0 bytes") != NULL);
	cfg.certs[0].ocsp = trailing;
	cfg.certs[0].ocsp_len = sizeof(trailing);
	CHECK(tls_ctx_new(&cfg, err, sizeof(err)) == NULL);
	cfg.certs[0].ocsp = (const uint8_t *)"hello";
	cfg.certs[0].ocsp_len = 5;
	CHECK(tls_ctx_new(&cfg, err, sizeof(err)) == NULL);
	big = calloc(1, TLS_OCSP_MAX + 8);
	big[0] = 0x30;
	big[1] = 0x83;
	big[2] = (uint8_t)((TLS_OCSP_MAX + 1) >> 16);
	big[3] = (uint8_t)((TLS_OCSP_MAX + 1) >> 8);
	big[4] = (uint8_t)(TLS_OCSP_MAX + 1);
	cfg.certs[0].ocsp = big;
	cfg.certs[0].ocsp_len = TLS_OCSP_MAX + 6;
	CHECK(tls_ctx_new(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "certificate") != NULL && strstr(err, "OCSP") != NULL);
	/* exactly at the bound: taken */
	big[1] = 0x82;
	big[2] = (uint8_t)((TLS_OCSP_MAX - 4) >> 8);
	big[3] = (uint8_t)(TLS_OCSP_MAX - 4);
	cfg.certs[0].ocsp_len = TLS_OCSP_MAX;
	ctx = tls_ctx_new(&cfg, err, sizeof(err));
	CHECK(ctx != NULL);
	tls_ctx_free(ctx);
	free(big);
}

/* ncerts 0 + certs_from: the certificates (and their staples) of a context, a new CA. */
TEST(certs_from_context)
{
	static const uint8_t resp[] = { 0x30, 0x03, 0x0a, 0x01, 0x00 };
	struct tls_server_cfg cfg = base_cfg(), cfg2;
	struct tls_ctx *a, *b;
	struct tls_macros m;
	uint8_t got[256];
	size_t len, calen;
	char *ca = file_text(f_ca, &calen), err[256];
	struct sess s;
	struct copt o = { .sni = "www.other.example" };

	cfg.certs[1].ocsp = resp;
	cfg.certs[1].ocsp_len = sizeof(resp);
	a = ctx_or_die(&cfg);
	memset(&cfg2, 0, sizeof(cfg2));
	cfg2.request_client_cert = 1;
	cfg2.ca_pem = ca;
	cfg2.ca_pem_len = calen;
	CHECK(tls_ctx_new(&cfg2, err, sizeof(err)) == NULL);    /* no certificates at all */
	cfg2.certs_from = a;
	b = ctx_or_die(&cfg2);
	tls_ctx_free(a);                /* b holds its own references */
	client_cert_run(b, pki.cli, pki.cli_key, 0, &m);
	CHECK_STR(m.verify, "OK");
	sess_open(&s, b, W, &o);
	CHECK_EQ(sess_handshake(&s), 0);
	CHECK_STR(peer_cn(&s), "other.example");
	sess_close(&s);
	CHECK(ocsp_run(b, "other.example", 1, 0, got, &len));
	CHECK(len == sizeof(resp) && memcmp(got, resp, len) == 0);
	CHECK(!ocsp_run(b, "mx.lab.example", 1, 0, got, &len));
	tls_ctx_free(b);
	free(ca);
}

/* tls_conn_no_client_cert: that session sends no CertificateRequest, {verify} NOT. */
TEST(no_client_cert_per_session)
{
	struct tls_server_cfg cfg = base_cfg();
	struct copt o = { .cert = pki.cli, .key = pki.cli_key };
	struct tls_macros m;
	struct tls_ctx *ctx;
	struct sess s;

	cfg.request_client_cert = 1;
	cfg.ca_file = f_ca;
	ctx = ctx_or_die(&cfg);
	for (int v = 0; v < 2; v++) {
		o.maxv = v ? TLS1_2_VERSION : 0;
		/* the context asks: the client is asked and its certificate verifies */
		cert_session(ctx, &o, NULL, &m);
		CHECK_EQ(cert_requests, 1);
		CHECK_STR(m.verify, "OK");
		/* this session does not ask */
		cert_session(ctx, &o, tls_conn_no_client_cert, &m);
		CHECK_EQ(cert_requests, 0);
		CHECK_STR(m.verify, "NOT");
		CHECK_STR(m.cert_subject, "");
		CHECK_STR(m.cn_subject, "");
	}
	/* a ticket from a session with a certificate, resumed by one that does not ask: NOT */
	SSL_SESSION_free(take_sess());
	o.maxv = 0;
	sess_open(&s, ctx, W, &o);
	CHECK_EQ(sess_handshake(&s), 0);
	CHECK(c2s_text(&s, "EHLO x\r\n"));
	CHECK(s2c_text(&s, "250 ok\r\n"));
	sess_close(&s);
	o.sess = take_sess();
	CHECK(o.sess != NULL);
	sess_open(&s, ctx, W, &o);
	tls_conn_no_client_cert(s.srv);
	CHECK_EQ(sess_handshake(&s), 0);
	tls_get_macros(s.srv, &m);
	CHECK_STR(m.verify, "NOT");
	CHECK_STR(m.cert_subject, "");
	sess_close(&s);
	SSL_SESSION_free(o.sess);
	SSL_SESSION_free(take_sess());
	tls_ctx_free(ctx);
}

/* A context that does not ask; one session that does (Srv_Features v). */
TEST(ask_client_cert_per_session)
{
	struct tls_server_cfg cfg = base_cfg();
	struct copt o = { .cert = pki.cli, .key = pki.cli_key };
	struct tls_macros m;
	struct tls_ctx *ctx;

	cfg.request_client_cert = 0;
	cfg.ca_file = f_ca;             /* trust anchors loaded although not asking */
	ctx = ctx_or_die(&cfg);
	for (int v = 0; v < 2; v++) {
		o.maxv = v ? TLS1_2_VERSION : 0;
		cert_session(ctx, &o, NULL, &m);
		CHECK_EQ(cert_requests, 0);
		CHECK_STR(m.verify, "NOT");
		cert_session(ctx, &o, tls_conn_ask_client_cert, &m);
		CHECK_EQ(cert_requests, 1);
		CHECK_STR(m.verify, "OK");
		CHECK(m.cert_subject[0] != '\0');
	}
	/* asked, no certificate shown: NO */
	o.cert = NULL;
	o.key = NULL;
	o.maxv = 0;
	cert_session(ctx, &o, tls_conn_ask_client_cert, &m);
	CHECK_EQ(cert_requests, 1);
	CHECK_STR(m.verify, "NO");
	SSL_SESSION_free(take_sess());
	tls_ctx_free(ctx);
}

/* A connection that presents sess (may be NULL); returns tls_resumed() or -1. */
static int resume_run(struct tls_ctx *ctx, SSL_SESSION *sess, int maxv)
{
	struct copt o = { .sess = sess, .maxv = maxv, .sni = "mx.lab.example" };
	struct sess s;
	int r = -1;
	uint64_t signed0 = tls_worker_stats(W)->key_batch_ops;

	sess_open(&s, ctx, W, &o);
	if (sess_handshake(&s) == 0 && c2s_text(&s, "EHLO x\r\n") && s2c_text(&s, "250 ok\r\n")) {
		r = tls_resumed(s.srv);
		CHECK_EQ(r, SSL_session_reused(s.cli));
		if (r)
			CHECK_EQ(tls_worker_stats(W)->key_batch_ops, signed0);  /* resumption signs nothing */
	}
	sess_close(&s);
	return r;
}

/* Ticket resumption across rotations, TLS 1.2 tickets, explicit fleet keys, tickets off. */
TEST(tickets)
{
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx = ctx_or_die(&cfg), *ctx2, *off;
	uint8_t ka[TLS_TICKET_KEY_LEN], kb[TLS_TICKET_KEY_LEN];
	SSL_SESSION *s1, *sa, *s12;

	SSL_SESSION_free(take_sess());
	CHECK_EQ(resume_run(ctx, NULL, 0), 0);
	s1 = take_sess();
	CHECK(s1 != NULL);
	CHECK_EQ(resume_run(ctx, s1, 0), 1);
	SSL_SESSION_free(take_sess());
	tls_ctx_rotate_tickets(ctx);
	CHECK_EQ(resume_run(ctx, s1, 0), 1);    /* previous key still opens it */
	SSL_SESSION_free(take_sess());
	tls_ctx_rotate_tickets(ctx);
	CHECK_EQ(resume_run(ctx, s1, 0), 0);    /* two rotations: full handshake */
	SSL_SESSION_free(take_sess());
	SSL_SESSION_free(s1);

	/* TLS 1.2 tickets */
	CHECK_EQ(resume_run(ctx, NULL, TLS1_2_VERSION), 0);
	s12 = take_sess();
	CHECK(s12 != NULL);
	CHECK_EQ(resume_run(ctx, s12, TLS1_2_VERSION), 1);
	SSL_SESSION_free(take_sess());
	SSL_SESSION_free(s12);

	/* explicit keys: shared by two contexts (a fleet), then rotated by hand */
	memset(ka, 'A', sizeof(ka));
	memset(kb, 'B', sizeof(kb));
	ctx2 = ctx_or_die(&cfg);
	CHECK_EQ(tls_ctx_set_ticket_keys(ctx, ka, NULL), 0);
	CHECK_EQ(tls_ctx_set_ticket_keys(ctx2, ka, NULL), 0);
	CHECK_EQ(tls_ctx_set_ticket_keys(ctx2, NULL, NULL), -1);
	CHECK_EQ(resume_run(ctx, NULL, 0), 0);
	sa = take_sess();
	CHECK(sa != NULL);
	CHECK_EQ(resume_run(ctx2, sa, 0), 1);
	SSL_SESSION_free(take_sess());
	CHECK_EQ(tls_ctx_set_ticket_keys(ctx, kb, ka), 0);
	CHECK_EQ(resume_run(ctx, sa, 0), 1);
	SSL_SESSION_free(take_sess());
	CHECK_EQ(tls_ctx_set_ticket_keys(ctx, kb, NULL), 0);
	CHECK_EQ(resume_run(ctx, sa, 0), 0);
	SSL_SESSION_free(take_sess());
	SSL_SESSION_free(sa);
	tls_ctx_free(ctx2);
	tls_ctx_free(ctx);

	/* tickets off: TLS 1.3 issues none, nothing resumes */
	cfg.ticket_rotate_s = 0;
	off = ctx_or_die(&cfg);
	CHECK_EQ(tls_ctx_set_ticket_keys(off, ka, NULL), -1);
	CHECK_EQ(resume_run(off, NULL, 0), 0);
	CHECK(last_sess == NULL);
	CHECK_EQ(resume_run(off, NULL, TLS1_2_VERSION), 0);
	s12 = take_sess();
	if (s12)
		CHECK_EQ(resume_run(off, s12, TLS1_2_VERSION), 0);
	SSL_SESSION_free(take_sess());
	SSL_SESSION_free(s12);
	tls_ctx_free(off);
}

/* Garbage, forged records, end of stream and a gone transport. */
TEST(garbage_and_eof)
{
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx = ctx_or_die(&cfg);
	static const char http[] = "GET / HTTP/1.1\r\nHost: mx\r\n\r\n";
	static const uint8_t badrec[] = { 0x16, 0x03, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o' };
	uint8_t junk[5 + 32] = { 0x17, 0x03, 0x03, 0x00, 0x20 };
	uint8_t buf[64];
	struct sess s;

	sess_open(&s, ctx, W, NULL);
	BIO_write(s.p.c2s, http, sizeof(http) - 1);
	CHECK_EQ(tls_handshake(s.srv), TLS_ERROR);
	CHECK(strlen(tls_error_reason(s.srv)) > 0);
	sess_close(&s);

	sess_open(&s, ctx, W, NULL);
	BIO_write(s.p.c2s, badrec, sizeof(badrec));
	CHECK_EQ(tls_handshake(s.srv), TLS_ERROR);
	sess_close(&s);

	/* a forged application-data record after the handshake */
	sess_open(&s, ctx, W, NULL);
	CHECK_EQ(sess_handshake(&s), 0);
	memset(junk + 5, 0x5a, 32);
	BIO_write(s.p.c2s, junk, sizeof(junk));
	CHECK_EQ(tls_read(s.srv, buf, sizeof(buf)), -TLS_ERROR);
	CHECK(strlen(tls_error_reason(s.srv)) > 0);
	sess_close(&s);

	/* end of stream before and in the middle of the handshake */
	sess_open(&s, ctx, W, NULL);
	s.p.eof = 1;
	CHECK_EQ(tls_handshake(s.srv), TLS_CLOSED);
	sess_close(&s);

	sess_open(&s, ctx, W, NULL);
	cli_step(&s);                           /* ClientHello */
	BIO_reset(s.p.c2s);
	BIO_write(s.p.c2s, "\x16\x03\x01\x00\x40", 5);     /* a cut record */
	s.p.eof = 1;
	CHECK_EQ(tls_handshake(s.srv), TLS_CLOSED);
	sess_close(&s);

	/* end of stream without close_notify after the handshake */
	sess_open(&s, ctx, W, NULL);
	CHECK_EQ(sess_handshake(&s), 0);
	s.p.eof = 1;
	CHECK_EQ(tls_read(s.srv, buf, sizeof(buf)), -TLS_CLOSED);
	sess_close(&s);

	/* the transport is gone */
	sess_open(&s, ctx, W, NULL);
	s.p.wmode = 2;
	CHECK_EQ(sess_handshake(&s), -1);
	CHECK_EQ(s.st, TLS_ERROR);
	CHECK_STR(tls_error_reason(s.srv), "connection gone");
	sess_close(&s);
	tls_ctx_free(ctx);
}

/*
 * Seal a TLS 1.2 AES-128-GCM record as the client would (key block:
 * no MAC keys, client key, server key, client IV, server IV) at sequence
 * number seq, and queue it for the server.
 */
static int forge12(struct sess *s, uint8_t type, uint64_t seq, const uint8_t *pt, size_t len)
{
	uint8_t kb[40], nonce[12], ad[13], rec[5 + 8 + 256 + 16];
	EVP_AEAD_CTX actx;
	size_t clen = 0;
	int ok;

	if (SSL_get_key_block_len(s->cli) != sizeof(kb) ||
	    !SSL_generate_key_block(s->cli, kb, sizeof(kb)) || len > 256)
		return 0;
	memcpy(nonce, kb + 32, 4);
	for (int i = 0; i < 8; i++) {
		nonce[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
		ad[i] = nonce[4 + i];
	}
	ad[8] = type;
	ad[9] = 3;
	ad[10] = 3;
	ad[11] = (uint8_t)(len >> 8);
	ad[12] = (uint8_t)len;
	if (!EVP_AEAD_CTX_init(&actx, EVP_aead_aes_128_gcm(), kb, 16, 16, NULL))
		return 0;
	ok = EVP_AEAD_CTX_seal(&actx, rec + 13, &clen, sizeof(rec) - 13, nonce, 12, pt, len, ad, 13);
	EVP_AEAD_CTX_cleanup(&actx);
	if (!ok)
		return 0;
	rec[0] = type;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (uint8_t)((8 + clen) >> 8);
	rec[4] = (uint8_t)(8 + clen);
	memcpy(rec + 5, nonce + 4, 8);
	return BIO_write(s->p.c2s, rec, (int)(13 + clen)) == (int)(13 + clen);
}

/* A client renegotiation in TLS 1.2 (forged encrypted ClientHello) is refused. */
TEST(renegotiation_refused)
{
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx = ctx_or_die(&cfg);
	struct copt o = { .maxv = TLS1_2_VERSION,
			  .ciphers = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" };
	uint8_t hello[4 + 38] = { 1, 0, 0, 38, 3, 3 };   /* a ClientHello, empty lists */
	uint8_t buf[64];
	uint64_t seq;
	struct sess s;
	int n;

	sess_open(&s, ctx, W, &o);
	CHECK_EQ(sess_handshake(&s), 0);
	CHECK(c2s_text(&s, "EHLO x\r\n"));
	CHECK(s2c_text(&s, "250 ok\r\n"));
	seq = SSL_get_write_sequence(s.cli);

	/* the forging is right: a forged data record is accepted */
	CHECK(forge12(&s, 23, seq, (const uint8_t *)"NOOP\r\n", 6));
	CHECK_EQ(tls_read(s.srv, buf, sizeof(buf)), 6);
	CHECK(memcmp(buf, "NOOP\r\n", 6) == 0);

	/* a new ClientHello inside the session: refused, the session ends */
	CHECK(forge12(&s, 22, seq + 1, hello, sizeof(hello)));
	CHECK_EQ(tls_read(s.srv, buf, sizeof(buf)), -TLS_ERROR);
	CHECK(strstr(tls_error_reason(s.srv), "RENEGOTIATION") != NULL);
	n = SSL_read(s.cli, buf, sizeof(buf));
	CHECK(n <= 0);
	CHECK(strstr(ERR_reason_error_string(ERR_peek_last_error()) ?: "",
		     "NO_RENEGOTIATION") != NULL);
	ERR_clear_error();
	CHECK_EQ(tls_write(s.srv, (const uint8_t *)"x", 1), -TLS_ERROR);
	sess_close(&s);
	tls_ctx_free(ctx);
}

/* TLS 1.2 defaults: ECDHE with AEAD only; a client offering only static RSA, CBC or 3DES
   is refused, tls_ciphers can change that; bad lists are named. */
TEST(tls12_default_ciphers)
{
	static const struct { const char *client; int ok; const char *cipher; } t[] = {
		{ "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 1, "ECDHE-RSA-AES128-GCM-SHA256" },
		{ "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 1, "ECDHE-RSA-AES256-GCM-SHA384" },
		{ "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 1, "ECDHE-RSA-CHACHA20-POLY1305" },
		{ "TLS_RSA_WITH_3DES_EDE_CBC_SHA", 0, NULL },              /* SWEET32 */
		{ "TLS_RSA_WITH_AES_128_CBC_SHA", 0, NULL },               /* static RSA, CBC */
		{ "TLS_RSA_WITH_AES_256_GCM_SHA384", 0, NULL },            /* static RSA */
		{ "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0, NULL },         /* CBC */
		{ "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0, NULL },         /* CBC */
	};
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx = ctx_or_die(&cfg), *cbc;
	struct tls_macros m;
	struct sess s;
	char err[256];
	int r;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct copt o = { .sni = "mx.lab.example", .maxv = TLS1_2_VERSION, .ciphers = t[i].client };

		sess_open(&s, ctx, W, &o);
		r = sess_handshake(&s);
		if (r != (t[i].ok ? 0 : -1))
			fprintf(stderr, "client offering %s: handshake %d\n", t[i].client, r);
		CHECK_EQ(r, t[i].ok ? 0 : -1);
		if (t[i].ok) {
			tls_get_macros(s.srv, &m);
			CHECK_STR(m.cipher, t[i].cipher);
		} else {
			CHECK(strstr(tls_error_reason(s.srv), "NO_SHARED_CIPHER") != NULL);
		}
		sess_close(&s);
	}
	tls_ctx_free(ctx);

	/* tls_ciphers replaces the list: ECDHE-RSA-AES128-SHA only */
	cfg.ciphers = "ECDHE-RSA-AES128-SHA";
	cbc = ctx_or_die(&cfg);
	{
		struct copt o = { .maxv = TLS1_2_VERSION,
				  .ciphers = "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" };

		sess_open(&s, cbc, W, &o);
		CHECK_EQ(sess_handshake(&s), 0);
		tls_get_macros(s.srv, &m);
		CHECK_STR(m.cipher, "ECDHE-RSA-AES128-SHA");
		sess_close(&s);
	}
	tls_ctx_free(cbc);

	/* the default list is itself valid, and bad lists say what is wrong */
	CHECK_EQ(tls_check_ciphers(TLS_DEFAULT_CIPHERS, err, sizeof(err)), 0);
	CHECK_EQ(tls_check_ciphers("[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]:"
				   "ECDHE+AESGCM", err, sizeof(err)), 0);
	CHECK_EQ(tls_check_ciphers("ECDHE+AESGCM:!3DES:!SHA1", err, sizeof(err)), 0);
	CHECK_EQ(tls_check_ciphers("ECDHE-RSA-AES128-GCM-SHA256 AES128-SHA", err, sizeof(err)), -1);
	CHECK(strstr(err, "separated by ':'") != NULL);
	CHECK_EQ(tls_check_ciphers("ECDHE-RSA-AES128-GCM-SHA256:NOPE-CIPHER", err, sizeof(err)), -1);
	CHECK(strstr(err, "unknown cipher or rule \"NOPE-CIPHER\"") != NULL);
	CHECK_EQ(tls_check_ciphers("TLS_AES_128_GCM_SHA256", err, sizeof(err)), -1);
	CHECK(strstr(err, "TLS 1.3 suites are not configurable") != NULL);
	CHECK_EQ(tls_check_ciphers("ALL:!aNULL", err, sizeof(err)), -1);    /* BoringSSL has no aNULL */
	CHECK(strstr(err, "unknown cipher or rule \"aNULL\"") != NULL);
	CHECK_EQ(tls_check_ciphers("!ALL", err, sizeof(err)), -1);
	CHECK_STR(err, "bad TLS 1.2 cipher list \"!ALL\": it leaves no TLS 1.2 suite");
	CHECK_EQ(tls_check_ciphers("", err, sizeof(err)), -1);
	CHECK_EQ(ERR_peek_error(), 0);
}

/* Configuration errors name the file or setting. */
TEST(bad_files)
{
	static const struct { int what; const char *expect; } t[] = {
		{ 0, "cannot read key file %s/nope.pem: No such file or directory" },
		{ 1, "cannot read key file %s/garbage.pem: no usable PEM private key" },
		{ 2, "cannot read certificate file %s/nope.pem: No such file or directory" },
		{ 3, "cannot read certificate file %s/garbage.pem: no PEM certificate" },
		{ 4, "key file %s/ec_key.pem does not match certificate file" },
		{ 5, "bad TLS 1.2 cipher list \"NOPE-CIPHER\"" },
		{ 6, "bad groups \"X99999\"" },
		{ 7, "min_version 0x0301 unsupported" },
		{ 8, "cannot read CA file %s/nope.pem" },
		{ 9, "cannot read CRL file %s/nope.pem: No such file or directory" },
		{ 10, "cannot read CRL file %s/garbage.pem: no PEM CRL" },
		{ 11, "0 certificates configured" },
		{ 12, "key file %s/p521_key.pem: unsupported key type" },
		{ 13, "certificate without key file" },
	};
	char nope[128], err[256], want[256];

	snprintf(nope, sizeof(nope), "%s/nope.pem", dir);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct tls_server_cfg cfg = base_cfg();
		struct tls_ctx *ctx;

		switch (t[i].what) {
		case 0: cfg.certs[0].key_file = nope; break;
		case 1: cfg.certs[0].key_file = f_garbage; break;
		case 2: cfg.certs[1].chain_file = nope; break;
		case 3: cfg.certs[0].chain_file = f_garbage; break;
		case 4: cfg.certs[0].key_file = f_ec_key; break;
		case 5: cfg.ciphers = "NOPE-CIPHER"; break;
		case 6: cfg.groups = "X99999"; break;
		case 7: cfg.min_version = 0x0301; break;
		case 8: cfg.request_client_cert = 1; cfg.ca_file = nope; break;
		case 9: cfg.request_client_cert = 1; cfg.ca_file = f_ca; cfg.crl_file = nope; break;
		case 10: cfg.request_client_cert = 1; cfg.ca_file = f_ca; cfg.crl_file = f_garbage; break;
		case 11: cfg.ncerts = 0; break;
		case 12: cfg.certs[1].chain_file = f_p521_chain;
			 cfg.certs[1].key_file = f_p521_key; break;
		case 13: cfg.certs[1].key_file = NULL; break;
		}
		err[0] = 0;
		ctx = tls_ctx_new(&cfg, err, sizeof(err));
		CHECK(ctx == NULL);
		tls_ctx_free(ctx);
		snprintf(want, sizeof(want), t[i].expect, dir);
		if (!strstr(err, want))
			fprintf(stderr, "case %d: got \"%s\", want \"%s\"\n", t[i].what, err, want);
		CHECK(strstr(err, want) != NULL);
	}
	CHECK_EQ(ERR_peek_error(), 0);  /* no error left in the queue */
}

/* A transport taking one byte at a time (or none) still completes handshake and data. */
TEST(partial_writes)
{
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx = ctx_or_die(&cfg);
	static uint8_t big[20000], got[20000];
	size_t n = 0;
	long r;
	int spins = 0;
	struct sess s;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	sess_open(&s, ctx, W, NULL);
	s.p.wmode = 1;                          /* one byte per call, every other call none */
	CHECK_EQ(sess_handshake(&s), 0);
	CHECK(s.want_write > 0);
	CHECK(s.want_key > 0);
	CHECK(c2s_text(&s, "DATA\r\n"));
	while ((r = tls_write(s.srv, big, sizeof(big))) == -TLS_WANT_WRITE && spins < 100000)
		spins++;
	CHECK_EQ(r, (long)sizeof(big));
	CHECK(spins > 0);
	while (n < sizeof(got)) {
		int k = SSL_read(s.cli, got + n, (int)(sizeof(got) - n));

		if (k <= 0)
			break;
		n += (size_t)k;
	}
	ERR_clear_error();
	CHECK_EQ(n, sizeof(big));
	CHECK(memcmp(big, got, sizeof(big)) == 0);
	sess_close(&s);
	tls_ctx_free(ctx);
}

/* The worker queue: batches of max, frees while queued or in a batch, worker freed, ctx refs. */
TEST(worker_queue)
{
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx = ctx_or_die(&cfg);
	struct tls_worker *w = tls_worker_new(on_done);
	struct sess s[4];
	int calls;

	/* four handshakes park on their keys; one is freed; run two, then the rest */
	for (int i = 0; i < 4; i++) {
		sess_open(&s[i], ctx, w, NULL);
		cli_step(&s[i]);
		CHECK_EQ(tls_handshake(s[i].srv), TLS_WANT_KEY);
		CHECK_EQ(tls_handshake(s[i].srv), TLS_WANT_KEY);   /* still parked */
	}
	CHECK_EQ(tls_worker_pending(w), 4);
	tls_conn_free(s[3].srv);                /* freed while queued */
	s[3].srv = NULL;
	CHECK_EQ(tls_worker_pending(w), 3);
	calls = done_calls;
	CHECK_EQ(tls_worker_run(w, 2), 2);
	CHECK_EQ(done_calls, calls + 2);
	CHECK_EQ(tls_worker_pending(w), 1);
	CHECK_EQ(tls_handshake(s[0].srv), TLS_WANT_READ);   /* flight sent, waits for Finished */
	CHECK_EQ(tls_worker_run(w, 16), 1);
	CHECK_EQ(done_calls, calls + 3);
	CHECK(done_last == &s[2]);
	CHECK_EQ(tls_worker_run(w, 16), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(sess_handshake(&s[i]), 0);
		CHECK(c2s_text(&s[i], "EHLO x\r\n"));
	}
	for (int i = 0; i < 4; i++)
		sess_close(&s[i]);

	/* done() frees another session of the same batch before its turn */
	for (int i = 0; i < 2; i++) {
		sess_open(&s[i], ctx, w, NULL);
		cli_step(&s[i]);
		CHECK_EQ(tls_handshake(s[i].srv), TLS_WANT_KEY);
	}
	calls = done_calls;
	free_in_done = &s[1];
	CHECK_EQ(tls_worker_run(w, 16), 2);
	CHECK_EQ(done_calls, calls + 1);        /* s[1] was freed: no done() for it */
	CHECK(s[1].srv == NULL);
	CHECK(free_in_done == NULL);
	CHECK_EQ(sess_handshake(&s[0]), 0);
	sess_close(&s[0]);
	sess_close(&s[1]);

	/* a worker freed with work queued fails those handshakes cleanly */
	sess_open(&s[0], ctx, w, NULL);
	cli_step(&s[0]);
	CHECK_EQ(tls_handshake(s[0].srv), TLS_WANT_KEY);
	tls_worker_free(w);
	CHECK_EQ(tls_handshake(s[0].srv), TLS_ERROR);
	sess_close(&s[0]);

	/* the context outlives its owner while sessions use it */
	sess_open(&s[0], ctx, W, NULL);
	tls_ctx_free(ctx);
	CHECK_EQ(sess_handshake(&s[0]), 0);
	CHECK(c2s_text(&s[0], "EHLO x\r\n"));
	sess_close(&s[0]);
}

/* Bytes in use by malloc. */
static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks;
}

/* Memory of an idle server session after the handshake (client freed); bytes each. */
static long idle_bytes(struct tls_ctx *ctx, int n, X509 *cert, EVP_PKEY *key)
{
	struct sess *s = calloc((size_t)n, sizeof(*s));
	struct copt o = { .sni = "mx.lab.example", .cert = cert, .key = key };
	size_t before;
	long per;

	capture = 0;
	sess_open(&s[0], ctx, W, &o);           /* warm-up: lazy globals, worker */
	sess_handshake(&s[0]);
	sess_close(&s[0]);
	before = heap_used();
	for (int i = 0; i < n; i++) {
		sess_open(&s[i], ctx, W, &o);
		if (sess_handshake(&s[i]) < 0 || !c2s_text(&s[i], "EHLO x\r\n") ||
		    !s2c_text(&s[i], "250 ok\r\n"))
			CHECK(0);
		SSL_free(s[i].cli);             /* keep only our side */
		BIO_free(s[i].p.c2s);
		BIO_free(s[i].p.s2c);
		s[i].cli = NULL;
		s[i].p.c2s = s[i].p.s2c = NULL;
	}
	per = ((long)heap_used() - (long)before) / n;
	for (int i = 0; i < n; i++)
		tls_conn_free(s[i].srv);
	free(s);
	capture = 1;
	return per;
}

/* Memory of an idle session after the handshake, printed. */
TEST(idle_memory)
{
	struct tls_server_cfg cfg = base_cfg();
	struct tls_ctx *ctx = ctx_or_die(&cfg);
	long plain, withcert;

	plain = idle_bytes(ctx, 100, NULL, NULL);
	tls_ctx_free(ctx);
	cfg.request_client_cert = 1;
	cfg.ca_file = f_ca;
	ctx = ctx_or_die(&cfg);
	withcert = idle_bytes(ctx, 100, pki.cli, pki.cli_key);
	tls_ctx_free(ctx);
	if (plain > 0)
		printf("test_tls: idle TLS 1.3 server session after the handshake: %ld bytes "
		       "(%ld with a client certificate kept)\n", plain, withcert);
	else
		printf("test_tls: idle session memory not measurable (mallinfo2 sees "
		       "another allocator)\n");
	CHECK(plain < 16384);
	CHECK(withcert < 32768);
}

/* Build the PKI and the client context, run the tests, clean up. */
int main(void)
{
	if (!mkdtemp(strcpy(dir, "/tmp/test_tls.XXXXXX"))) {
		perror("mkdtemp");
		return 2;
	}
	pki_build();
	cli_ctx = SSL_CTX_new(TLS_method());
	SSL_CTX_set_max_proto_version(cli_ctx, TLS1_3_VERSION);
	SSL_CTX_set_session_cache_mode(cli_ctx, SSL_SESS_CACHE_CLIENT);
	SSL_CTX_sess_set_new_cb(cli_ctx, new_sess_cb);
	for (int lanes = 0; lanes < 2; lanes++) {
		printf("test_tls: X25519 through the door %s\n", lanes ? "on" : "off");
		tls_x25519_lanes_set(lanes);
		W = tls_worker_new(on_done);
		RUN(tls13_rsa_async_key);
		RUN(sni_choice);
		RUN(tls12);
		RUN(client_certs);
		RUN(ca_crl_from_memory);
		RUN(ocsp_staple);
		RUN(lone_certificate);
		RUN(stale_error_queue);
		RUN(certs_from_context);
		RUN(no_client_cert_per_session);
		RUN(ask_client_cert_per_session);
		RUN(tickets);
		RUN(garbage_and_eof);
		RUN(renegotiation_refused);
		RUN(tls12_default_ciphers);
		RUN(bad_files);
		RUN(partial_writes);
		if (!lanes)
			RUN(worker_queue);
		RUN(idle_memory);
		/* the second pass did go through the step (a CPU with IFMA), the first did not */
		if (x25519_ifma_cpu())
			CHECK_EQ(tls_worker_stats(W)->key_x25519_runs > 0, lanes);
		tls_worker_free(W);
	}
	SSL_SESSION_free(last_sess);
	SSL_CTX_free(cli_ctx);
	pki_free();
	return t_done("test_tls");
}
