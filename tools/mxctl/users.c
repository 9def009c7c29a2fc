/*
 * users.c - "mxctl user": SMTP AUTH users in Redis, one string per user,
 * <prefix>auth:<user> = crypto/passwd.h's "$scrypt$..." hash (made here
 * with passwd_make(), a fresh salt each time), each change followed by
 * PUBLISH "users" on <prefix>events; mxgate-control pushes the whole set
 * to mxgate (CTL_SET_USERS). Passwords are read from a file or stdin and
 * never printed; hashes are never printed either.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "crypto/passwd.h"
#include "common/ctl_payload.h"
#include "tools/mxctl/mxctl.h"

#define PASSWORD_MAX    1024            /* longest password line taken */

static const char user_usage[] =
	"usage: mxctl user add NAME [--password-file FILE] [--cost ln=N,r=N,p=N]\n"
	"       mxctl user del NAME\n"
	"       mxctl user list [--check] [--json]\n";
static const char user_help[] =
	"usage: mxctl user SUBCOMMAND ...   (mxctl user SUBCOMMAND --help for each)\n"
	"\n"
	"SMTP AUTH users in Redis: the string <prefix>auth:NAME holds the salted scrypt\n"
	"hash of the password (\"$scrypt$ln=..,r=..,p=..$salt$key\"). mxgate-control pushes\n"
	"every valid user to mxgate; every change publishes \"users\" on <prefix>events.\n"
	"\n"
	"  add NAME [--password-file FILE] [--cost ln=N,r=N,p=N]\n"
	"                       add a user or set a new password\n"
	"  del NAME             remove a user\n"
	"  list [--check] [--json]\n"
	"                       the user names (never the hashes)\n";
static const char add_help[] =
	"usage: mxctl user add NAME [--password-file FILE] [--cost ln=N,r=N,p=N]\n"
	"\n"
	"Store user NAME (1..255 octets, no space or control character) with the\n"
	"scrypt hash of its password, replacing any earlier one, and publish \"users\".\n"
	"The password is the first line of FILE, else of stdin (asked for without echo\n"
	"on a terminal); its trailing newline (and CR) is not part of it; an empty\n"
	"password is refused. Neither the password nor the hash is printed.\n"
	"\n"
	"  --password-file FILE  read the password from FILE\n"
	"  --cost ln=N,r=N,p=N   scrypt cost: N = 2^ln (10..20), block size r (1..32),\n"
	"                        parallelism p (1..4), 128*r*N*p at most 64 MiB;\n"
	"                        default ln=14,r=8,p=1 (16 MiB, tens of ms per check)\n";
static const char del_help[] =
	"usage: mxctl user del NAME\n\nRemove user NAME and publish \"users\". Exit 1 if there is none.\n";
static const char list_help[] =
	"usage: mxctl user list [--check] [--json]\n"
	"\n"
	"The names of the users in Redis, sorted, one a line (SCAN, never KEYS). The\n"
	"hashes are never shown. --check: also say which entries mxgate-control skips\n"
	"(hash unusable or name invalid), and exit 1 if any.\n"
	"\n"
	"  --json   a JSON array, one object per user: {\"name\":\"alice\"}; with --check\n"
	"           also \"valid\":true|false and, when false, \"skipped\":\"why\"\n";

/* "ln=14,r=8,p=1" (any of them, any order); 0 or -1. */
static int parse_cost(const char *s, unsigned *ln, unsigned *r, unsigned *p)
{
	char buf[64], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *e;
		unsigned long v;

		if (eq == NULL || eq[1] == '\0')
			return -1;
		*eq = '\0';
		errno = 0;
		v = strtoul(eq + 1, &e, 10);
		if (*e || errno || v > 1000)
			return -1;
		if (strcmp(tok, "ln") == 0)
			*ln = (unsigned)v;
		else if (strcmp(tok, "r") == 0)
			*r = (unsigned)v;
		else if (strcmp(tok, "p") == 0)
			*p = (unsigned)v;
		else
			return -1;
	}
	return 0;
}

/* The first line of f into pw (newline and CR stripped); its length, or -1 (said). */
static long read_password(FILE *f, const char *from, char *pw, size_t pwlen)
{
	size_t n;

	if (fgets(pw, (int)pwlen, f) == NULL) {
		if (ferror(f))
			say("user add: reading the password from %s: %s", from, strerror(errno));
		else
			say("user add: no password on %s", from);
		return -1;
	}
	n = strlen(pw);
	if (n == pwlen - 1 && pw[n - 1] != '\n' && !feof(f)) {
		say("user add: password from %s longer than %d bytes", from, PASSWORD_MAX);
		return -1;
	}
	if (n && pw[n - 1] == '\n')
		pw[--n] = '\0';
	if (n && pw[n - 1] == '\r')
		pw[--n] = '\0';
	if (memchr(pw, '\0', n) != NULL || strlen(pw) != n) {
		say("user add: NUL byte in the password from %s", from);
		return -1;
	}
	return (long)n;
}

