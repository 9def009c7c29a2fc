/*
 * pol.c - "mxctl policy": the access map in the Redis hash <prefix>policy
 * (list, get, set, del, import, export), the policy test mode (a session
 * run through policy/ with a sendmail -bt style trace) and push (the whole
 * map straight to mxgate over the control socket).
 *
 * Every write is validated first: the whole resulting map is built with
 * pol_build(), and a map that does not build is refused with the entry and
 * why, nothing written. The write itself is WATCH (hash, version), read,
 * MULTI, HSET/HDEL, INCR <prefix>policy:version, EXEC, retried when another
 * writer got in between; then PUBLISH "policy <version>" on <prefix>events.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mxctl.h"
#include "common/strutil.h"
#include "policy/policy.h"
#include "policy/stage.h"

#define WRITE_ATTEMPTS  10      /* WATCH conflicts before giving up */
#define HSET_CHUNK      512     /* field/value pairs per HSET of an import */
#define MAX_RCPTS       64

static const char policy_usage[] =
	"usage: mxctl policy list [--json]\n"
	"       mxctl policy get KEY\n"
	"       mxctl policy set KEY VALUE...\n"
	"       mxctl policy del KEY\n"
	"       mxctl policy import FILE\n"
	"       mxctl policy export\n"
	"       mxctl policy test --client IP [--name N] [--helo H] [--from A] [--to A]...\n"
	"                         [--verify V [--bits N]] [--cert-issuer DN --cert-subject DN]\n"
	"                         [--cn CN] [--auth] [--file ACCESSFILE | --redis-only]\n"
	"                         [--backend IP [--backend-name N] [--backend-verify V [--backend-bits N]]]\n"
	"       mxctl policy push [--file ACCESSFILE [--version N]]\n";

static const char policy_help[] =
	"usage: mxctl policy SUBCOMMAND ...   (mxctl policy SUBCOMMAND --help for each)\n"
	"\n"
	"The access map (sendmail's access-map syntax, see policy/policy.h) kept in the\n"
	"Redis hash <prefix>policy, which every appliance's mxgate-control follows.\n"
	"Each mxgate lays it over its own access_file: a key in both is Redis's, every\n"
	"other entry of the file stays in force.\n"
	"\n"
	"  list [--json]         every entry, sorted\n"
	"  get KEY               one entry's value\n"
	"  set KEY VALUE...      add or replace an entry (VALUE words are joined by spaces)\n"
	"  del KEY               remove an entry\n"
	"  import FILE           replace the whole Redis map with an access file's entries\n"
	"                        (- = stdin)\n"
	"  export                the map as an access file\n"
	"  test ...              run one imaginary session through the map, with a trace\n"
	"  push ...              send the whole map to mxgate over the control socket\n"
	"\n"
	"Writes are validated as a whole map first: an invalid entry is refused with\n"
	"its key and why, and nothing is written. Each write increments\n"
	"<prefix>policy:version and publishes \"policy VERSION\" on <prefix>events,\n"
	"then says what it changed, one line per entry: \"added KEY VALUE\", \"replaced\n"
	"KEY OLD -> NEW\", \"removed KEY VALUE\" (and, when this host's access_file has\n"
	"the key, what that means for its entry).\n";

/* Help of each subcommand. */
static const char list_help[] =
	"usage: mxctl policy list [--json]\n\n"
	"Every entry of the policy hash, sorted by key, as aligned \"KEY VALUE\" columns\n"
	"(Redis's map only: each mxgate lays it over its access_file).\n"
	"\n"
	"  --json   {\"version\":N,\"entries\":[{\"key\":\"...\",\"value\":\"...\"},...]}\n";
static const char get_help[] =
	"usage: mxctl policy get KEY\n\n"
	"The value of KEY (keys compare case-insensitively). Exit 1 if there is none.\n";
static const char set_help[] =
	"usage: mxctl policy set KEY VALUE...\n\n"
	"Add KEY or replace its value (a key that differs only in case is replaced).\n"
	"The words of VALUE are joined with single spaces: mxctl policy set\n"
	"To:spam.example ERROR:550 5.7.1 go away. The whole resulting map is\n"
	"validated first; an invalid entry is refused and nothing is written.\n"
	"No other entry changes, in Redis or in any appliance's access_file. Says\n"
	"\"added KEY VALUE\", \"replaced KEY OLD -> NEW\" or \"unchanged KEY VALUE\".\n";
static const char del_help[] =
	"usage: mxctl policy del KEY\n\n"
	"Remove KEY (case-insensitive) from Redis and say \"removed KEY VALUE\". Exit 1\n"
	"if there is no such entry. Where an appliance's access_file has KEY, the\n"
	"file's entry is in force again there.\n";
static const char import_help[] =
	"usage: mxctl policy import FILE\n\n"
	"Replace the whole policy hash with the entries of an access file (\"-\" reads\n"
	"standard input): one \"KEY VALUE\" per line, '#' comment lines, blank lines.\n"
	"The file is validated as a whole first (errors name FILE:LINE); nothing is\n"
	"written unless all of it is valid. An empty file empties the map. Says, one\n"
	"line per entry, what was \"added\", \"replaced\" (OLD -> NEW) and \"removed\",\n"
	"then the counts. This is how an access_file seeds Redis; appliances keep their\n"
	"own access_file under Redis's map either way.\n";
static const char export_help[] =
	"usage: mxctl policy export\n\n"
	"The policy hash as an access file on standard output (a comment line with the\n"
	"version, then \"KEY<TAB>VALUE\" lines sorted by key); policy import reads it back.\n";
