/*
 * keys.c - "mxctl cert", "mxctl ca", "mxctl crl", "mxctl tickets" and
 * "mxctl reload": certificates (hash <prefix>cert:NAME with fields chain,
 * key, sni and the optional DER OCSP response ocsp; set <prefix>certs of
 * names), the client-certificate trust (strings <prefix>ca: PEM CA
 * certificates, <prefix>crl: PEM CRLs) and session-ticket keys (hash
 * <prefix>tickets, fields current and previous, 96 hex characters each) in
 * Redis, each change followed by PUBLISH "certs" or "tickets" on
 * <prefix>events; mxgate-control applies them to mxgate. reload publishes
 * every event so mxgate-control resyncs. Everything is checked here with
 * BoringSSL (PEM, key matches, dates, CRL and OCSP structure) before
 * anything is written.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/ctl_payload.h"
#include "tools/mxctl/mxctl.h"


/* ---- cert ---- */

static const char cert_usage[] =
	"usage: mxctl cert add NAME --chain FILE --key FILE [--sni NAMES] [--ocsp FILE] [--force]\n"
	"       mxctl cert list [--json]\n"
	"       mxctl cert del NAME\n"
	"       mxctl cert push [--default NAME]\n";
static const char cert_help[] =
	"usage: mxctl cert SUBCOMMAND ...   (mxctl cert SUBCOMMAND --help for each)\n"
	"\n"
	"TLS certificates in Redis (hash <prefix>cert:NAME with fields chain, key, sni,\n"
	"ocsp; set <prefix>certs). mxgate-control installs them in mxgate; every change\n"
	"publishes \"certs\" on <prefix>events. See also mxctl ca and mxctl crl.\n"
	"\n"
	"  add NAME --chain FILE --key FILE [--sni NAMES] [--ocsp FILE] [--force]\n"
	"                       add or replace a certificate\n"
	"  list                 names, expiry, subject and SNI names\n"
	"  del NAME             remove a certificate\n"
	"  push [--default NAME]\n"
	"                       send every certificate in Redis to mxgate now (SET_CERTS)\n";
static const char add_help[] =
	"usage: mxctl cert add NAME --chain FILE --key FILE [--sni NAMES] [--ocsp FILE] [--force]\n"
	"\n"
	"Store a certificate under NAME (letters, digits, '.', '_', '-'), replacing\n"
	"one of the same name. FILE are PEM: the chain (leaf first) and its\n"
	"unencrypted private key. Checked first: both parse, the key belongs to the\n"
	"leaf, the leaf is valid now (--force stores an expired or not yet valid one).\n"
	"\n"
	"  --sni NAMES   the server names this certificate answers, separated by\n"
	"                commas or blanks, exact or \"*.domain\" (at most 7); stored\n"
	"                comma-separated in the sni field. Without it the field is\n"
	"                empty: mxgate uses the certificate's DNS names (else its CN).\n"
	"  --ocsp FILE   a DER OCSP response for this certificate (openssl ocsp\n"
	"                -respout), 1..64 KiB, status successful: mxgate staples it for\n"
	"                clients that ask (status_request). Without it: no staple. Renew\n"
	"                it by running cert add again before the response's nextUpdate.\n";
static const char certlist_help[] =
	"usage: mxctl cert list [--json]\n\nEvery certificate in Redis: name, notAfter, subject, SNI names.\n"
	"\n"
	"  --json   a JSON array, one object per certificate: name, not_after, subject,\n"
	"           chain (certificates in it), sni (an array; [] = its DNS names),\n"
	"           ocsp_bytes (null: none); \"error\" instead when its hash is unusable\n";
static const char certdel_help[] =
	"usage: mxctl cert del NAME\n\nRemove certificate NAME from Redis. Exit 1 if there is none.\n";

static const char certpush_help[] =
	"usage: mxctl cert push [--default NAME]\n"
	"\n"
	"Send every certificate in Redis (at most 8) to mxgate over the control socket\n"
	"(SET_CERTS), with their OCSP responses and the CA and CRL in Redis: new TLS\n"
	"sessions use them at once, open ones keep theirs, ticket keys carry over.\n"
	"The default certificate (for clients without a matching SNI) is NAME, else\n"
	"the first by name. mxgate refuses the whole set if one is bad and keeps the\n"
	"certificates in force.\n";

/* Read a binary file of 1..max bytes; NULL (said). */
static uint8_t *slurp_bin(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (f == NULL) {
		say("%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		say("out of memory");
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max || n == 0) {
		say("%s: %s", path, ferror(f) ? strerror(errno) : n ? "too large" : "empty");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Read a PEM file (1 byte .. 1 MiB of text) into a string; NULL (said). */
static char *slurp(const char *path)
{
	size_t n;
	char *buf = (char *)slurp_bin(path, CERT_PEM_MAX, &n);    /* room for a NUL */

	if (buf == NULL)
		return NULL;
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		say("%s: not PEM text (NUL byte)", path);
		free(buf);
		return NULL;
	}
	return buf;
}

/* BoringSSL's first queued error as text (or "no detail"). */
static const char *ssl_why(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "no detail";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* A passphrase callback that refuses: keys must be unencrypted. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return 0;
}

/* The leaf (first certificate) of PEM text; NULL if none. count gets the chain length. */
static X509 *pem_leaf(const char *pem, int *count)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *leaf = NULL, *x;

	*count = 0;
	if (bio == NULL)
		return NULL;
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
		if (leaf == NULL)
			leaf = x;
		else
			X509_free(x);
		(*count)++;
	}
	ERR_clear_error();
	BIO_free(bio);
	return leaf;
}

/* An ASN1_TIME as "YYYY-MM-DD HH:MM:SS UTC" (or "?"). */
static void fmt_time(const ASN1_TIME *t, char *out, size_t outlen)
{
	int days, secs;
	time_t when;
	struct tm tm;

	if (t == NULL || ASN1_TIME_diff(&days, &secs, NULL, t) != 1) {
		snprintf(out, outlen, "?");
		return;
	}
	when = time(NULL) + (time_t)days * 86400 + secs;
	strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&when, &tm));
}