/* user add NAME [--password-file FILE] [--cost ...]. */
static int user_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "password-file", required_argument, NULL, 'p' },
		{ "cost", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *cost = NULL, *name, *bad;
	unsigned ln = PASSWD_LN_DEFAULT, r = PASSWD_R_DEFAULT, p = PASSWD_P_DEFAULT;
	char pw[PASSWORD_MAX + 2], hash[PASSWD_STR_MAX + 1], why[128], key[CFG_NAME_LEN + 8 + USER_NAME_MAX];
	struct termios old, quiet;
	redisContext *c;
	redisReply *rep;
	long n;
	int opt, rc = EX_FAIL, tty = 0;

	opt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p': file = optarg; break;
		case 'c': cost = optarg; break;
		case 'h': return help(add_help);
		default: return usage_error(add_help, "user add: %s", bad_opt(argv));
		}
	}
	if (argc - optind != 1)
		return usage_error(add_help, "user add: one NAME expected");
	name = argv[optind];
	if ((bad = ctl_user_name_bad(name, strlen(name))) != NULL)
		return usage_error(add_help, "user add: NAME: %s", bad);
	if (cost != NULL && parse_cost(cost, &ln, &r, &p) != 0)
		return usage_error(add_help, "user add: --cost %s: expected ln=N,r=N,p=N", cost);
	/* before the password is asked for */
	if (!passwd_cost_ok(ln, r, p))
		return usage_error(add_help, "user add: --cost %s: cannot hash with it: out of bounds "
				   "(10<=ln<=20, 1<=r<=32, 1<=p<=4, 128*r*2^ln*p at most 64 MiB)", cost);

	if (file != NULL) {
		FILE *f = fopen(file, "r");

		if (f == NULL)
			return fail("user add: %s: %s", file, strerror(errno));
		n = read_password(f, file, pw, sizeof(pw));
		fclose(f);
	} else {
		if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tty = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
			fprintf(stderr, "password for %s: ", name);
		}
		n = read_password(stdin, "stdin", pw, sizeof(pw));
		if (tty) {
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
			fputc('\n', stderr);
		}
	}
	if (n < 0)
		goto out;
	if (n == 0) {
		say("user add: empty password refused");
		goto out;
	}
	if (passwd_make((const uint8_t *)pw, (size_t)n, ln, r, p, hash, sizeof(hash), why,
			sizeof(why)) != 0) {
		say("user add: cannot hash the password: %s", why);
		goto out;
	}
	if ((c = rds_connect()) == NULL)
		goto out;
	snprintf(key, sizeof(key), "%s%s", rkey(RK_AUTH), name);
	rep = rds_cmdv(c, "SET", key, hash, NULL);
	if (rep != NULL) {
		freeReplyObject(rep);
		printf("user %s stored (scrypt ln=%u r=%u p=%u)\n", name, ln, r, p);
		rc = rds_publish(c, EV_USERS) < 0 ? EX_FAIL : EX_OK;
		if (rc != EX_OK)
			say("written, but publishing \"users\" failed: run mxctl reload");
	}
	redisFree(c);
out:
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(hash, sizeof(hash));
	return rc;
}

/* user del NAME. */
static int user_del(int argc, char **argv)
{
	char key[CFG_NAME_LEN + 8 + USER_NAME_MAX];
	redisContext *c;
	redisReply *r;
	int ex, rc = EX_FAIL;

	if ((ex = help_only(argc, argv, del_help, del_help, "user del")) >= 0)
		return ex;
	if (argc - optind != 1)
		return usage_error(del_help, "user del: one NAME expected");
	/* any non-empty name: bad entries must be removable too */
	if (argv[optind][0] == '\0')
		return usage_error(del_help, "user del: NAME: empty");
	if ((c = rds_connect()) == NULL)
		return EX_FAIL;
	snprintf(key, sizeof(key), "%s%s", rkey(RK_AUTH), argv[optind]);
	r = rds_cmdv(c, "DEL", key, NULL);
	if (r != NULL) {
		if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
			printf("user %s deleted\n", argv[optind]);
			rc = rds_publish(c, EV_USERS) < 0 ? EX_FAIL : EX_OK;
			if (rc != EX_OK)
				say("deleted, but publishing \"users\" failed: run mxctl reload");
		} else {
			say("user del: no user %s (%s)", argv[optind], key);
		}
		freeReplyObject(r);
	}
	redisFree(c);
	return rc;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A glob pattern matching the keys of every user. */