static const char test_help[] =
	"usage: mxctl policy test --client IP [--name N] [--helo H] [--from A] [--to A]...\n"
	"                         [--verify V [--bits N]] [--cert-issuer DN --cert-subject DN]\n"
	"                         [--cn CN] [--auth] [--file ACCESSFILE | --redis-only]\n"
	"                         [--backend IP [--backend-name N] [--backend-verify V [--backend-bits N]]]\n"
	"\n"
	"Run one imaginary SMTP session through the map from Redis laid over this host's\n"
	"access_file as mxgate lays them (or through ACCESSFILE alone, or Redis's map\n"
	"alone with --redis-only), and\n"
	"print every lookup and decision, like sendmail -bt, in mxgate's order: connect\n"
	"(then ClientRate/ClientConn/Limit, Srv_Features and GreetPause), MAIL (--from;\n"
	"with TLS_Clt after --verify), each\n"
	"RCPT (--to).\n"
	"\n"
	"  --client IP          the client's address (IPv4 or IPv6)\n"
	"  --name N             its verified PTR name (default: none, [address] is used)\n"
	"  --helo H             its HELO/EHLO argument (shown only)\n"
	"  --from A, --to A     MAIL FROM and RCPT TO addresses (--to may repeat)\n"
	"  --verify V           {verify} after STARTTLS: OK NO NOT FAIL NONE TEMP\n"
	"                       PROTOCOL SOFTWARE; --bits N its {cipher_bits}\n"
	"  --cert-issuer DN, --cert-subject DN, --cn CN\n"
	"                       the client certificate, raw (/C=US/CN=...): quoted here\n"
	"  --auth               the client authenticated (SMTP AUTH)\n"
	"  --file ACCESSFILE    an access file instead of Redis and access_file\n"
	"  --redis-only         Redis's map without this host's access_file\n"
	"  --backend IP         also (or only: --client is then optional) mxgate's side\n"
	"                       towards that backend: Try_TLS, TLS_Srv, AuthInfo\n"
	"  --backend-name N     its /name= in backends; --backend-verify V and\n"
	"                       --backend-bits N: its certificate after STARTTLS\n"
	"                       (OK NO FAIL; without them: no TLS, verify NONE)\n"
	"\n"
	"Exit 0 when the session would be accepted, 3 when a stage refuses it.\n";
static const char push_help[] =
	"usage: mxctl policy push [--file ACCESSFILE [--version N]]\n"
	"\n"
	"Send the whole map to mxgate over the control socket (SET_POLICY), from Redis\n"
	"(with Redis's version) or from ACCESSFILE (version N, one word, default 0; mxgate\n"
	"shows it in its status). No Redis is\n"
	"needed with --file: for the lab and for when the control plane is down. The map\n"
	"is validated here first; mxgate validates it again and keeps its old map if\n"
	"it refuses the new one. mxgate-control will later replace a pushed map with\n"
	"Redis's when Redis changes.\n";

/* ---- validation ---- */

/* Build the map from entries (the check before any write); 0, or -1 with why in err. */
static int validate(const struct entries *e, char *err, size_t errlen)
{
	struct pol_builder *b = pol_builder_new();
	struct pol_snapshot *s;

	if (b == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < e->n; i++) {
		if (e->v[i].key[0] == '#') {
			snprintf(err, errlen, "%s: a key cannot start with '#' (an access file comment)",
				 e->v[i].key);
			pol_builder_free(b);
			return -1;
		}
		if (pol_add(b, e->v[i].key, e->v[i].value, err, errlen) != 0) {
			pol_builder_free(b);
			return -1;
		}
	}
	s = pol_build(b, err, errlen);
	pol_builder_free(b);
	if (s == NULL)
		return -1;
	pol_snapshot_free(s);
	return 0;
}

/* Index of the entry whose key equals key case-insensitively, or -1. */
static long find_key(const struct entries *e, const char *key)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->v[i].key, key) == 0)
			return (long)i;
	for (size_t i = 0; i < e->n; i++)
		if (strcasecmp(e->v[i].key, key) == 0)
			return (long)i;
	return -1;
}

/* A value without leading and trailing blanks, as the access-file reader stores it. */
static char *trim(char *s)
{
	size_t n;

	s += strspn(s, " \t");
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* ---- reading an access file into entries ---- */

/* Read a whole file ("-" = stdin) into a NUL-terminated buffer; NULL with a message. */
static char *read_file(const char *path, size_t *lenp)
{
	char err[512], *text = pol_read_file(strcmp(path, "-") == 0 ? "/dev/stdin" : path, lenp,
					     err, sizeof(err));

	if (text == NULL)
		say("%s", err);
	return text;
}

/*
 * An access file: checked line by line with pol_parse() (errors name
 * FILE:LINE, followed by outcome), then split into entries by the same
 * rules; the text is kept in *textp when asked for. 0 or -1 (said).
 */
static int file_entries(const char *path, const char *outcome, struct entries *e, char **textp,
			size_t *lenp)
{
	struct pol_builder *b;
	char err[1024], *text, *p, *end;
	size_t len;

	memset(e, 0, sizeof(*e));
	text = read_file(path, &len);
	if (text == NULL)
		return -1;
	b = pol_builder_new();
	if (b == NULL || pol_parse(b, strcmp(path, "-") == 0 ? "stdin" : path, text, len,
				   err, sizeof(err)) != 0) {
		say("policy: %s%s", b ? err : "out of memory", outcome);
		pol_builder_free(b);
		free(text);
		return -1;
	}
	pol_builder_free(b);
	for (p = text, end = text + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *line = strndup(p, (size_t)((nl ? nl : end) - p)), *q, *kend;
		int bad = line == NULL;

		if (line != NULL) {
			size_t ll = strlen(line);

			if (ll && line[ll - 1] == '\r')
				line[ll - 1] = '\0';
			q = line + strspn(line, " \t\r");
			if (*q != '\0' && *q != '#') {
				kend = line + strcspn(line, " \t");
				if (*kend != '\0')
					*kend++ = '\0';
				bad = entries_add(e, line, trim(kend)) != 0;
			}
			free(line);
		}
		if (bad) {
			say("policy: out of memory");
			entries_free(e);
			free(text);
			return -1;
		}
		p = nl ? nl + 1 : end;
	}
	if (textp != NULL) {
		*textp = text;
		*lenp = len;
	} else {
		free(text);
	}
	return 0;
}

/* ---- Redis reads ---- */

/* The map and its version in one MULTI/EXEC (a consistent pair); 0 or -1 (said). */
static int snapshot(redisContext *c, struct entries *e, long long *version)
{
	redisReply *r, *h, *v;
	char *end;

	memset(e, 0, sizeof(*e));
	*version = 0;
	r = rds_cmdv(c, "MULTI", NULL);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	if ((r = rds_cmdv(c, "HGETALL", rkey(RK_POLICY), NULL)) != NULL)
		freeReplyObject(r);
	if ((r = rds_cmdv(c, "GET", rkey(RK_POLICY_VER), NULL)) != NULL)
		freeReplyObject(r);
	r = rds_cmdv(c, "EXEC", NULL);
	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		freeReplyObject(r);
		say("redis: reading %s failed", rkey(RK_POLICY));
		return -1;
	}
	h = r->element[0];
	v = r->element[1];
	if (h->type == REDIS_REPLY_ERROR || v->type == REDIS_REPLY_ERROR) {
		say("redis: %s", h->type == REDIS_REPLY_ERROR ? h->str : v->str);
		freeReplyObject(r);
		return -1;
	}
	if (h->type != REDIS_REPLY_ARRAY || h->elements % 2) {
		say("redis: %s is not a hash", rkey(RK_POLICY));
		freeReplyObject(r);
		return -1;
	}
	for (size_t i = 0; i + 1 < h->elements; i += 2)
		if (entries_add(e, h->element[i]->str, h->element[i + 1]->str) != 0) {
			say("out of memory");
			entries_free(e);
			freeReplyObject(r);
			return -1;
		}
	if (v->type == REDIS_REPLY_STRING) {
		*version = strtoll(v->str, &end, 10);
		if (*end != '\0' || *version < 0) {
			say("redis: %s holds \"%s\", not a version", rkey(RK_POLICY_VER), v->str);
			freeReplyObject(r);
			entries_free(e);
			return -1;
		}
	}
	freeReplyObject(r);
	entries_sort(e);
	return 0;
}