/* The subject of a certificate, one line. */
static void fmt_subject(X509 *x, char *out, size_t outlen)
{
	X509_NAME_oneline(X509_get_subject_name(x), out, (int)outlen);
}

/* Split --sni into comma-separated names in out; 0 or -1 (said). */
static int sni_list(const char *in, char *out, size_t outlen)
{
	char buf[1024], *save = NULL, *tok;
	size_t n = 0;
	int count = 0;

	if (strlen(in) >= sizeof(buf)) {
		say("cert add: --sni: too long");
		return -1;
	}
	strcpy(buf, in);
	out[0] = '\0';
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		const char *p = tok;
		size_t l = strlen(tok);

		if (++count > SNI_MAX) {
			say("cert add: --sni: at most %d names", SNI_MAX);
			return -1;
		}
		if (strncmp(p, "*.", 2) == 0)
			p += 2;
		if (l > 253 || *p == '\0' || *p == '.' || p[strlen(p) - 1] == '.') {
			say("cert add: --sni %s: not a host name", tok);
			return -1;
		}
		/* letters, digits and '-', in labels of 1 to 63 that neither start nor end with '-' */
		for (size_t lab = 0; *p; p++) {
			int dot = *p == '.';

			if ((!isalnum((unsigned char)*p) && *p != '-' && !dot) ||
			    (dot && (lab == 0 || p[-1] == '-')) || (*p == '-' && lab == 0) ||
			    (!dot && ++lab > 63) || (p[1] == '\0' && *p == '-')) {
				say("cert add: --sni %s: not a host name", tok);
				return -1;
			}
			if (dot)
				lab = 0;
		}
		for (size_t i = 0; i < l; i++)
			tok[i] = (char)tolower((unsigned char)tok[i]);
		n += (size_t)snprintf(out + n, outlen - n, "%s%s", n ? "," : "", tok);
		if (n >= outlen || n > SNI_FIELD_MAX) {
			say("cert add: --sni: longer than %d characters in all", SNI_FIELD_MAX);
			return -1;
		}
	}
	if (count == 0) {
		say("cert add: --sni: no names");
		return -1;
	}
	return 0;
}

/* Run a fixed command and drop its reply; 0 or -1 (said). */
static int run(redisContext *c, int argc, const char **argv)
{
	redisReply *r = rds_cmd(c, argc, argv);

	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/* EXEC and check every queued reply; 0, 1 (WATCH conflict), -1 (said). */
static int exec_ok(redisContext *c)
{
	redisReply *r = rds_cmdv(c, "EXEC", NULL);

	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		return 1;
	}
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_ERROR) {
			say("redis: a queued command failed: %s", r->element[i]->str);
			freeReplyObject(r);
			return -1;
		}
	freeReplyObject(r);
	return 0;
}

/* DISCARD an open MULTI after a failure. */
static void discard(redisContext *c)
{
	redisReply *r = redisCommand(c, "DISCARD");

	if (r != NULL)
		freeReplyObject(r);
}

/* Publish an event and note when nobody listens; 0 or -1 (said). */
static int publish(redisContext *c, const char *ev)
{
	long long n = rds_publish(c, ev);

	if (n < 0) {
		say("written, but publishing \"%s\" failed: run mxctl reload", ev);
		return -1;
	}
	if (n == 0)
		say("note: nobody listens on %s (is mxgate-control running?)", rkey(RK_EVENTS));
	return 0;
}

/*
 * An OCSP response (RFC 6960): OCSPResponse ::= SEQUENCE { responseStatus
 * ENUMERATED, responseBytes [0] EXPLICIT ... }, DER, nothing after it, and
 * status successful (0) with response bytes. 0 or -1 with why.
 */
static int ocsp_check(const uint8_t *p, size_t n, char *why, size_t whylen)
{
	static const char *const st[] = { "successful", "malformedRequest", "internalError",
					  "tryLater", "4", "sigRequired", "unauthorized" };
	CBS cbs, seq, status;
	uint8_t v;

	CBS_init(&cbs, p, n);
	if (!CBS_get_asn1(&cbs, &seq, CBS_ASN1_SEQUENCE) || CBS_len(&cbs) != 0 ||
	    !CBS_get_asn1(&seq, &status, CBS_ASN1_ENUMERATED) || CBS_len(&status) != 1) {
		snprintf(why, whylen, "not a DER OCSP response");
		return -1;
	}
	v = CBS_data(&status)[0];
	if (v != 0) {
		snprintf(why, whylen, "OCSP response status %s, not successful",
			 v < sizeof(st) / sizeof(st[0]) ? st[v] : "unknown");
		return -1;
	}
	if (!CBS_peek_asn1_tag(&seq, CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 0)) {
		snprintf(why, whylen, "OCSP response without response bytes");
		return -1;
	}
	return 0;
}

