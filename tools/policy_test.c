/*
 * policy_test.c - try an access file against one imaginary SMTP session,
 * like sendmail -bt: every lookup of every stage and the decision.
 *
 *   policy_test -f ACCESSFILE --client IP [--name N] [--helo H]
 *               [--verify V [--bits N]] [--cert-issuer DN --cert-subject DN]
 *               [--cn CN] [--auth] [--from A] [--to A]...
 *
 * Stages run in session order: connect (with Srv_Features and Limit),
 * STARTTLS (when --verify is given), MAIL (--from), RCPT (each --to). A
 * rejected connect or MAIL ends the session, as it would. DNs and the CN
 * are given raw (X509_NAME_oneline's "/C=US/CN=..." form) and quoted here.
 * Exit status: 0 accepted, 1 something was rejected, 2 usage or a bad file.
 * Build: gcc -std=gnu11 -I. policy/policy.c tools/policy_test.c -o build/policy_test
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

#define MAX_RCPTS 64

/* Print the usage and exit 2. */
static void usage(void)
{
	fprintf(stderr,
		"usage: policy_test -f ACCESSFILE --client IP [--name N] [--helo H]\n"
		"                   [--verify OK|NO|NOT|FAIL|NONE|TEMP|PROTOCOL|SOFTWARE [--bits N]]\n"
		"                   [--cert-issuer DN --cert-subject DN] [--cn CN] [--auth]\n"
		"                   [--from ADDR] [--to ADDR]...\n");
	exit(2);
}

/* Print a trace, indented, and empty it. */
static void show_trace(struct pol_trace *t)
{
	for (unsigned i = 0; i < t->n; i++)
		printf("  %s\n", t->line[i]);
	if (t->dropped)
		printf("  (%u more lines dropped)\n", t->dropped);
	pol_trace_init(t);
}

/* Print a stage's result: 1 when it rejected. */
static int show_result(struct pol_trace *t, const struct pol_result *r)
{
	char line[POL_TEXT_MAX + 32];

	show_trace(t);
	pol_result_format(r, line, sizeof(line));
	if (r->rule[0])
		printf("  => %s (%s)\n", line, r->rule);
	else
		printf("  => %s\n", line);
	return r->action == POL_REJECT;
}

/* Srv_Features letters of one mask, upper or lower case. */
static void letters(uint32_t m, int lower, char *out)
{
	for (int i = 0; i < 26; i++)
		if (m & (1u << i))
			*out++ = (char)((lower ? 'a' : 'A') + i);
	*out = 0;
}