/* ---- writes ---- */

enum change_kind { CH_SET, CH_DEL, CH_REPLACE };

/* One change to the map. */
struct change {
	enum change_kind kind;
	const char *key, *value;        /* CH_SET, CH_DEL */
	const struct entries *all;      /* CH_REPLACE */
};

/* Queue one command inside MULTI; 0 or -1 (said). */
static int queue(redisContext *c, int argc, const char **argv)
{
	redisReply *r = rds_cmd(c, argc, argv);

	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/* Queue the commands of a change (after MULTI). */
static int queue_change(redisContext *c, const struct change *ch, const char *oldkey)
{
	const char *hash = rkey(RK_POLICY);

	switch (ch->kind) {
	case CH_SET: {
		if (oldkey != NULL && strcmp(oldkey, ch->key) != 0) {
			const char *a[] = { "HDEL", hash, oldkey };

			if (queue(c, 3, a) != 0)
				return -1;
		}
		const char *a[] = { "HSET", hash, ch->key, ch->value };
		return queue(c, 4, a);
	}
	case CH_DEL: {
		const char *a[] = { "HDEL", hash, oldkey };
		return queue(c, 3, a);
	}
	case CH_REPLACE: {
		const char *d[] = { "DEL", hash };
		const char **a;
		size_t i = 0;

		if (queue(c, 2, d) != 0)
			return -1;
		a = malloc(sizeof(*a) * (2 + 2 * HSET_CHUNK));
		if (a == NULL) {
			say("out of memory");
			return -1;
		}
		while (i < ch->all->n) {
			int n = 2;

			a[0] = "HSET";
			a[1] = hash;
			for (; i < ch->all->n && n < 2 + 2 * HSET_CHUNK; i++) {
				a[n++] = ch->all->v[i].key;
				a[n++] = ch->all->v[i].value;
			}
			if (queue(c, n, a) != 0) {
				free(a);
				return -1;
			}
		}
		free(a);
		return 0;
	}
	}
	return -1;
}

/* The map after a change (copies); 0, 1 (DEL of a missing key: said), -1 (said). */
static int apply(const struct entries *cur, const struct change *ch, struct entries *out,
		 const char **oldkey)
{
	long at = -1;

	memset(out, 0, sizeof(*out));
	*oldkey = NULL;
	if (ch->kind == CH_REPLACE) {
		for (size_t i = 0; i < ch->all->n; i++)
			if (entries_add(out, ch->all->v[i].key, ch->all->v[i].value) != 0)
				goto oom;
		return 0;
	}
	at = find_key(cur, ch->key);
	if (at >= 0)
		*oldkey = cur->v[at].key;
	if (ch->kind == CH_DEL && at < 0) {
		say("policy: no entry %s", ch->key);
		return 1;
	}
	for (size_t i = 0; i < cur->n; i++)
		if ((long)i != at && entries_add(out, cur->v[i].key, cur->v[i].value) != 0)
			goto oom;
	if (ch->kind == CH_SET && entries_add(out, ch->key, ch->value) != 0)
		goto oom;
	return 0;
oom:
	entries_free(out);
	say("out of memory");
	return -1;
}

/*
 * Validate and write one change, then publish; an exit code. On success
 * *before holds the map as it was just before the change (the caller
 * frees it), for report().
 */
static int commit(const struct change *ch, long long *version_out, struct entries *before)
{
	redisContext *c = rds_connect();
	struct entries cur = { 0 }, next;
	const char *oldkey;
	char err[1024];
	int rc = EX_FAIL;

	if (c == NULL)
		return EX_FAIL;
	for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		redisReply *r = rds_cmdv(c, "WATCH", rkey(RK_POLICY), rkey(RK_POLICY_VER), NULL);
		long long version;
		int a;

		if (r == NULL)
			goto out;
		freeReplyObject(r);
		entries_free(&cur);
		if (rds_policy_read(c, &cur) != 0)
			goto out;
		a = apply(&cur, ch, &next, &oldkey);
		if (a != 0)
			goto out;
		if (validate(&next, err, sizeof(err)) != 0) {
			say("policy: refused: %s; nothing written", err);
			entries_free(&next);
			goto out;
		}
		entries_free(&next);
		r = rds_cmdv(c, "MULTI", NULL);
		if (r == NULL)
			goto out;
		freeReplyObject(r);
		if (queue_change(c, ch, oldkey) != 0) {
			if ((r = rds_cmdv(c, "DISCARD", NULL)) != NULL)
				freeReplyObject(r);
			goto out;
		}
		{
			const char *a2[] = { "INCR", rkey(RK_POLICY_VER) };

			if (queue(c, 2, a2) != 0) {
				if ((r = rds_cmdv(c, "DISCARD", NULL)) != NULL)
					freeReplyObject(r);
				goto out;
			}
		}
		r = rds_cmdv(c, "EXEC", NULL);
		if (r == NULL)
			goto out;
		if (r->type == REDIS_REPLY_NIL) {       /* someone else wrote: again */
			freeReplyObject(r);
			continue;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
			freeReplyObject(r);
			say("redis EXEC: unexpected reply");
			goto out;
		}
		for (size_t i = 0; i < r->elements; i++)
			if (r->element[i]->type == REDIS_REPLY_ERROR) {
				say("redis: a queued command failed: %s (the transaction ran partly)",
				    r->element[i]->str);
				freeReplyObject(r);
				goto out;
			}
		version = r->element[r->elements - 1]->integer;
		freeReplyObject(r);
		{
			char ev[64];
			long long n;

			snprintf(ev, sizeof(ev), "policy %lld", version);
			n = rds_publish(c, ev);
			if (n < 0) {
				say("policy version %lld written, but publishing \"%s\" failed: "
				    "run mxctl reload", version, ev);
				goto out;
			}
			if (n == 0)
				say("note: nobody listens on %s (is mxgate-control running?)",
				    rkey(RK_EVENTS));
		}
		*version_out = version;
		*before = cur;
		memset(&cur, 0, sizeof(cur));
		rc = EX_OK;
		goto out;
	}
	say("policy: the map kept changing under us (%d attempts); try again", WRITE_ATTEMPTS);
out:
	entries_free(&cur);
	redisFree(c);
	return rc;
}