/* cert add NAME --chain F --key F [--sni NAMES] [--ocsp F] [--force]. */
static int cert_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "chain", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "sni", required_argument, NULL, 's' },
		{ "ocsp", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *chainf = NULL, *keyf = NULL, *sni_in = NULL, *ocspf = NULL, *name;
	char sni[SNI_FIELD_MAX + 2] = "", subj[512], until[64], why[128];
	char *chain = NULL, *key = NULL;
	uint8_t *ocsp = NULL;
	size_t ocsp_len = 0;
	EVP_PKEY *pkey = NULL;
	X509 *leaf = NULL;
	redisContext *c = NULL;
	BIO *bio;
	int opt, force = 0, count, rc = EX_FAIL;

	opt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': chainf = optarg; break;
		case 'k': keyf = optarg; break;
		case 's': sni_in = optarg; break;
		case 'o': ocspf = optarg; break;
		case 'f': force = 1; break;
		case 'h': return help(add_help);
		default: return usage_error(add_help, "cert add: %s", bad_opt(argv));
		}
	}
	if (argc - optind != 1)
		return usage_error(add_help, "cert add: one NAME expected");
	name = argv[optind];
	if (!ctl_cert_name_ok(name, strlen(name)))
		return usage_error(add_help, "cert add: NAME %s: use 1..%d letters, digits, '.', '_', '-'",
				   name, CERT_NAME_MAX);
	if (chainf == NULL || keyf == NULL)
		return usage_error(add_help, "cert add: --chain FILE and --key FILE are required");
	if (sni_in != NULL && sni_list(sni_in, sni, sizeof(sni)) != 0)
		return EX_USAGE;

	if ((chain = slurp(chainf)) == NULL || (key = slurp(keyf)) == NULL)
		goto out;
	if (ocspf != NULL) {
		if ((ocsp = slurp_bin(ocspf, OCSP_MAX, &ocsp_len)) == NULL)
			goto out;
		if (ocsp_check(ocsp, ocsp_len, why, sizeof(why)) != 0) {
			say("cert add: --ocsp %s: %s", ocspf, why);
			goto out;
		}
	}
	leaf = pem_leaf(chain, &count);
	if (leaf == NULL) {
		say("cert add: %s: no PEM certificate", chainf);
		goto out;
	}
	bio = BIO_new_mem_buf(key, -1);
	pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	BIO_free(bio);
	if (pkey == NULL) {
		say("cert add: %s: no unencrypted PEM private key (%s)", keyf, ssl_why());
		goto out;
	}
	if (X509_check_private_key(leaf, pkey) != 1) {
		ERR_clear_error();
		say("cert add: %s does not belong to the certificate in %s", keyf, chainf);
		goto out;
	}
	fmt_subject(leaf, subj, sizeof(subj));
	fmt_time(X509_get0_notAfter(leaf), until, sizeof(until));
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0 ||
	    X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0) {
		if (!force) {
			say("cert add: %s: %s is not valid now (notAfter %s); --force stores it anyway",
			    chainf, subj, until);
			goto out;
		}
		say("note: %s is not valid now (notAfter %s)", subj, until);
	}

	if ((c = rds_connect()) == NULL)
		goto out;
	{
		const char *ckey = rkey(RK_CERT), *certs = rkey(RK_CERTS);
		char hkey[CFG_NAME_LEN + 8 + CERT_NAME_MAX];
		const char *multi[] = { "MULTI" };
		const char *del[] = { "DEL", hkey };
		const char *hset[] = { "HSET", hkey, "chain", chain, "key", key, "sni", sni,
				       "ocsp", (const char *)ocsp };
		size_t hlen[10];
		const char *sadd[] = { "SADD", certs, name };
		redisReply *r;

		snprintf(hkey, sizeof(hkey), "%s%s", ckey, name);
		for (int i = 0; i < 10; i++)
			hlen[i] = i == 9 ? ocsp_len : strlen(hset[i] ? hset[i] : "");
		if (run(c, 1, multi) != 0)
			goto out;
		if (run(c, 2, del) != 0) {
			discard(c);
			goto out;
		}
		/* binary-safe: the OCSP response is DER */
		r = redisCommandArgv(c, ocsp ? 10 : 8, hset, hlen);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			say("redis HSET: %s", r ? r->str : c->errstr);
			if (r != NULL)
				freeReplyObject(r);
			discard(c);
			goto out;
		}
		freeReplyObject(r);
		if (run(c, 3, sadd) != 0) {
			discard(c);
			goto out;
		}
		if (exec_ok(c) != 0)
			goto out;
	}
	printf("certificate %s: %s, %d in chain, notAfter %s, sni %s%s\n", name, subj, count, until,
	       sni[0] ? sni : "(its DNS names)", ocsp ? ", OCSP response stapled" : "");
	rc = publish(c, EV_CERTS) == 0 ? EX_OK : EX_FAIL;
out:
	if (c != NULL)
		redisFree(c);
	X509_free(leaf);
	EVP_PKEY_free(pkey);
	free(chain);
	free(ocsp);
	if (key != NULL) {
		memset(key, 0, strlen(key));
		free(key);
	}
	return rc;
}

/* qsort order of C strings. */
static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One certificate of cert list --json (i: its index, for the comma). */
static void cert_json(const char *name, const char *until, const char *subj, int count,
		      const redisReply *sni, const redisReply *ocsp, size_t i)
{
	char words[1024], *save = NULL, *w;
	int n = 0;

	printf("%s{\"name\":", i ? "," : "");
	json_str(stdout, name);
	printf(",\"not_after\":");
	json_str(stdout, until);
	printf(",\"subject\":");
	json_str(stdout, subj);
	printf(",\"chain\":%d,\"sni\":[", count);
	snprintf(words, sizeof(words), "%s", sni->type == REDIS_REPLY_STRING ? sni->str : "");
	for (w = strtok_r(words, " ,\t", &save); w != NULL; w = strtok_r(NULL, " ,\t", &save)) {
		printf("%s", n++ ? "," : "");
		json_str(stdout, w);
	}
	printf("],\"ocsp_bytes\":");
	if (ocsp->type == REDIS_REPLY_STRING)
		printf("%zu}", ocsp->len);
	else
		printf("null}");
}

