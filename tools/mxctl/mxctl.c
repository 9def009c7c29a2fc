/*
 * mxctl.c - the operator's CLI for mxgate: global options, the command
 * table, the configuration (the same file mxgate reads, loaded only when a
 * command needs it), control-socket requests and small output helpers.
 * The commands live in gate.c (status, stats, sessions, drain, resume),
 * pol.c (policy) and keys.c (cert, tickets, reload); Redis helpers in
 * rds.c. Manual: docs/mxctl.1.
 *
 *   mxctl [-c FILE] [-s SOCKET] [-r REDIS] COMMAND [ARGS...]
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/strutil.h"
#include "tools/mxctl/mxctl.h"

#define DEFAULT_CONFIG "/etc/mxgate/mxgate.conf"

struct mxctl mx = { .prog = "mxctl" };

static const char main_help[] =
	"usage: mxctl [-c FILE] [-s SOCKET] [-r REDIS] COMMAND [ARGS...]\n"
	"\n"
	"The operator's CLI for mxgate: talks to mxgate over its control socket and\n"
	"to the fleet's Redis (policy, certificates, CA and CRL, ticket keys, SMTP AUTH\n"
	"users).\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE   mxgate's configuration file (default $MXCTL_CONFIG or\n"
	"                      " DEFAULT_CONFIG "): control_socket, redis_*\n"
	"  -s, --socket PATH   control socket instead of control_socket\n"
	"  -r, --redis SERVER  Redis instead of redis_server (unix:/path or host:port)\n"
	"  -h, --help          this help\n"
	"\n"
	"Commands (mxctl COMMAND --help for each):\n"
	"  status              mxgate's state, Redis reachability and policy version\n"
	"  stats               counters (Prometheus text or JSON), optionally repeated\n"
	"  sessions            live SMTP sessions\n"
	"  drain, resume       stop / restart accepting SMTP sessions\n"
	"  policy              access map in Redis: list get set del import export test push\n"
	"  cert                certificates in Redis: add list del push\n"
	"  ca, crl             client-certificate CA bundle / CRLs in Redis: set show del\n"
	"  user                SMTP AUTH users in Redis: add del list\n"
	"  tickets             session-ticket keys in Redis: rotate\n"
	"  reload              make mxgate-control resynchronise from Redis (--force:\n"
	"                      accept a store that lost its data, as it is now)\n"
	"\n"
	"Exit status: 0 done, 1 failure, 2 usage, 3 policy test: refused.\n";

/* The command table. */
static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "status", cmd_status },
	{ "stats", cmd_stats },
	{ "sessions", cmd_sessions },
	{ "drain", cmd_drain },
	{ "resume", cmd_resume },
	{ "policy", cmd_policy },
	{ "cert", cmd_cert },
	{ "ca", cmd_ca },
	{ "crl", cmd_crl },
	{ "user", cmd_user },
	{ "tickets", cmd_tickets },
	{ "reload", cmd_reload },
};

/* Print "mxctl: message" on stderr. */
static void vsay(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", mx.prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* "mxctl: " + message on stderr. */
void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

/* say() and return EX_FAIL. */
int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	return EX_FAIL;
}

/* Message and the usage text on stderr; EX_USAGE. */
int usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	fputs(usage, stderr);
	return EX_USAGE;
}

/* A command's help on stdout. */
int help(const char *text)
{
	fputs(text, stdout);
	return EX_OK;
}

/* True for the ways of asking a command group for help. */
int is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

/* Reset getopt for a new argv (glibc: optind 0 reinitialises); mxctl says what was wrong. */
void opt_reset(void)
{
	optind = 0;
	opterr = 0;
}

/* What getopt_long disliked, after it returned '?'. */
const char *bad_opt(char **argv)
{
	static char buf[160];
	const char *arg = optind > 0 ? argv[optind - 1] : "?";

	if (optopt != 0)
		snprintf(buf, sizeof(buf), "option %.100s needs an argument", arg);
	else
		snprintf(buf, sizeof(buf), "unknown option %.100s", arg);
	return buf;
}

/* A command whose only option is --help: parse it (see mxctl.h). */
int help_only(int argc, char **argv, const char *help_text, const char *usage, const char *cmd)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		return opt == 'h' ? help(help_text) : usage_error(usage, "%s: %s", cmd, bad_opt(argv));
	return -1;
}

/* A list command's --json and --help (see mxctl.h). */
int json_only(int argc, char **argv, const char *help_text, const char *usage, const char *cmd,
	      int *json)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	*json = 0;
	opt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'j')
			*json = 1;
		else
			return opt == 'h' ? help(help_text) : usage_error(usage, "%s: %s", cmd, bad_opt(argv));
	}
	if (optind != argc)
		return usage_error(usage, "%s: unexpected argument %s", cmd, argv[optind]);
	return -1;
}

/* Settle which configuration file is meant: -c, $MXCTL_CONFIG, the default. */
static void config_choose(void)
{
	const char *env;

	if (mx.config_path != NULL)
		return;
	env = getenv("MXCTL_CONFIG");
	if (env != NULL && env[0] != '\0') {
		mx.config_path = env;
		mx.config_explicit = 1;
	} else {
		mx.config_path = DEFAULT_CONFIG;
	}
}