/* ---- what a write changed ---- */

/* Index of an entry of a sorted list (entries_sort()) whose key equals key case-insensitively, or -1. */
static long find_sorted(const struct entries *e, const char *key)
{
	size_t lo = 0, hi = e->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcasecmp(e->v[mid].key, key);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* How many entries a write added, replaced, removed, left as they were. */
struct diff {
	size_t added, replaced, removed, unchanged;
};

/*
 * access_file as this host's configuration names it (sorted), to say
 * which of its entries a Redis change covers or uncovers; *path NULL when
 * none is configured or it cannot be read (a note says why).
 */
static void local_access_file(struct entries *f, const char **path)
{
	const struct mx_config *cfg;

	memset(f, 0, sizeof(*f));
	*path = NULL;
	if (!config_exists() || (cfg = need_config()) == NULL || cfg->access_file[0] == '\0')
		return;
	if (access(cfg->access_file, R_OK) != 0) {
		say("note: access_file %s: %s: not compared with this change", cfg->access_file,
		    strerror(errno));
		return;
	}
	if (file_entries(cfg->access_file, ": not compared with this change", f, NULL, NULL) != 0)
		return;
	entries_sort(f);
	*path = cfg->access_file;
}

/*
 * One changed entry: added (o NULL), removed (n NULL), replaced or
 * unchanged (shown only when show_same), and what it means for the same
 * key in access_file (file: its entries, path NULL when unknown).
 */
static void report_line(const struct entry *o, const struct entry *n, int show_same,
			const struct entries *file, const char *path)
{
	const struct entry *k = n ? n : o;
	long at;

	if (o == NULL)
		printf("added     %s  %s\n", n->key, n->value);
	else if (n == NULL)
		printf("removed   %s  %s\n", o->key, o->value);
	else if (strcmp(o->key, n->key) != 0)
		printf("replaced  %s  %s -> %s  %s\n", o->key, o->value, n->key, n->value);
	else if (strcmp(o->value, n->value) != 0)
		printf("replaced  %s  %s -> %s\n", n->key, o->value, n->value);
	else if (show_same)
		printf("unchanged %s  %s\n", n->key, n->value);
	else
		return;
	if (path == NULL || (at = find_sorted(file, k->key)) < 0)
		return;
	if (n != NULL)
		printf("          (access_file %s has %s  %s: Redis's entry is the one in force)\n",
		       path, file->v[at].key, file->v[at].value);
	else
		printf("          (access_file %s has %s  %s: in force again where it is loaded)\n",
		       path, file->v[at].key, file->v[at].value);
}

/* Compare two sorted maps entry by entry, report_line() each change; the counts. */
static struct diff report(const struct entries *before, const struct entries *after, int show_same)
{
	struct entries file;
	struct diff d = { 0 };
	const char *path;
	size_t i = 0, j = 0;

	local_access_file(&file, &path);
	while (i < before->n || j < after->n) {
		int c = i == before->n ? 1 : j == after->n ? -1 :
			strcasecmp(before->v[i].key, after->v[j].key);
		const struct entry *o = c <= 0 ? &before->v[i++] : NULL;
		const struct entry *n = c >= 0 ? &after->v[j++] : NULL;

		if (o == NULL)
			d.added++;
		else if (n == NULL)
			d.removed++;
		else if (strcmp(o->key, n->key) != 0 || strcmp(o->value, n->value) != 0)
			d.replaced++;
		else
			d.unchanged++;
		report_line(o, n, show_same, &file, path);
	}
	entries_free(&file);
	return d;
}

/* What a set (value) or a del (value NULL) of key did to the map before it. */
static void report_key(const struct entries *before, const char *key, const char *value)
{
	long at = find_key(before, key);
	struct entry o, n = { (char *)key, (char *)value };
	struct entries b1 = { &o, at >= 0, 1 }, a1 = { &n, value != NULL, 1 };

	if (at >= 0)
		o = before->v[at];
	report(&b1, &a1, 1);
}

/* ---- subcommands ---- */

/* A subcommand without options except --help; the argument count is checked. */
static int plain_args(int argc, char **argv, const char *helptext, int min, int max, int *rc)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "policy %.50s", argv[0]);
	if ((*rc = help_only(argc, argv, helptext, helptext, cmd)) != -1)
		return -1;
	if (argc - optind < min || (max >= 0 && argc - optind > max)) {
		*rc = usage_error(helptext, "policy %s: %s arguments", argv[0],
				  argc - optind < min ? "missing" : "too many");
		return -1;
	}
	return 0;
}