/* cert list [--json]. */
static int cert_list(int argc, char **argv)
{
	redisContext *c;
	redisReply *r;
	const char **names;
	int ex, json;

	if ((ex = json_only(argc, argv, certlist_help, certlist_help, "cert list", &json)) >= 0)
		return ex;
	if ((c = rds_connect()) == NULL)
		return EX_FAIL;
	r = rds_cmdv(c, "SMEMBERS", rkey(RK_CERTS), NULL);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		if (r)
			freeReplyObject(r);
		redisFree(c);
		return fail("redis: cannot read %s", rkey(RK_CERTS));
	}
	names = calloc(r->elements + 1, sizeof(*names));
	if (names == NULL) {
		freeReplyObject(r);
		redisFree(c);
		return fail("out of memory");
	}
	for (size_t i = 0; i < r->elements; i++)
		names[i] = r->element[i]->str;
	qsort(names, r->elements, sizeof(*names), str_cmp);
	if (json)
		putchar('[');
	for (size_t i = 0; i < r->elements; i++) {
		char hkey[CFG_NAME_LEN + 8 + CERT_NAME_MAX + 256], subj[512] = "?", until[64] = "?";
		redisReply *h;
		int count = 0;

		snprintf(hkey, sizeof(hkey), "%s%s", rkey(RK_CERT), names[i]);
		h = rds_cmdv(c, "HMGET", hkey, "chain", "sni", "ocsp", NULL);
		if (h == NULL || h->type != REDIS_REPLY_ARRAY || h->elements != 3 ||
		    h->element[0]->type != REDIS_REPLY_STRING) {
			if (json) {
				printf("%s{\"name\":", i ? "," : "");
				json_str(stdout, names[i]);
				printf(",\"error\":");
				json_str(stdout, "no hash");
				putchar('}');
			} else {
				text_pad(stdout, names[i], 20);         /* what Redis holds */
				fputs("  (no hash ", stdout);
				text_safe(stdout, hkey);
				fputs(")\n", stdout);
			}
		} else {
			X509 *leaf = pem_leaf(h->element[0]->str, &count);

			if (leaf != NULL) {
				fmt_subject(leaf, subj, sizeof(subj));
				fmt_time(X509_get0_notAfter(leaf), until, sizeof(until));
				X509_free(leaf);
			}
			if (json) {
				cert_json(names[i], until, subj, count, h->element[1], h->element[2], i);
				goto next;
			}
			text_pad(stdout, names[i], 20);
			printf("  notAfter %s  %s  sni ", until, subj);
			text_safe(stdout, h->element[1]->type == REDIS_REPLY_STRING && h->element[1]->str[0] ?
				  h->element[1]->str : "(its DNS names)");
			if (h->element[2]->type == REDIS_REPLY_STRING)
				printf("  ocsp %zu bytes", h->element[2]->len);
			putchar('\n');
		}
next:
		if (h != NULL)
			freeReplyObject(h);
	}
	if (json)
		printf("]\n");
	free(names);
	freeReplyObject(r);
	redisFree(c);
	return EX_OK;
}

/* cert del NAME. */
static int cert_del(int argc, char **argv)
{
	char hkey[CFG_NAME_LEN + 8 + CERT_NAME_MAX];
	redisContext *c;
	redisReply *r;
	long long had;
	int ex, rc = EX_FAIL;

	if ((ex = help_only(argc, argv, certdel_help, certdel_help, "cert del")) >= 0)
		return ex;
	if (argc - optind != 1)
		return usage_error(certdel_help, "cert del: one NAME expected");
	if (!ctl_cert_name_ok(argv[optind], strlen(argv[optind])))
		return usage_error(certdel_help, "cert del: NAME %s: not a certificate name", argv[optind]);
	if ((c = rds_connect()) == NULL)
		return EX_FAIL;
	snprintf(hkey, sizeof(hkey), "%s%s", rkey(RK_CERT), argv[optind]);
	{
		const char *multi[] = { "MULTI" };
		const char *del[] = { "DEL", hkey };
		const char *srem[] = { "SREM", rkey(RK_CERTS), argv[optind] };

		if (run(c, 1, multi) != 0)
			goto out;
		if (run(c, 2, del) != 0 || run(c, 3, srem) != 0) {
			discard(c);
			goto out;
		}
		r = rds_cmdv(c, "EXEC", NULL);
		if (r == NULL)
			goto out;
		had = 0;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 2)
			had = r->element[0]->integer + r->element[1]->integer;
		freeReplyObject(r);
	}
	if (had == 0) {
		say("cert del: no certificate %s", argv[optind]);
		goto out;
	}
	printf("certificate %s deleted\n", argv[optind]);
	rc = publish(c, EV_CERTS) == 0 ? EX_OK : EX_FAIL;
out:
	redisFree(c);
	return rc;
}