/* Load, build, run the stages of one session, print each trace and decision. */
int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "client", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },
		{ "helo", required_argument, NULL, 'h' },
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "verify", required_argument, NULL, 'v' },
		{ "bits", required_argument, NULL, 'b' },
		{ "cert-issuer", required_argument, NULL, 'i' },
		{ "cert-subject", required_argument, NULL, 's' },
		{ "cn", required_argument, NULL, 'C' },
		{ "auth", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const verifies[] = {
		"OK", "NO", "NOT", "FAIL", "NONE", "TEMP", "PROTOCOL", "SOFTWARE", NULL,
	};
	static char issuer[POL_KEY_MAX], subject[POL_KEY_MAX], cn[POL_KEY_MAX];
	static struct pol_trace t;
	const char *file = NULL, *client = NULL, *from = NULL, *to[MAX_RCPTS];
	unsigned nto = 0;
	struct pol_client c;
	struct pol_builder *b;
	struct pol_snapshot *s;
	struct pol_result r;
	struct pol_features f;
	struct pol_limits l;
	char err[1024], as[64];
	int opt, rejected = 0, ok;

	memset(&c, 0, sizeof(c));
	while ((opt = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
		switch (opt) {
		case 'f': file = optarg; break;
		case 'c': client = optarg; break;
		case 'n': c.name = optarg; break;
		case 'h': c.helo = optarg; break;
		case 'F': from = optarg; break;
		case 'T':
			if (nto == MAX_RCPTS)
				usage();
			to[nto++] = optarg;
			break;
		case 'v': c.verify = optarg; break;
		case 'b': c.cipher_bits = atoi(optarg); break;
		case 'i': pol_dn_quote(optarg, issuer, sizeof(issuer)); c.cert_issuer = issuer; break;
		case 's': pol_dn_quote(optarg, subject, sizeof(subject)); c.cert_subject = subject; break;
		case 'C': pol_dn_quote(optarg, cn, sizeof(cn)); c.cn_subject = cn; break;
		case 'a': c.auth = 1; break;
		default: usage();
		}
	}
	if (!file || !client || optind != argc)
		usage();
	if (pol_addr_parse(client, &c.addr) < 0) {
		fprintf(stderr, "policy_test: --client %s: not an IPv4 or IPv6 address\n", client);
		return 2;
	}
	if (c.verify) {
		ok = 0;
		for (int i = 0; verifies[i]; i++)
			ok |= !strcmp(c.verify, verifies[i]);
		if (!ok) {
			fprintf(stderr, "policy_test: --verify %s: not a {verify} value\n", c.verify);
			return 2;
		}
		/* the handshake completed unless it failed (SOFTWARE, PROTOCOL) */
		c.tls = strcmp(c.verify, "NONE") && strcmp(c.verify, "SOFTWARE") &&
			strcmp(c.verify, "PROTOCOL");
	}

	b = pol_builder_new();
	if (!b || pol_load_file(b, file, err, sizeof(err)) < 0 ||
	    !(s = pol_build(b, err, sizeof(err)))) {
		fprintf(stderr, "policy_test: %s\n", b ? err : "out of memory");
		pol_builder_free(b);
		return 2;
	}
	printf("%s: %zu entries\n", file, pol_snapshot_count(s));
	pol_builder_free(b);

	pol_addr_format(&c.addr, as, sizeof(as));
	printf("\nconnect from %s[%s]%s%s\n", c.name ? c.name : "unknown", as,
	       c.helo ? " helo=" : "", c.helo ? c.helo : "");
	r = pol_check_connect(s, &c, &t);
	if (show_result(&t, &r)) {
		printf("(the session ends)\n");
		pol_snapshot_free(s);
		return 1;
	}

	printf("\nSrv_Features\n");
	if (pol_srv_features(s, &c, &f, &t)) {
		char off[27], on[27];

		letters(f.off, 0, off);
		letters(f.on, 1, on);
		show_trace(&t);
		printf("  => off %s, on %s\n", off[0] ? off : "-", on[0] ? on : "-");
	} else {
		show_trace(&t);
		printf("  => defaults\n");
	}

	printf("\nLimit\n");
	if (pol_limit(s, &c, &l, &t)) {
		show_trace(&t);
		printf("  => conn=%u rate=%u per %us (0 = no limit)\n", l.conn, l.rate, l.per_s);
	} else {
		show_trace(&t);
		printf("  => no limit\n");
	}

	if (c.verify) {
		printf("\nSTARTTLS verify=%s cipher_bits=%d\n", c.verify, c.cipher_bits);
		r = pol_check_tls(s, &c, &t);
		rejected |= show_result(&t, &r);
	}

	if (from) {
		printf("\nMAIL FROM:<%s>\n", from);
		r = pol_check_mail(s, &c, from, &t);
		if (show_result(&t, &r)) {
			printf("(no transaction: RCPT would get 503)\n");
			pol_snapshot_free(s);
			return 1;
		}
	}

	for (unsigned i = 0; i < nto; i++) {
		printf("\nRCPT TO:<%s>\n", to[i]);
		r = pol_check_rcpt(s, &c, to[i], &t);
		rejected |= show_result(&t, &r);
	}
	pol_snapshot_free(s);
	return rejected ? 1 : 0;
}