/* The map as Redis holds it (a connection of its own); 0 or -1 (said). */
static int policy_fetch(struct entries *e)
{
	redisContext *c;
	int rc;

	if ((c = rds_connect()) == NULL)
		return -1;
	rc = rds_policy_read(c, e);
	redisFree(c);
	return rc != 0 ? -1 : 0;
}

/* policy list [--json]: aligned columns, or one JSON object with the version. */
static int policy_list(int argc, char **argv)
{
	struct entries e;
	long long version;
	redisContext *c;
	int opt, json, w = 0;

	if ((opt = json_only(argc, argv, list_help, list_help, "policy list", &json)) >= 0)
		return opt;
	if ((c = rds_connect()) == NULL)
		return EX_FAIL;
	opt = snapshot(c, &e, &version);
	redisFree(c);
	if (opt != 0)
		return EX_FAIL;
	if (json) {
		printf("{\"version\":%lld,\"entries\":[", version);
		for (size_t i = 0; i < e.n; i++) {
			printf("%s{\"key\":", i ? "," : "");
			json_str(stdout, e.v[i].key);
			printf(",\"value\":");
			json_str(stdout, e.v[i].value);
			putchar('}');
		}
		printf("]}\n");
		entries_free(&e);
		return EX_OK;
	}
	for (size_t i = 0; i < e.n; i++) {
		int l = (int)strlen(e.v[i].key);

		if (l > w)
			w = l;
	}
	if (w > 40)
		w = 40;
	for (size_t i = 0; i < e.n; i++) {      /* what Redis holds: nothing for the terminal */
		text_pad(stdout, e.v[i].key, w);
		fputs("  ", stdout);
		text_safe(stdout, e.v[i].value);
		putchar('\n');
	}
	entries_free(&e);
	return EX_OK;
}

/* policy get KEY. */
static int policy_get(int argc, char **argv)
{
	struct entries e;
	long at;
	int rc;

	if (plain_args(argc, argv, get_help, 1, 1, &rc) != 0)
		return rc;
	if (policy_fetch(&e) != 0)
		return EX_FAIL;
	at = find_key(&e, argv[optind]);
	if (at < 0) {
		entries_free(&e);
		return fail("policy: no entry %s", argv[optind]);
	}
	printf("%s\n", e.v[at].value);
	entries_free(&e);
	return EX_OK;
}

/* policy set KEY VALUE... */
static int policy_set(int argc, char **argv)
{
	struct change ch = { .kind = CH_SET };
	struct entries before;
	char value[POL_VALUE_MAX * 2 + 2];
	struct pol_builder *b;
	char err[1024];
	long long version = 0;
	size_t n = 0;
	int rc;

	if (plain_args(argc, argv, set_help, 2, -1, &rc) != 0)
		return rc;
	value[0] = '\0';
	for (int i = optind + 1; i < argc; i++) {
		int w = snprintf(value + n, sizeof(value) - n, "%s%s", n ? " " : "", argv[i]);

		if (w < 0 || (size_t)w >= sizeof(value) - n)
			return fail("policy: refused: %s: value longer than %d bytes; nothing written",
				    argv[optind], POL_VALUE_MAX);
		n += (size_t)w;
	}
	ch.key = argv[optind];
	ch.value = trim(value);
	/* the entry alone first: its own message, before Redis is asked */
	if (ch.key[0] == '#')
		return fail("policy: refused: %s: a key cannot start with '#'; nothing written", ch.key);
	b = pol_builder_new();
	if (b == NULL)
		return fail("out of memory");
	if (pol_add(b, ch.key, ch.value, err, sizeof(err)) != 0) {
		pol_builder_free(b);
		return fail("policy: refused: %s; nothing written", err);
	}
	pol_builder_free(b);
	rc = commit(&ch, &version, &before);
	if (rc == EX_OK) {
		printf("policy version %lld: %s %s\n", version, ch.key, ch.value);
		report_key(&before, ch.key, ch.value);
		entries_free(&before);
	}
	return rc;
}

/* policy del KEY. */
static int policy_del(int argc, char **argv)
{
	struct change ch = { .kind = CH_DEL };
	struct entries before;
	long long version = 0;
	int rc;

	if (plain_args(argc, argv, del_help, 1, 1, &rc) != 0)
		return rc;
	ch.key = argv[optind];
	rc = commit(&ch, &version, &before);
	if (rc == EX_OK) {
		printf("policy version %lld: %s deleted\n", version, ch.key);
		report_key(&before, ch.key, NULL);
		entries_free(&before);
	}
	return rc;
}

/* policy import FILE. */
static int policy_import(int argc, char **argv)
{
	struct change ch = { .kind = CH_REPLACE };
	struct entries e, before;
	long long version = 0;
	char err[1024];
	int rc;

	if (plain_args(argc, argv, import_help, 1, 1, &rc) != 0)
		return rc;
	if (file_entries(argv[optind], "; nothing written", &e, NULL, NULL) != 0)
		return EX_FAIL;
	if (validate(&e, err, sizeof(err)) != 0) {
		entries_free(&e);
		return fail("policy: refused: %s: %s; nothing written", argv[optind], err);
	}
	entries_sort(&e);
	ch.all = &e;
	rc = commit(&ch, &version, &before);
	if (rc == EX_OK) {
		struct diff d;

		printf("policy version %lld: %zu entries from %s\n", version, e.n, argv[optind]);
		d = report(&before, &e, 0);
		printf("%zu added, %zu replaced, %zu removed, %zu unchanged\n", d.added, d.replaced,
		       d.removed, d.unchanged);
		entries_free(&before);
	}
	entries_free(&e);
	return rc;
}