/* cert push [--default NAME]: SET_CERTS with every certificate in Redis. */
static int cert_push(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "default", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *def = NULL, **names = NULL;
	redisReply *set = NULL, *h[CERTS_MAX] = { NULL }, *trust[2] = { NULL, NULL };
	struct ctl_certs cc = { 0 };
	char *payload = NULL, why[128];
	struct ctl_msg m = { 0 };
	size_t n = 0, i, count;
	redisContext *c;
	int opt, rc = EX_FAIL;

	opt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': def = optarg; break;
		case 'h': return help(certpush_help);
		default: return usage_error(certpush_help, "cert push: %s", bad_opt(argv));
		}
	}
	if (optind != argc)
		return usage_error(certpush_help, "cert push: unexpected argument %s", argv[optind]);
	if ((c = rds_connect()) == NULL)
		return EX_FAIL;
	set = rds_cmdv(c, "SMEMBERS", rkey(RK_CERTS), NULL);
	if (set == NULL || set->type != REDIS_REPLY_ARRAY) {
		say("redis: cannot read %s", rkey(RK_CERTS));
		goto out;
	}
	count = set->elements;
	if (count == 0) {
		say("cert push: no certificate in %s", rkey(RK_CERTS));
		goto out;
	}
	if (count > CERTS_MAX) {
		say("cert push: %zu certificates in %s, mxgate takes at most %d", count, rkey(RK_CERTS),
		    CERTS_MAX);
		goto out;
	}
	names = calloc(count, sizeof(*names));
	if (names == NULL) {
		say("out of memory");
		goto out;
	}
	for (i = 0; i < count; i++)
		names[i] = set->element[i]->str;
	qsort(names, count, sizeof(*names), str_cmp);
	if (def != NULL) {
		for (i = 0; i < count && strcmp(names[i], def) != 0; i++)
			;
		if (i == count) {
			say("cert push: --default %s: no such certificate in %s", def, rkey(RK_CERTS));
			goto out;
		}
		memmove(names + 1, names, i * sizeof(*names));
		names[0] = def;
	}
	for (i = 0; i < count; i++) {
		char hkey[CFG_NAME_LEN + 8 + CERT_NAME_MAX + 256];
		struct ctl_cert *x = &cc.cert[i];
		const char *sni;

		snprintf(hkey, sizeof(hkey), "%s%s", rkey(RK_CERT), names[i]);
		h[i] = rds_cmdv(c, "HMGET", hkey, "chain", "key", "sni", "ocsp", NULL);
		if (h[i] == NULL || h[i]->type != REDIS_REPLY_ARRAY || h[i]->elements != 4 ||
		    h[i]->element[0]->type != REDIS_REPLY_STRING ||
		    h[i]->element[1]->type != REDIS_REPLY_STRING) {
			say("cert push: %s has no chain and key", hkey);
			goto out;
		}
		sni = h[i]->element[2]->type == REDIS_REPLY_STRING && h[i]->element[2]->str[0] ?
		      h[i]->element[2]->str : "-";
		x->name = names[i];
		x->name_len = strlen(names[i]);
		x->sni = sni;
		x->sni_len = strlen(sni);
		if (!ctl_cert_name_ok(x->name, x->name_len) || !ctl_sni_field_ok(x->sni, x->sni_len)) {
			say("cert push: %s: name or sni field unusable (\"%s\")", hkey, sni);
			goto out;
		}
		x->chain = h[i]->element[0]->str;
		x->chain_len = h[i]->element[0]->len;
		x->key = h[i]->element[1]->str;
		x->key_len = h[i]->element[1]->len;
		if (h[i]->element[3]->type == REDIS_REPLY_STRING) {
			x->ocsp = (const uint8_t *)h[i]->element[3]->str;
			x->ocsp_len = h[i]->element[3]->len;
		}
		if (x->ocsp_len > OCSP_MAX) {
			say("cert push: %s: ocsp field of %zu bytes, at most %u", hkey, x->ocsp_len, OCSP_MAX);
			goto out;
		}
	}
	cc.n = (unsigned)count;
	/* the CA and CRL in Redis go with them, as mxgate-control sends them */
	for (i = 0; i < 2; i++) {
		redisReply *t = rds_cmdv(c, "GET", rkey(i ? RK_CRL : RK_CA), NULL);

		if (t == NULL)
			goto out;
		trust[i] = t;
		if (t->type != REDIS_REPLY_STRING)
			continue;
		*(i ? &cc.crl : &cc.ca) = t->str;
		*(i ? &cc.crl_len : &cc.ca_len) = t->len;
	}
	if (ctl_certs_encode(&cc, NULL, &n, why, sizeof(why)) != 0) {
		say("cert push: %s", why);
		goto out;
	}
	if ((payload = malloc(n ? n : 1)) == NULL) {
		say("out of memory");
		goto out;
	}
	ctl_certs_encode(&cc, payload, &n, why, sizeof(why));
	if (ctl_request(CTL_SET_CERTS, payload, n, &m) != 0)
		goto out;
	printf("mxgate: %s\n", m.data[0] ? m.data : "OK");
	free(m.data);
	rc = EX_OK;
out:
	if (payload != NULL) {
		memset(payload, 0, n);
		free(payload);
	}
	for (i = 0; i < CERTS_MAX; i++)
		if (h[i] != NULL)
			freeReplyObject(h[i]);
	for (i = 0; i < 2; i++)
		if (trust[i] != NULL)
			freeReplyObject(trust[i]);
	free(names);
	if (set != NULL)
		freeReplyObject(set);
	redisFree(c);
	return rc;
}

/* cert SUBCOMMAND. */
int cmd_cert(int argc, char **argv)
{
	if (argc < 2)
		return usage_error(cert_usage, "cert: which subcommand?");
	if (is_help(argv[1]))
		return help(cert_help);
	if (strcmp(argv[1], "add") == 0)
		return cert_add(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return cert_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "del") == 0)
		return cert_del(argc - 1, argv + 1);
	if (strcmp(argv[1], "push") == 0)
		return cert_push(argc - 1, argv + 1);
	return usage_error(cert_usage, "cert: unknown subcommand %s", argv[1]);
}

/* ---- ca, crl ---- */

static const char ca_usage[] =
	"usage: mxctl ca set FILE [--force]\n"
	"       mxctl ca show [--json]\n"
	"       mxctl ca del\n";
static const char ca_help[] =
	"usage: mxctl ca SUBCOMMAND ...   (mxctl ca SUBCOMMAND --help for each)\n"
	"\n"
	"The CA certificates trusted for client certificates, as one PEM bundle in the\n"
	"Redis string <prefix>ca. While it is set it replaces mxgate's tls_ca_file and\n"
	"tls_ca_dir for new TLS sessions ({verify} OK or FAIL); without it they apply\n"
	"again. Client certificates are asked for only with tls_ask_client_cert = yes.\n"
	"Every change publishes \"certs\" on <prefix>events.\n"
	"\n"
	"  set FILE [--force]   store the PEM certificates of FILE (replacing the bundle)\n"
	"  show [--json]        subject, expiry and CA flag of each certificate stored\n"
	"  del                  remove the bundle (back to the configured files)\n";
static const char caset_help[] =
	"usage: mxctl ca set FILE [--force]\n"
	"\n"
	"Store the PEM certificates of FILE (at most 1 MiB) as <prefix>ca, replacing\n"
	"what is there, and publish \"certs\". Every PEM block must parse; one that is\n"
	"not valid now is refused unless --force; one without CA:TRUE is noted.\n";
static const char cashow_help[] =
	"usage: mxctl ca show [--json]\n\nThe certificates of <prefix>ca: subject, notAfter, CA flag.\n"
	"\n"
	"  --json   a JSON array, one object per certificate: subject, not_after,\n"
	"           valid_now, ca (booleans); [] when there is no <prefix>ca\n";
static const char cadel_help[] =
	"usage: mxctl ca del\n\nRemove <prefix>ca (mxgate uses tls_ca_file/tls_ca_dir again). Exit 1 if\n"
	"there is none.\n";
static const char crl_usage[] =
	"usage: mxctl crl set FILE [--force]\n"
	"       mxctl crl show [--json]\n"
	"       mxctl crl del\n";
static const char crl_help[] =
	"usage: mxctl crl SUBCOMMAND ...   (mxctl crl SUBCOMMAND --help for each)\n"
	"\n"
	"Certificate revocation lists for client certificates, PEM, in the Redis string\n"
	"<prefix>crl. While it is set it replaces mxgate's tls_crl_file: a revoked\n"
	"client certificate gets {verify} FAIL, and so does one whose CA has no CRL\n"
	"there. Every change publishes \"certs\" on <prefix>events.\n"
	"\n"
	"  set FILE [--force]   store the PEM CRLs of FILE (replacing what is there)\n"
	"  show [--json]        issuer, lastUpdate, nextUpdate and revoked count of each\n"
	"  del                  remove them (back to the configured tls_crl_file)\n";