static void user_pattern(char *out, size_t outlen)
{
	const char *k = rkey(RK_AUTH);
	size_t o = 0;

	for (; *k && o + 3 < outlen; k++) {
		if (strchr("*?[]\\", *k))
			out[o++] = '\\';
		out[o++] = *k;
	}
	out[o++] = '*';
	out[o] = '\0';
}

/* user list [--check]. */
static int user_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char pat[2 * CFG_NAME_LEN + 16], cursor[32] = "0";
	size_t plen, n = 0, cap = 0, i;
	char **names = NULL;
	redisContext *c;
	int opt, check = 0, json = 0, rc = EX_OK, bad = 0, shown = 0;

	opt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': check = 1; break;
		case 'j': json = 1; break;
		case 'h': return help(list_help);
		default: return usage_error(list_help, "user list: %s", bad_opt(argv));
		}
	}
	if (optind != argc)
		return usage_error(list_help, "user list: unexpected argument %s", argv[optind]);
	if ((c = rds_connect()) == NULL)
		return EX_FAIL;
	plen = strlen(rkey(RK_AUTH));     /* after the configuration (redis_prefix) is read */
	user_pattern(pat, sizeof(pat));
	do {
		redisReply *r = rds_cmdv(c, "SCAN", cursor, "MATCH", pat, "COUNT", "1000", NULL), *keys;

		if (r == NULL) {
			rc = EX_FAIL;
			goto out;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof(cursor) ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			rc = fail("redis SCAN: unexpected reply");
			goto out;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
		keys = r->element[1];
		for (i = 0; i < keys->elements; i++) {
			const redisReply *k = keys->element[i];

			if (k->type != REDIS_REPLY_STRING || k->len <= plen)
				continue;
			if (n == cap) {
				char **v = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*v));

				if (v == NULL) {
					freeReplyObject(r);
					rc = fail("out of memory");
					goto out;
				}
				names = v;
			}
			if ((names[n] = strndup(k->str + plen, k->len - plen)) == NULL) {
				freeReplyObject(r);
				rc = fail("out of memory");
				goto out;
			}
			n++;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	if (n)
		qsort(names, n, sizeof(*names), str_cmp);
	if (json)
		putchar('[');
	for (i = 0; i < n; i++) {
		const char *why = NULL;
		char whybuf[128], key[CFG_NAME_LEN + 8 + USER_NAME_MAX + 1];

		if (i && strcmp(names[i], names[i - 1]) == 0)
			continue;               /* SCAN may return a key twice */
		if (check) {
			why = strlen(names[i]) > USER_NAME_MAX ? "name longer than 255 octets" :
			      ctl_user_name_bad(names[i], strlen(names[i]));
			if (why == NULL) {
				redisReply *v;
				struct passwd_hash h;

				snprintf(key, sizeof(key), "%s%s", rkey(RK_AUTH), names[i]);
				v = rds_cmdv(c, "GET", key, NULL);
				if (v == NULL) {
					why = "not a string";
				} else if (v->type != REDIS_REPLY_STRING) {
					why = v->type == REDIS_REPLY_NIL ? NULL : "not a string";
				} else if (passwd_parse(v->str, v->len, &h, whybuf, sizeof(whybuf)) != 0) {
					why = whybuf;
				}
				if (v != NULL)
					freeReplyObject(v);
			}
		}
		bad += why != NULL;
		if (json) {
			printf("%s{\"name\":", shown++ ? "," : "");
			json_str(stdout, names[i]);
			if (check)
				printf(",\"valid\":%s", why ? "false" : "true");
			if (why) {
				printf(",\"skipped\":");
				json_str(stdout, why);
			}
			putchar('}');
		} else {
			text_safe(stdout, names[i]);    /* what Redis holds */
			if (why)
				printf("  (SKIPPED by mxgate-control: %s)", why);
			putchar('\n');
		}
	}
	if (json)
		printf("]\n");
	if (bad)
		rc = EX_FAIL;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	redisFree(c);
	return rc;
}

/* user SUBCOMMAND. */
int cmd_user(int argc, char **argv)
{
	if (argc < 2)
		return usage_error(user_usage, "user: which subcommand?");
	if (is_help(argv[1]))
		return help(user_help);
	if (strcmp(argv[1], "add") == 0)
		return user_add(argc - 1, argv + 1);
	if (strcmp(argv[1], "del") == 0)
		return user_del(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return user_list(argc - 1, argv + 1);
	return usage_error(user_usage, "user: unknown subcommand %s", argv[1]);
}