/* policy export: an access file on stdout. */
static int policy_export(int argc, char **argv)
{
	struct entries e;
	long long version;
	redisContext *c;
	int rc;

	if (plain_args(argc, argv, export_help, 0, 0, &rc) != 0)
		return rc;
	if ((c = rds_connect()) == NULL)
		return EX_FAIL;
	rc = snapshot(c, &e, &version);
	redisFree(c);
	if (rc != 0)
		return EX_FAIL;
	printf("# mxgate policy version %lld, %zu entries (%s, mxctl policy export)\n",
	       version, e.n, rkey(RK_POLICY));
	for (size_t i = 0; i < e.n; i++)
		printf("%s\t%s\n", e.v[i].key, e.v[i].value);
	entries_free(&e);
	return EX_OK;
}

/* ---- policy test ---- */

/* Print a trace, indented, and empty it. */
static void show_trace(struct pol_trace *t)
{
	for (unsigned i = 0; i < t->n; i++)
		printf("  %s\n", t->line[i]);
	if (t->dropped)
		printf("  (%u more lines dropped)\n", t->dropped);
	pol_trace_init(t);
}

/* Print a stage's result; 1 when it refused. */
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

/* Srv_Features letters of one mask. */
static void letters(uint32_t m, int lower, char *out)
{
	for (int i = 0; i < 26; i++)
		if (m & (1u << i))
			*out++ = (char)((lower ? 'a' : 'A') + i);
	*out = '\0';
}

/* Build a snapshot from entries over lower ones (as mxgate layers them; may be NULL); NULL (said). */
static struct pol_snapshot *build(const struct entries *lower, const struct entries *e, const char *what)
{
	struct pol_builder *b = pol_builder_new();
	struct pol_snapshot *s = NULL;
	char err[1024];

	if (b == NULL) {
		say("out of memory");
		return NULL;
	}
	for (size_t i = 0; lower != NULL && i < lower->n; i++)
		if (pol_add(b, lower->v[i].key, lower->v[i].value, err, sizeof(err)) != 0) {
			say("policy: access_file: %s", err);
			pol_builder_free(b);
			return NULL;
		}
	if (lower != NULL)
		pol_layer(b);
	for (size_t i = 0; i < e->n; i++)
		if (pol_add(b, e->v[i].key, e->v[i].value, err, sizeof(err)) != 0) {
			say("policy: %s: %s", what, err);
			pol_builder_free(b);
			return NULL;
		}
	s = pol_build(b, err, sizeof(err));
	if (s == NULL)
		say("policy: %s: %s", what, err);
	pol_builder_free(b);
	return s;
}

/* The ClientConn mxgate applies where no entry does: the configuration's, as mxgate reads it. */
static void show_conn_default(void)
{
	const struct mx_config *cfg = config_exists() ? need_config() : NULL;

	if (cfg != NULL)
		printf("  => no ClientConn: entry: smtpd_client_connection_count_limit %u (0 = no limit; over: 421 4.3.2)\n",
		       cfg->smtpd_client_connection_count_limit);
	else
		printf("  => no ClientConn: entry: smtpd_client_connection_count_limit of mxgate.conf (default 50)\n");
}

/* Print what a connect stage found (limits, Srv_Features, GreetPause). */
static void show_found(struct pol_trace *t, const struct pol_stage_out *o)
{
	char off[27], on[27];

	printf("\n%s\n", pol_stage_names[o->stage]);
	show_trace(t);
	if (o->stage == POL_STAGE_LIMIT && o->found) {
		if (o->lim.per_s)        /* a Limit: entry */
			printf("  => conn=%u rate=%u per %us (0 = no limit)\n", o->lim.conn, o->lim.rate, o->lim.per_s);
		if (o->lim.client_rate || o->lim.client_conn || !o->lim.per_s)
			printf("  => ClientRate %u per %us, ClientConn %u (0 = no limit; over: 421 4.3.2)\n",
			       o->lim.client_rate, POL_CLIENT_RATE_WINDOW_S, o->lim.client_conn);
		if (!o->lim.client_conn_found)
			show_conn_default();
	} else if (o->stage == POL_STAGE_GREETPAUSE) {
		if (o->found)
			printf("  => pause %u ms before the banner (talking first: 554 not accepting messages)\n",
			       o->pause_ms);
		else
			printf("  => no entry: smtpd_greet_delay_ms\n");
	} else if (o->stage == POL_STAGE_LIMIT) {
		printf("  => no entry\n");
		show_conn_default();
	} else if (o->found) {
		letters(o->f.off, 0, off);
		letters(o->f.on, 1, on);
		printf("  => off %s, on %s\n", off[0] ? off : "-", on[0] ? on : "-");
	} else {
		printf("  => defaults\n");
	}
}

/*
 * Run the stages of one session and print them; an exit code. The order
 * and what each stage judges are the stage driver's (policy/stage.h),
 * which mxgate's sessions walk too: the TLS facts make no decision of
 * their own, they feed MAIL (TLS_Clt) and RCPT (CERTISSUER/CERTSUBJECT).
 */
static int run_session(const struct pol_snapshot *s, struct pol_client *c, const char *from,
		       const char **to, unsigned nto)
{
	static struct pol_trace t;
	struct pol_stage_out o;
	enum pol_stage next = POL_STAGE_CONNECT;
	char as[64];
	int rejected = 0;

	pol_trace_init(&t);
	pol_addr_format(&c->addr, as, sizeof(as));
	printf("\nconnect from %s[%s]%s%s\n", c->name ? c->name : "unknown", as,
	       c->helo ? " helo=" : "", c->helo ? c->helo : "");
	while (pol_walk_connect(&next, s, c, &o, &t)) {
		if (o.stage != POL_STAGE_CONNECT) {
			show_found(&t, &o);      /* an imaginary session is never over its Limit: */
		} else if (show_result(&t, &o.r)) {
			printf("\ndecision: refused at connect\n");
			return EX_REJECTED;
		}
	}
	if (c->verify)
		printf("\nSTARTTLS verify=%s cipher_bits=%d (TLS_Clt and CERT* judged at MAIL and RCPT)\n",
		       c->verify, c->cipher_bits);
	if (from) {
		printf("\nMAIL FROM:<%s>\n", from);
		pol_stage_run(POL_STAGE_MAIL, s, c, from, &o, &t);
		if (show_result(&t, &o.r)) {
			printf("\ndecision: refused at MAIL (no transaction)\n");
			return EX_REJECTED;
		}
	}
	for (unsigned i = 0; i < nto; i++) {
		printf("\nRCPT TO:<%s>\n", to[i]);
		pol_stage_run(POL_STAGE_RCPT, s, c, to[i], &o, &t);
		rejected |= show_result(&t, &o.r);
	}
	printf("\ndecision: %s\n", rejected ? "refused (see => lines above)" : "accepted");
	return rejected ? EX_REJECTED : EX_OK;
}