static const char crlset_help[] =
	"usage: mxctl crl set FILE [--force]\n"
	"\n"
	"Store the PEM CRLs of FILE (at most 1 MiB) as <prefix>crl, replacing what is\n"
	"there, and publish \"certs\". Every PEM block must parse; a CRL past its\n"
	"nextUpdate is refused unless --force (mxgate would fail every certificate of\n"
	"that CA).\n";
static const char crlshow_help[] =
	"usage: mxctl crl show [--json]\n\nThe CRLs of <prefix>crl: issuer, lastUpdate, nextUpdate, revoked count.\n"
	"\n"
	"  --json   a JSON array, one object per CRL: issuer, last_update, next_update\n"
	"           (null: none), passed (boolean), revoked (a number); [] when none\n";
static const char crldel_help[] =
	"usage: mxctl crl del\n\nRemove <prefix>crl (mxgate uses tls_crl_file again). Exit 1 if there is none.\n";

/*
 * Describe (out != NULL: one line each, or with json one JSON object each,
 * comma-separated) and check the PEM objects of text: certificates (crl 0)
 * or CRLs (crl 1). Returns how many, or -1 when one does not parse;
 * *stale counts those not valid now.
 */
static int trust_scan(const char *text, size_t len, int crl, FILE *out, int json, int *stale)
{
	BIO *b = BIO_new_mem_buf(text, (int)len);
	int n = 0;

	*stale = 0;
	if (b == NULL)
		return -1;
	for (;;) {
		char name[512], t1[64], t2[64];

		if (crl) {
			X509_CRL *x = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
			const ASN1_TIME *next;

			if (x == NULL)
				break;
			next = X509_CRL_get0_nextUpdate(x);
			X509_NAME_oneline(X509_CRL_get_issuer(x), name, sizeof(name));
			fmt_time(X509_CRL_get0_lastUpdate(x), t1, sizeof(t1));
			if (next)
				fmt_time(next, t2, sizeof(t2));
			else
				snprintf(t2, sizeof(t2), "(none)");
			if (next && X509_cmp_current_time(next) <= 0)
				(*stale)++;
			if (out && json) {
				fprintf(out, "%s{\"issuer\":", n ? "," : "");
				json_str(out, name);
				fprintf(out, ",\"last_update\":");
				json_str(out, t1);
				fprintf(out, ",\"next_update\":");
				if (next)
					json_str(out, t2);
				else
					fputs("null", out);
				fprintf(out, ",\"passed\":%s,\"revoked\":%zu}",
					next && X509_cmp_current_time(next) <= 0 ? "true" : "false",
					sk_X509_REVOKED_num(X509_CRL_get_REVOKED(x)));
			} else if (out)
				fprintf(out, "%s  lastUpdate %s  nextUpdate %s%s  revoked %zu\n", name, t1, t2,
					next && X509_cmp_current_time(next) <= 0 ? " (PASSED)" : "",
					sk_X509_REVOKED_num(X509_CRL_get_REVOKED(x)));
			X509_CRL_free(x);
		} else {
			X509 *x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
			int valid;

			if (x == NULL)
				break;
			fmt_subject(x, name, sizeof(name));
			fmt_time(X509_get0_notAfter(x), t1, sizeof(t1));
			valid = X509_cmp_current_time(X509_get0_notAfter(x)) > 0 &&
				X509_cmp_current_time(X509_get0_notBefore(x)) < 0;
			if (!valid)
				(*stale)++;
			if (out && json) {
				fprintf(out, "%s{\"subject\":", n ? "," : "");
				json_str(out, name);
				fprintf(out, ",\"not_after\":");
				json_str(out, t1);
				fprintf(out, ",\"valid_now\":%s,\"ca\":%s}", valid ? "true" : "false",
					X509_check_ca(x) ? "true" : "false");
			} else if (out)
				fprintf(out, "%s  notAfter %s%s%s\n", name, t1, valid ? "" : " (NOT VALID NOW)",
					X509_check_ca(x) ? "  CA" : "  (not a CA certificate)");
			X509_free(x);
		}
		n++;
	}
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE)
		n = -1;
	ERR_clear_error();
	BIO_free(b);
	return n;
}

/* ca|crl set FILE [--force]. */
static int trust_set(int argc, char **argv, int crl)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *what = crl ? "crl" : "ca", *hlp = crl ? crlset_help : caset_help;
	const char *kind = crl ? "CRL" : "certificate";
	char *text = NULL;
	redisContext *c = NULL;
	redisReply *r;
	int opt, force = 0, n, stale, rc = EX_FAIL;

	opt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'f': force = 1; break;
		case 'h': return help(hlp);
		default: return usage_error(hlp, "%s set: %s", what, bad_opt(argv));
		}
	}
	if (argc - optind != 1)
		return usage_error(hlp, "%s set: one FILE expected", what);
	if ((text = slurp(argv[optind])) == NULL)
		return EX_FAIL;
	n = trust_scan(text, strlen(text), crl, NULL, 0, &stale);
	if (n <= 0) {
		say("%s set: %s: %s", what, argv[optind], n == 0 ? (crl ? "no PEM CRL" : "no PEM certificate") :
		    crl ? "a PEM block is not a CRL that parses" : "a PEM block is not a certificate that parses");
		goto out;
	}
	if (stale) {
		if (!force) {
			say("%s set: %s: %d %s%s not valid now (see below); --force stores %s anyway", what,
			    argv[optind], stale, kind, stale == 1 ? " is" : "s are", stale == 1 ? "it" : "them");
			trust_scan(text, strlen(text), crl, stderr, 0, &stale);
			goto out;
		}
		say("note: %d %s%s not valid now", stale, kind, stale == 1 ? " is" : "s are");
	}
	if ((c = rds_connect()) == NULL)
		goto out;
	r = rds_cmdv(c, "SET", rkey(crl ? RK_CRL : RK_CA), text, NULL);
	if (r == NULL)
		goto out;
	freeReplyObject(r);
	printf("%s: %d %s%s stored:\n", rkey(crl ? RK_CRL : RK_CA), n, kind, n == 1 ? "" : "s");
	trust_scan(text, strlen(text), crl, stdout, 0, &stale);
	rc = publish(c, EV_CERTS) == 0 ? EX_OK : EX_FAIL;