/* True if the configuration file is there to read. */
int config_exists(void)
{
	config_choose();
	return access(mx.config_path, R_OK) == 0;
}

/* Load the configuration once. */
const struct mx_config *need_config(void)
{
	char err[512];

	if (mx.config_loaded)
		return &mx.cfg;
	config_choose();
	if (cfg_load(mx.config_path, &mx.cfg, err, sizeof(err)) != 0) {
		say("%s", err);
		return NULL;
	}
	mx.config_loaded = 1;
	return &mx.cfg;
}

/* The control socket: -s, else control_socket from the configuration. */
const char *ctl_path(void)
{
	const struct mx_config *c;

	if (mx.socket_override != NULL)
		return mx.socket_override;
	c = need_config();
	if (c == NULL)
		return NULL;
	if (c->control_socket[0] == '\0') {
		say("%s: control_socket is not set (or use -s PATH)", mx.config_path);
		return NULL;
	}
	return c->control_socket;
}

/* One control request; the ERR reply becomes a message. */
int ctl_request(unsigned char type, const void *payload, size_t len, struct ctl_msg *m)
{
	const char *path = ctl_path();
	char err[512];

	if (path == NULL)
		return -1;
	if (ctl_call(path, type, payload, len, m, err, sizeof(err)) != 0) {
		say("%s", err);
		return -1;
	}
	if (m->type == CTL_ERR) {
		say("mxgate refused %s: %s", ctl_type_name(type), m->data);
		free(m->data);
		m->data = NULL;
		return -1;
	}
	if (m->type != CTL_OK && m->type != CTL_DATA) {
		say("%s: unexpected reply type %u from mxgate", ctl_type_name(type), m->type);
		free(m->data);
		m->data = NULL;
		return -1;
	}
	return 0;
}

/*
 * Write s as a JSON string. JSON is UTF-8 (RFC 8259): a byte that does not
 * start a well-formed UTF-8 sequence (binary junk in Redis) becomes U+FFFD,
 * so that the output always parses.
 */
void json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), n;

	fputc('"', f);
	for (; *p; p += n, left -= n) {
		n = 1;
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				fprintf(f, "\\u%04x", *p);
			} else if (*p < 0x80) {
				fputc(*p, f);
			} else if ((n = str_utf8_len((const char *)p, left)) != 0) {
				fwrite(p, 1, n, f);
			} else {
				fputs("\\ufffd", f);
				n = 1;
			}
		}
	}
	fputc('"', f);
}

static void text_escaped(FILE *f, const char *s, int lines)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), n;

	for (; *p; p += n, left -= n) {
		n = 1;
		if ((*p >= 0x20 && *p < 0x7f && *p != '\\') || (lines && *p == '\n'))
			fputc(*p, f);
		else if (*p >= 0x80 && (n = str_utf8_len((const char *)p, left)) != 0 &&
			 !(p[0] == 0xc2 && p[1] < 0xa0))      /* U+0080..U+009F: C1 controls */
			fwrite(p, 1, n, f);
		else
			fprintf(f, "\\x%02x", *p), n = 1;
	}
}

void text_safe(FILE *f, const char *s)
{
	text_escaped(f, s, 0);
}

void text_lines(FILE *f, const char *s)
{
	text_escaped(f, s, 1);
}

void text_pad(FILE *f, const char *s, int w)
{
	text_safe(f, s);
	for (int n = (int)strlen(s); n < w; n++)
		fputc(' ', f);
}

/* True if s is a JSON number (-?int[.frac][e[+-]exp]). */
static int is_json_number(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return 0;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

/* A number as a JSON number, anything else as a JSON string. */
void json_scalar(FILE *f, const char *s)
{
	if (is_json_number(s))
		fputs(s, f);
	else
		json_str(f, s);
}

/* Global options, then the command. */
int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "redis", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc;
	size_t i;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+c:s:r:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': mx.config_path = optarg; mx.config_explicit = 1; break;
		case 's': mx.socket_override = optarg; break;
		case 'r': mx.redis_override = optarg; break;
		case 'h': return help(main_help);
		default:
			return usage_error("usage: mxctl [-c FILE] [-s SOCKET] [-r REDIS] COMMAND [ARGS...]\n"
					   "       mxctl --help\n", "%s", bad_opt(argv));
		}
	}
	if (optind >= argc)
		return usage_error("usage: mxctl [-c FILE] [-s SOCKET] [-r REDIS] COMMAND [ARGS...]\n"
				   "       mxctl --help\n", "no command");
	if (strcmp(argv[optind], "help") == 0)
		return help(main_help);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0) {
			rc = commands[i].run(argc - optind, argv + optind);
			if (fflush(stdout) != 0 || ferror(stdout)) {
				say("writing the output: %s", strerror(errno));
				return EX_FAIL;
			}
			return rc;
		}
	return usage_error("usage: mxctl [-c FILE] [-s SOCKET] [-r REDIS] COMMAND [ARGS...]\n"
			   "       mxctl --help\n", "unknown command: %s", argv[optind]);
}