/*
 * mxgate towards a backend (the server-side tags, in the relay's order):
 * Try_TLS, TLS_Srv, AuthInfo (its password never shown). 1 when TLS_Srv
 * refuses the backend.
 */
static int run_backend(const struct pol_snapshot *s, const struct pol_client *b)
{
	static struct pol_trace t;
	struct pol_authinfo *ai = malloc(sizeof(*ai));
	struct pol_result r;
	char as[64];
	int refused, tls;

	if (ai == NULL)
		return -1;
	pol_trace_init(&t);
	pol_addr_format(&b->addr, as, sizeof(as));
	printf("\nbackend %s[%s]\n\nTry_TLS\n", b->name ? b->name : "unknown", as);
	tls = pol_try_tls(s, b, &t);
	show_trace(&t);
	printf("  => %s\n", tls ? "STARTTLS when the backend offers it" : "no STARTTLS (Try_TLS NO)");
	printf("\nTLS_Srv (verify=%s cipher_bits=%d)\n", b->verify, b->cipher_bits);
	r = pol_check_tls_srv(s, b, &t);
	refused = show_result(&t, &r);
	printf("\nAuthInfo\n");
	if (pol_authinfo(s, b, ai, &t)) {
		show_trace(&t);
		printf("  => AUTH (%s) as %s, password not shown (%s)\n", ai->mechs,
		       ai->authid[0] ? ai->authid : ai->user, ai->rule);
	} else {
		show_trace(&t);
		printf("  => no AUTH\n");
	}
	explicit_bzero(ai, sizeof(*ai));
	free(ai);
	if (refused)
		printf("\ndecision: the backend is refused (the MAIL gets the 4xx above)\n");
	return refused;
}

/* policy test: one imaginary session against the map from Redis or --file (like sendmail -bt). */
static int policy_test(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "client", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },
		{ "helo", required_argument, NULL, 'H' },
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "verify", required_argument, NULL, 'v' },
		{ "bits", required_argument, NULL, 'b' },
		{ "cert-issuer", required_argument, NULL, 'i' },
		{ "cert-subject", required_argument, NULL, 's' },
		{ "cn", required_argument, NULL, 'C' },
		{ "auth", no_argument, NULL, 'a' },
		{ "redis-only", no_argument, NULL, 'R' },
		{ "backend", required_argument, NULL, 'B' },
		{ "backend-name", required_argument, NULL, 'N' },
		{ "backend-verify", required_argument, NULL, 'V' },
		{ "backend-bits", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const verifies[] = {
		"OK", "NO", "NOT", "FAIL", "NONE", "TEMP", "PROTOCOL", "SOFTWARE", NULL,
	};
	static char issuer[POL_KEY_MAX], subject[POL_KEY_MAX], cn[POL_KEY_MAX];
	const char *file = NULL, *client = NULL, *from = NULL, *to[MAX_RCPTS];
	const char *backend = NULL;
	struct pol_snapshot *s;
	struct pol_client c, b;
	struct entries e, lower;
	const char *lower_path = NULL;
	long long version = 0;
	unsigned nto = 0;
	int opt, rc, ok, redis_only = 0;
	char *end;
	long bits;

	memset(&c, 0, sizeof(c));
	memset(&b, 0, sizeof(b));
	b.verify = "NONE";
	opt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'f': file = optarg; break;
		case 'c': client = optarg; break;
		case 'n': c.name = optarg; break;
		case 'H': c.helo = optarg; break;
		case 'F': from = optarg; break;
		case 'T':
			if (nto == MAX_RCPTS)
				return usage_error(test_help, "policy test: at most %d --to", MAX_RCPTS);
			to[nto++] = optarg;
			break;
		case 'v': c.verify = optarg; break;
		case 'b':
			bits = strtol(optarg, &end, 10);
			if (*end != '\0' || bits < 0 || bits > 65535)
				return usage_error(test_help, "policy test: --bits %s: a number of bits", optarg);
			c.cipher_bits = (int)bits;
			break;
		case 'i': str_dn_quote(optarg, issuer, sizeof(issuer)); c.cert_issuer = issuer; break;
		case 's':
			str_dn_quote(optarg, subject, sizeof(subject));
			c.cert_subject = subject;
			break;
		case 'C': str_dn_quote(optarg, cn, sizeof(cn)); c.cn_subject = cn; break;
		case 'a': c.auth = 1; break;
		case 'R': redis_only = 1; break;
		case 'B': backend = optarg; break;
		case 'N': b.name = optarg; break;
		case 'V':
			if (strcmp(optarg, "OK") && strcmp(optarg, "NO") && strcmp(optarg, "FAIL"))
				return usage_error(test_help, "policy test: --backend-verify %s: OK, NO or FAIL",
						   optarg);
			b.verify = optarg;
			b.tls = 1;
			break;
		case 'S':
			bits = strtol(optarg, &end, 10);
			if (*end != '\0' || bits < 0 || bits > 65535)
				return usage_error(test_help, "policy test: --backend-bits %s: a number of bits",
						   optarg);
			b.cipher_bits = (int)bits;
			break;
		case 'h': return help(test_help);
		default: return usage_error(test_help, "policy test: %s", bad_opt(argv));
		}
	}
	if (optind != argc)
		return usage_error(test_help, "policy test: unexpected argument %s", argv[optind]);
	if (file != NULL && redis_only)
		return usage_error(test_help, "policy test: --file or --redis-only, not both");
	if (client == NULL && backend == NULL)
		return usage_error(test_help, "policy test: --client IP is required");
	if (backend != NULL && pol_addr_parse(backend, &b.addr) < 0)
		return usage_error(test_help, "policy test: --backend %s: not an IPv4 or IPv6 address", backend);
	if (client != NULL && pol_addr_parse(client, &c.addr) < 0)
		return usage_error(test_help, "policy test: --client %s: not an IPv4 or IPv6 address",
				   client);
	if (c.verify) {
		ok = 0;
		for (int i = 0; verifies[i]; i++)
			ok |= strcmp(c.verify, verifies[i]) == 0;
		if (!ok)
			return usage_error(test_help, "policy test: --verify %s: not a {verify} value",
					   c.verify);
		/* the handshake completed unless it failed (SOFTWARE, PROTOCOL) */
		c.tls = strcmp(c.verify, "NONE") && strcmp(c.verify, "SOFTWARE") &&
			strcmp(c.verify, "PROTOCOL");
	} else if (c.cipher_bits) {
		return usage_error(test_help, "policy test: --bits needs --verify");
	}
	memset(&lower, 0, sizeof(lower));
	if (file != NULL) {
		if (file_entries(file, "", &e, NULL, NULL) != 0)
			return EX_FAIL;
	} else {
		redisContext *rc2 = rds_connect();

		if (rc2 == NULL)
			return EX_FAIL;
		rc = snapshot(rc2, &e, &version);
		redisFree(rc2);
		if (rc != 0)
			return EX_FAIL;
		if (!redis_only)
			local_access_file(&lower, &lower_path);
	}
	s = build(lower_path ? &lower : NULL, &e, file ? file : rkey(RK_POLICY));
	if (s == NULL) {
		entries_free(&e);
		entries_free(&lower);
		return EX_FAIL;
	}
	if (file)
		printf("%s: %zu entries\n", file, pol_snapshot_count(s));
	else if (lower_path)
		printf("%s: version %lld, %zu entries, over access_file %s: %zu entries; %zu in force\n",
		       rkey(RK_POLICY), version, e.n, lower_path, lower.n, pol_snapshot_count(s));
	else
		printf("%s: version %lld, %zu entries\n", rkey(RK_POLICY), version, pol_snapshot_count(s));
	entries_free(&e);
	entries_free(&lower);
	rc = client != NULL ? run_session(s, &c, from, to, nto) : EX_OK;
	if (backend != NULL && rc == EX_OK) {
		int br = run_backend(s, &b);

		rc = br < 0 ? EX_FAIL : br ? EX_REJECTED : EX_OK;
	}
	pol_snapshot_free(s);
	return rc;
}