out:
	if (c != NULL)
		redisFree(c);
	free(text);
	return rc;
}

/* ca|crl show [--json]. */
static int trust_show(int argc, char **argv, int crl)
{
	const char *what = crl ? "crl" : "ca", *hlp = crl ? crlshow_help : cashow_help;
	redisContext *c;
	redisReply *r;
	int ex, json, stale, rc = EX_OK;

	if ((ex = json_only(argc, argv, hlp, hlp, crl ? "crl show" : "ca show", &json)) >= 0)
		return ex;
	if ((c = rds_connect()) == NULL)
		return EX_FAIL;
	r = rds_cmdv(c, "GET", rkey(crl ? RK_CRL : RK_CA), NULL);
	if (r == NULL) {
		redisFree(c);
		return EX_FAIL;
	}
	if (r->type == REDIS_REPLY_STRING && trust_scan(r->str, r->len, crl, NULL, 0, &stale) <= 0) {
		say("%s show: %s holds no usable PEM %s (mxgate-control does not push it)",
		    what, rkey(crl ? RK_CRL : RK_CA), crl ? "CRLs" : "certificates");
		rc = EX_FAIL;
	} else if (json) {
		putchar('[');
		if (r->type == REDIS_REPLY_STRING)
			trust_scan(r->str, r->len, crl, stdout, 1, &stale);
		printf("]\n");
	} else if (r->type != REDIS_REPLY_STRING) {
		printf("no %s in Redis (%s): mxgate uses %s\n", crl ? "CRL" : "CA", rkey(crl ? RK_CRL : RK_CA),
		       crl ? "tls_crl_file" : "tls_ca_file / tls_ca_dir");
	} else {
		trust_scan(r->str, r->len, crl, stdout, 0, &stale);
	}
	freeReplyObject(r);
	redisFree(c);
	return rc;
}

/* ca|crl del. */
static int trust_del(int argc, char **argv, int crl)
{
	const char *what = crl ? "crl" : "ca", *hlp = crl ? crldel_help : cadel_help;
	redisContext *c;
	redisReply *r;
	long long had;
	int ex, rc = EX_FAIL;

	if ((ex = help_only(argc, argv, hlp, hlp, crl ? "crl del" : "ca del")) >= 0)
		return ex;
	if (optind != argc)
		return usage_error(hlp, "%s del: unexpected argument %s", what, argv[optind]);
	if ((c = rds_connect()) == NULL)
		return EX_FAIL;
	r = rds_cmdv(c, "DEL", rkey(crl ? RK_CRL : RK_CA), NULL);
	if (r == NULL)
		goto out;
	had = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
	freeReplyObject(r);
	if (had == 0) {
		say("%s del: no %s in Redis (%s)", what, crl ? "CRL" : "CA", rkey(crl ? RK_CRL : RK_CA));
		goto out;
	}
	printf("%s deleted: mxgate uses %s again\n", rkey(crl ? RK_CRL : RK_CA),
	       crl ? "tls_crl_file" : "tls_ca_file / tls_ca_dir");
	rc = publish(c, EV_CERTS) == 0 ? EX_OK : EX_FAIL;
out:
	redisFree(c);
	return rc;
}

/* ca|crl SUBCOMMAND. */
static int trust_cmd(int argc, char **argv, int crl)
{
	const char *what = crl ? "crl" : "ca", *usage = crl ? crl_usage : ca_usage;

	if (argc < 2)
		return usage_error(usage, "%s: which subcommand?", what);
	if (is_help(argv[1]))
		return help(crl ? crl_help : ca_help);
	if (strcmp(argv[1], "set") == 0)
		return trust_set(argc - 1, argv + 1, crl);
	if (strcmp(argv[1], "show") == 0)
		return trust_show(argc - 1, argv + 1, crl);
	if (strcmp(argv[1], "del") == 0)
		return trust_del(argc - 1, argv + 1, crl);
	return usage_error(usage, "%s: unknown subcommand %s", what, argv[1]);
}

int cmd_ca(int argc, char **argv)
{
	return trust_cmd(argc, argv, 0);
}

int cmd_crl(int argc, char **argv)
{
	return trust_cmd(argc, argv, 1);
}

/* ---- tickets ---- */

static const char tickets_usage[] = "usage: mxctl tickets rotate\n";
static const char tickets_help[] =
	"usage: mxctl tickets rotate\n"
	"\n"
	"Session-ticket keys in Redis (hash <prefix>tickets, fields current and\n"
	"previous, 48 bytes as 96 hex characters each), shared by the fleet so that\n"
	"TLS resumption works on every appliance.\n"
	"\n"
	"  rotate   a new random current key; the old current becomes previous (tickets\n"
	"           it issued still resume); publishes \"tickets\" on <prefix>events\n";

/* True if s is a ticket key: 96 hex characters. */
static int ticket_hex_ok(const char *s)
{
	return strlen(s) == 2 * TICKET_KEY_LEN &&
	       strspn(s, "0123456789abcdefABCDEF") == 2 * TICKET_KEY_LEN;
}

/* A new random key as hex; 0 or -1 (said). */
static int new_key(char out[2 * TICKET_KEY_LEN + 1])
{
	unsigned char k[TICKET_KEY_LEN];
	size_t got = 0;

	while (got < sizeof(k)) {
		ssize_t n = getrandom(k + got, sizeof(k) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			say("getrandom: %s", strerror(errno));
			return -1;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(k); i++)
		sprintf(out + 2 * i, "%02x", k[i]);
	memset(k, 0, sizeof(k));
	return 0;
}

/* First 8 bytes of SHA-256 of a hex key, as hex: names a key without showing it. */
static void fingerprint(const char *hex, char out[17])
{
	unsigned char d[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)hex, strlen(hex), d);
	for (int i = 0; i < 8; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* tickets rotate. */
static int tickets_rotate(int argc, char **argv)
{
	char cur[2 * TICKET_KEY_LEN + 1], prev[2 * TICKET_KEY_LEN + 1], fc[17], fp[17];
	const char *tk;
	redisContext *c;
	int ex, rc = EX_FAIL, attempt;

	if ((ex = help_only(argc, argv, tickets_help, tickets_help, "tickets rotate")) >= 0)
		return ex;
	if (optind != argc)
		return usage_error(tickets_help, "tickets rotate: unexpected argument %s", argv[optind]);
	if ((c = rds_connect()) == NULL)
		return EX_FAIL;
	tk = rkey(RK_TICKETS);
	for (attempt = 0; attempt < 10; attempt++) {
		const char *watch[] = { "WATCH", tk };
		const char *multi[] = { "MULTI" };
		const char *hset[] = { "HSET", tk, "current", cur, "previous", prev };
		redisReply *r;
		int e;

		if (run(c, 2, watch) != 0)
			goto out;
		r = rds_cmdv(c, "HGET", tk, "current", NULL);
		if (r == NULL)
			goto out;
		if (r->type == REDIS_REPLY_STRING && ticket_hex_ok(r->str)) {
			snprintf(prev, sizeof(prev), "%s", r->str);
		} else {
			/* no usable current key: a random previous key resumes nothing, harmlessly */
			if (r->type == REDIS_REPLY_STRING)
				say("note: %s current was not 96 hex characters: replaced", tk);
			if (new_key(prev) != 0) {
				freeReplyObject(r);
				goto out;
			}
		}
		freeReplyObject(r);
		if (new_key(cur) != 0)
			goto out;
		if (run(c, 1, multi) != 0)
			goto out;
		if (run(c, 6, hset) != 0) {
			discard(c);
			goto out;
		}
		e = exec_ok(c);
		if (e < 0)
			goto out;
		if (e == 0)
			break;
	}
	if (attempt == 10) {
		say("tickets rotate: the keys kept changing under us; try again");
		goto out;
	}
	fingerprint(cur, fc);
	fingerprint(prev, fp);
	printf("ticket keys rotated: current %s, previous %s (SHA-256 fingerprints)\n", fc, fp);
	rc = publish(c, EV_TICKETS) == 0 ? EX_OK : EX_FAIL;
out:
	memset(cur, 0, sizeof(cur));
	memset(prev, 0, sizeof(prev));
	redisFree(c);
	return rc;
}

/* tickets SUBCOMMAND. */
int cmd_tickets(int argc, char **argv)
{
	if (argc < 2)
		return usage_error(tickets_usage, "tickets: which subcommand?");
	if (is_help(argv[1]))
		return help(tickets_help);
	if (strcmp(argv[1], "rotate") == 0)
		return tickets_rotate(argc - 1, argv + 1);
	return usage_error(tickets_usage, "tickets: unknown subcommand %s", argv[1]);
}

/* ---- reload ---- */

static const char reload_help[] =
	"usage: mxctl reload [--force]\n"
	"\n"
	"Ask every mxgate-control of the fleet to resynchronise from Redis: publishes\n"
	"\"policy VERSION\", \"certs\", \"tickets\" and \"users\" on <prefix>events, as the writes\n"
	"do. Use it after changing the Redis keys by other means, or when a publish\n"
	"failed. Exit 1 when nobody listens on the channel.\n"
	"\n"
	"  --force   first re-stamp the generation marker <prefix>generation: accept the\n"
	"            store as it is now. An mxgate-control that found Redis without its\n"
	"            marker (Redis lost its data) keeps the last good state and pushes\n"
	"            nothing until then; after --force it reads and pushes what Redis\n"
	"            holds, an empty user set or new ticket keys included.\n";

/* reload: publish every event. */
int cmd_reload(int argc, char **argv)
{
	static const char *const events[] = { NULL, EV_CERTS, EV_TICKETS, EV_USERS };
	redisContext *c;
	long long version, n, most = 0;
	char ev[64];
	int opt, force = 0;
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};

	opt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'h')
			return help(reload_help);
		if (opt != 'f')
			return usage_error(reload_help, "reload: %s", bad_opt(argv));
		force = 1;
	}
	if (optind != argc)
		return usage_error(reload_help, "reload: unexpected argument %s", argv[optind]);
	if ((c = rds_connect()) == NULL)
		return EX_FAIL;
	if (force) {
		unsigned char b[8];
		char v[GEN_MAX + 1];
		redisReply *r;

		if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
			redisFree(c);
			return fail("reload --force: no randomness: %s", strerror(errno));
		}
		for (size_t i = 0; i < sizeof(b); i++)
			sprintf(v + 2 * i, "%02x", b[i]);
		snprintf(v + 16, sizeof(v) - 16, " %s", GEN_BY_MXCTL);
		r = rds_cmdv(c, "SET", rkey(RK_GENERATION), v, NULL);
		if (!r) {
			redisFree(c);
			return EX_FAIL;
		}
		freeReplyObject(r);
		printf("stamped %s \"%s\": the store as it is now is accepted\n", rkey(RK_GENERATION), v);
	}
	version = rds_policy_version(c);
	if (version < 0) {
		redisFree(c);
		return EX_FAIL;
	}
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		if (events[i] == NULL)
			snprintf(ev, sizeof(ev), EV_POLICY " %lld", version);
		else
			snprintf(ev, sizeof(ev), "%s", events[i]);
		n = rds_publish(c, ev);
		if (n < 0) {
			redisFree(c);
			return EX_FAIL;
		}
		if (n > most)
			most = n;
		printf("published \"%s\" on %s: %lld listener%s\n", ev, rkey(RK_EVENTS), n,
		       n == 1 ? "" : "s");
	}
	redisFree(c);
	if (most == 0)
		return fail("reload: nobody listens on %s: is mxgate-control running?", rkey(RK_EVENTS));
	return EX_OK;
}