/* ---- policy push ---- */

/* policy push: SET_POLICY with "version\n" + access-map text. */
static int policy_push(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "version", required_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *vers = NULL;
	struct ctl_msg m = { 0 };
	struct entries e;
	long long version = 0;
	char *text = NULL, *payload, err[1024];
	size_t len = 0, cap, n;
	int opt;

	opt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'f': file = optarg; break;
		case 'V': vers = optarg; break;
		case 'h': return help(push_help);
		default: return usage_error(push_help, "policy push: %s", bad_opt(argv));
		}
	}
	if (optind != argc)
		return usage_error(push_help, "policy push: unexpected argument %s", argv[optind]);
	if (vers != NULL) {
		if (file == NULL)
			return usage_error(push_help, "policy push: --version goes with --file "
					   "(Redis's map has Redis's version)");
		if (vers[0] == '\0' || strlen(vers) > 63 || vers[strcspn(vers, " \t\r\n")] != '\0')
			return usage_error(push_help, "policy push: --version %s: one word of 1..63 "
					   "characters", vers);
	}
	if (file != NULL) {
		if (file_entries(file, "; nothing pushed", &e, &text, &len) != 0)
			return EX_FAIL;
	} else {
		redisContext *c = rds_connect();
		int r;

		if (c == NULL)
			return EX_FAIL;
		r = snapshot(c, &e, &version);
		redisFree(c);
		if (r != 0)
			return EX_FAIL;
	}
	if (validate(&e, err, sizeof(err)) != 0) {
		entries_free(&e);
		free(text);
		return fail("policy: %s: %s; nothing pushed", file ? file : rkey(RK_POLICY), err);
	}
	/* the payload: "version\n", then the file as it is or the entries as lines */
	cap = 80 + (file ? len : 0);
	for (size_t i = 0; !file && i < e.n; i++)
		cap += strlen(e.v[i].key) + strlen(e.v[i].value) + 2;
	payload = malloc(cap + 1);
	if (payload == NULL) {
		entries_free(&e);
		free(text);
		return fail("out of memory");
	}
	if (vers != NULL)
		n = (size_t)snprintf(payload, cap, "%s\n", vers);
	else
		n = (size_t)snprintf(payload, cap, "%lld\n", version);
	if (file) {
		memcpy(payload + n, text, len);
		n += len;
	} else {
		for (size_t i = 0; i < e.n; i++)
			n += (size_t)sprintf(payload + n, "%s %s\n", e.v[i].key, e.v[i].value);
	}
	free(text);
	if (ctl_request(CTL_SET_POLICY, payload, n, &m) != 0) {
		free(payload);
		entries_free(&e);
		return EX_FAIL;
	}
	printf("mxgate: %s\n", m.data[0] ? m.data : "OK");
	free(m.data);
	free(payload);
	entries_free(&e);
	return EX_OK;
}

/* policy SUBCOMMAND. */
int cmd_policy(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} subs[] = {
		{ "list", policy_list }, { "get", policy_get }, { "set", policy_set },
		{ "del", policy_del }, { "import", policy_import }, { "export", policy_export },
		{ "test", policy_test }, { "push", policy_push },
	};

	if (argc < 2)
		return usage_error(policy_usage, "policy: which subcommand?");
	if (is_help(argv[1]))
		return help(policy_help);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(argc - 1, argv + 1);
	return usage_error(policy_usage, "policy: unknown subcommand %s", argv[1]);
}
