/*
 * gate.c - the mxctl commands that ask mxgate itself over the control
 * socket: status (with Redis reachability and the policy version), stats
 * (Prometheus text as mxgate sends it, or JSON, once or every N seconds),
 * sessions, drain and resume. The JSON forms are documented in
 * docs/mxctl.1 (JSON OUTPUT).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/mxctl/mxctl.h"

/* ---- status ---- */

static const char status_usage[] = "usage: mxctl status [--json]\n";
static const char status_help[] =
	"usage: mxctl status [--json]\n"
	"\n"
	"mxgate's state as it reports it over the control socket (hostname, workers,\n"
	"ports, sessions, policy version, certificates, draining), then whether Redis\n"
	"answers, the policy version and entries in Redis, certificates and ticket keys.\n"
	"Exit 1 if mxgate or a configured Redis cannot be reached.\n"
	"\n"
	"  --json   one JSON object: {\"mxgate\":{...},\"redis\":{...}}\n";

/*
 * How STATUS lines become JSON. "key value" is a scalar: a number, true or
 * false for yes/no, null for "-", else a string; a value with key=value
 * words is an object: its leading plain words are named by the table
 * ("port net_tap0 role=outside" -> {"device":"net_tap0","role":"outside"}),
 * a plain word after them is a flag (true), quotes are removed. Keys that
 * may repeat are always arrays.
 */
static const struct {
	const char *key;
	int list;                       /* one line per port, lcore, certificate */
	int object;                     /* always an object, even without key=value */
	const char *pos[2];             /* names of the leading plain words */
} status_shapes[] = {
	{ "port", 1, 1, { "device" } },
	{ "lcore", 1, 1, { "lcore" } },
	{ "certificate", 1, 1, { "name" } },
	{ "tls_ca", 0, 1, { "source", "path" } },
	{ "tls_crl", 0, 1, { "source", "path" } },
	{ "policy_layers", 0, 1, { NULL } },
	{ "hostname", 0, 0, { NULL } },         /* strings even when they look like numbers */
	{ "appliance_id", 0, 0, { NULL } },
	{ "tickets", 0, 0, { NULL } },
};

/* The shape of a STATUS key, or -1 (a scalar that does not repeat). */
static int status_shape(const char *key)
{
	for (size_t i = 0; i < sizeof(status_shapes) / sizeof(status_shapes[0]); i++)
		if (strcmp(status_shapes[i].key, key) == 0)
			return (int)i;
	return -1;
}

/* One typed scalar: number, yes/no as a boolean, "-" as null, else a string. */
static void status_scalar(FILE *f, const char *v, int as_string)
{
	if (as_string)
		json_str(f, v);
	else if (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0)
		fputs(v[0] == 'y' ? "true" : "false", f);
	else if (strcmp(v, "-") == 0)
		fputs("null", f);
	else
		json_scalar(f, v);
}

/* Cut the next word of *p (a "quoted" part may hold blanks; quotes removed); NULL at the end. */
static char *next_word(char **p)
{
	char *w, *o;
	int q = 0;

	*p += strspn(*p, " \t");
	if (**p == '\0')
		return NULL;
	w = o = *p;
	for (; **p && (q || (**p != ' ' && **p != '\t')); (*p)++)
		if (**p == '"')
			q = !q;
		else
			*o++ = **p;
	if (**p)
		(*p)++;
	*o = '\0';
	return w;
}

/* One STATUS value as JSON, in the shape of its key. */
static void status_value_json(FILE *f, int shape, char *v)
{
	char *p = v, *w;
	static const char *const generic[2] = { "name", NULL };
	unsigned npos = 0;
	int first = 1, lead = 1;
	const char *const *pos = shape >= 0 ? status_shapes[shape].pos : generic;

	if (shape >= 0 ? !status_shapes[shape].object : strchr(v, '=') == NULL) {
		status_scalar(f, v, shape >= 0);
		return;
	}
	fputc('{', f);
	while ((w = next_word(&p)) != NULL) {
		char *eq = strchr(w, '=');
		const char *name = NULL;

		if (eq == NULL && lead && npos < 2 && pos[npos] != NULL)
			name = pos[npos++];     /* still leading */
		else
			lead = 0;
		fputs(first ? "" : ",", f);
		first = 0;
		if (name != NULL) {                     /* a leading plain word */
			json_str(f, name);
			fputc(':', f);
			status_scalar(f, w, 0);
		} else if (eq == NULL) {                /* a flag */
			json_str(f, w);
			fputs(":true", f);
		} else {
			*eq = '\0';
			json_str(f, w);
			fputc(':', f);
			status_scalar(f, eq + 1, 0);
		}
	}
	fputc('}', f);
}

/* mxgate's STATUS reply as one JSON object (see status_shapes). */
static void status_json_fields(FILE *f, char *text)
{
	char *lines[1024], *vals[1024];
	size_t n = 0, i, j;
	char *save = NULL, *l;
	int first = 1;

	for (l = strtok_r(text, "\n", &save); l != NULL && n < 1024; l = strtok_r(NULL, "\n", &save))
		if (l[0] != '\0' && l[0] != '#')
			lines[n++] = l;
	/* split each into key and value */
	for (i = 0; i < n; i++) {
		char *sp = lines[i] + strcspn(lines[i], " \t");

		vals[i] = sp;
		if (*sp) {
			*sp++ = '\0';
			sp += strspn(sp, " \t");
			vals[i] = sp;
		}
	}
	fputc('{', f);
	for (i = 0; i < n; i++) {
		int shape = status_shape(lines[i]);
		size_t count = 0;

		for (j = 0; j < i; j++)
			if (strcmp(lines[j], lines[i]) == 0)
				break;
		if (j < i)
			continue;       /* printed with its first occurrence */
		for (j = i; j < n; j++)
			count += strcmp(lines[j], lines[i]) == 0;
		if (!first)
			fputc(',', f);
		first = 0;
		json_str(f, lines[i]);
		fputc(':', f);
		if (count == 1 && (shape < 0 || !status_shapes[shape].list)) {
			status_value_json(f, shape, vals[i]);
			continue;
		}
		fputc('[', f);
		for (j = i; j < n; j++)
			if (strcmp(lines[j], lines[i]) == 0) {
				status_value_json(f, shape, vals[j]);
				if (--count)
					fputc(',', f);
			}
		fputc(']', f);
	}
	fputc('}', f);
}

/* mxgate's value for key in STATUS text, copied into out; 0 if found. */
static int status_value(const char *text, const char *key, char *out, size_t outlen)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, kl) == 0 && (p[kl] == ' ' || p[kl] == '\t')) {
			const char *v = p + kl + strspn(p + kl, " \t");
			size_t vl = strcspn(v, "\n");

			snprintf(out, outlen, "%.*s", (int)vl, v);
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

/* What status learns from Redis. */
struct redis_status {
	int configured, reachable;
	char error[256];
	char version[32];
	long long policy_version;
	long long policy_entries, certs;
	int ticket_current, ticket_previous;
	char appliance[CFG_NAME_LEN];   /* appliance_id */
	long long stats_age;            /* seconds since mxgate-control wrote stats:<id>; -1 none */
};

/* Integer reply of a one-key command, or -1. */
static long long int_reply(redisContext *c, const char *cmd, const char *key)
{
	redisReply *r = rds_cmdv(c, cmd, key, NULL);
	long long v = -1;

	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	if (r != NULL)
		freeReplyObject(r);
	return v;
}

/* Ask Redis what status shows; messages go to stderr. */
static void redis_status(struct redis_status *rs)
{
	const struct mx_config *cfg;
	redisContext *c;
	redisReply *r;

	memset(rs, 0, sizeof(*rs));
	rs->policy_version = -1;
	if (mx.redis_override == NULL) {
		if (mx.socket_override != NULL && !mx.config_explicit && !config_exists())
			return;         /* -s without a configuration: no Redis to ask */
		cfg = need_config();
		if (cfg == NULL || cfg->redis_server[0] == '\0')
			return;
	}
	rs->configured = 1;
	c = rds_connect();
	if (c == NULL) {
		snprintf(rs->error, sizeof(rs->error), "unreachable (see above)");
		return;
	}
	r = rds_cmdv(c, "INFO", "server", NULL);
	if (r == NULL) {
		snprintf(rs->error, sizeof(rs->error), "INFO failed (see above)");
		redisFree(c);
		return;
	}
	if (r->type == REDIS_REPLY_STRING) {
		const char *v = strstr(r->str, "redis_version:");

		if (v)
			snprintf(rs->version, sizeof(rs->version), "%.*s",
				 (int)strcspn(v + 14, "\r\n"), v + 14);
	}
	freeReplyObject(r);
	rs->reachable = 1;
	rs->policy_version = rds_policy_version(c);
	rs->policy_entries = int_reply(c, "HLEN", rkey(RK_POLICY));
	rs->certs = int_reply(c, "SCARD", rkey(RK_CERTS));
	r = rds_cmdv(c, "HMGET", rkey(RK_TICKETS), "current", "previous", NULL);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		rs->ticket_current = r->element[0]->type == REDIS_REPLY_STRING;
		rs->ticket_previous = r->element[1]->type == REDIS_REPLY_STRING;
	}
	if (r != NULL)
		freeReplyObject(r);
	rs->stats_age = -1;
	if (mx.config_loaded) {
		char k[CFG_NAME_LEN + 16];

		snprintf(rs->appliance, sizeof(rs->appliance), "%s", mx.cfg.appliance_id);
		snprintf(k, sizeof(k), "%s%s", RK_STATS, mx.cfg.appliance_id);
		r = rds_cmdv(c, "HGET", rkey(k), "updated", NULL);
		if (r != NULL && r->type == REDIS_REPLY_STRING)
			rs->stats_age = (long long)time(NULL) - strtoll(r->str, NULL, 10);
		if (r != NULL)
			freeReplyObject(r);
	}
	redisFree(c);
}

/* status: mxgate's STATUS, then Redis. */
int cmd_status(int argc, char **argv)
{
	struct ctl_msg m = { 0 };
	struct redis_status rs;
	const char *path;
	int json, gate_ok, rc = EX_OK;
	char mxver[64];

	if ((rc = json_only(argc, argv, status_help, status_usage, "status", &json)) >= 0)
		return rc;
	rc = EX_OK;
	path = ctl_path();
	if (path == NULL && !mx.config_loaded && mx.socket_override == NULL)
		return EX_FAIL;         /* the configuration itself failed */
	gate_ok = path != NULL && ctl_request(CTL_STATUS, NULL, 0, &m) == 0;
	if (!gate_ok)
		rc = EX_FAIL;
	redis_status(&rs);
	if (rs.configured && !rs.reachable)
		rc = EX_FAIL;
	mxver[0] = '\0';
	if (gate_ok)
		status_value(m.data, "policy_version", mxver, sizeof(mxver));

	if (json) {
		printf("{\"mxgate\":{\"socket\":");
		json_str(stdout, path ? path : "");
		printf(",\"reachable\":%s", gate_ok ? "true" : "false");
		if (gate_ok) {
			printf(",\"status\":");
			status_json_fields(stdout, m.data);
		}
		printf("},\"redis\":{\"configured\":%s", rs.configured ? "true" : "false");
		if (rs.configured) {
			printf(",\"server\":");
			json_str(stdout, rds_server() ? rds_server() : "");
			printf(",\"reachable\":%s", rs.reachable ? "true" : "false");
		}
		if (rs.reachable) {
			printf(",\"redis_version\":");
			json_str(stdout, rs.version);
			printf(",\"policy_version\":%lld,\"policy_entries\":%lld,\"certificates\":%lld,"
			       "\"ticket_keys\":{\"current\":%s,\"previous\":%s}",
			       rs.policy_version, rs.policy_entries, rs.certs,
			       rs.ticket_current ? "true" : "false", rs.ticket_previous ? "true" : "false");
			if (rs.appliance[0]) {
				printf(",\"appliance_id\":");
				json_str(stdout, rs.appliance);
				printf(",\"stats_age\":");
				if (rs.stats_age >= 0)
					printf("%lld", rs.stats_age);
				else
					printf("null");
			}
		}
		printf("}}\n");
	} else {
		printf("mxgate: %s (%s)\n", gate_ok ? "up" : "unreachable",
		       path ? path : "no control socket");
		if (gate_ok) {
			char *save = NULL, *l;

			for (l = strtok_r(m.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
				printf("  %s\n", l);
		}
		if (!rs.configured) {
			printf("redis: not configured (redis_server)\n");
		} else if (!rs.reachable) {
			printf("redis: %s (%s)\n", rs.error, rds_server() ? rds_server() : "?");
		} else {
			printf("redis: up (%s, redis %s)\n", rds_server(), rs.version);
			printf("  policy_version %lld", rs.policy_version);
			if (mxver[0] && (long long)strtoull(mxver, NULL, 10) != rs.policy_version)
				printf(" (mxgate has %s)", mxver);
			printf("\n  policy_entries %lld\n  certificates %lld\n", rs.policy_entries, rs.certs);
			printf("  ticket_keys %s\n", rs.ticket_current ?
			       (rs.ticket_previous ? "current previous" : "current") : "none");
			if (rs.appliance[0] && rs.stats_age >= 0)
				printf("  appliance_stats %s updated %llds ago (by mxgate-control)\n",
				       rs.appliance, rs.stats_age);
			else if (rs.appliance[0])
				printf("  appliance_stats %s none (is mxgate-control running?)\n",
				       rs.appliance);
		}
	}
	free(m.data);
	return rc;
}

/* ---- stats ---- */

static const char stats_usage[] = "usage: mxctl stats [--json] [--watch SECONDS [--count N]]\n";
static const char stats_help[] =
	"usage: mxctl stats [--json] [--watch SECONDS [--count N]]\n"
	"\n"
	"Every counter of mxgate (control socket STATS), in Prometheus text as mxgate\n"
	"writes it, or as JSON.\n"
	"\n"
	"  --json             one JSON object per snapshot, on one line:\n"
	"                     {\"lcores\":{\"1\":{\"rx_packets_total\":236,\n"
	"                       \"drops_total\":{\"tcp_csum\":0,...},...},...},\n"
	"                      \"total\":{...the same summed over lcores...},\n"
	"                      \"global\":{...metrics without an lcore label...}}\n"
	"                     (names without the mxgate_ prefix; a label other than\n"
	"                     lcore makes the metric an object keyed by its value)\n"
	"  --watch SECONDS    repeat every SECONDS (decimals allowed) until Ctrl-C;\n"
	"                     text snapshots start with a \"# mxctl stats TIME\" line\n"
	"  --count N          with --watch: stop after N snapshots\n";

/* One sample of Prometheus text. */
struct sample {
	char *metric;           /* name without "mxgate_" */
	char *lcore;            /* lcore label value, or NULL */
	char *sub;              /* other labels: the value of the only one, or k=v,k=v; NULL */
	char *value;
};

struct samples {
	struct sample *v;
	size_t n, cap;
};

/* Free the samples. */
static void samples_free(struct samples *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].metric);
		free(s->v[i].lcore);
		free(s->v[i].sub);
		free(s->v[i].value);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Parse one label value at p (after the opening quote) into out; the byte after the closing quote. */
static const char *label_value(const char *p, char *out, size_t outlen)
{
	size_t n = 0;

	while (*p && *p != '"') {
		char ch = *p++;

		if (ch == '\\' && *p) {
			ch = *p++;
			if (ch == 'n')
				ch = '\n';
		}
		if (n + 1 < outlen)
			out[n++] = ch;
	}
	out[n] = '\0';
	return *p == '"' ? p + 1 : NULL;
}

/* Parse one Prometheus text line into *s (strings malloc'd); 0, 1 (skip), -1 (bad). */
static int parse_sample(const char *line, struct sample *s)
{
	char name[256], lv[256], ln[128], sub[512], lcore[64];
	const char *p = line;
	size_t n, subn = 0;
	int nlabels = 0, have_lcore = 0;
	char first_val[256] = "";

	memset(s, 0, sizeof(*s));
	sub[0] = '\0';
	p += strspn(p, " \t");
	if (*p == '#' || *p == '\0')
		return 1;
	n = strcspn(p, "{ \t");
	if (n == 0 || n >= sizeof(name))
		return -1;
	memcpy(name, p, n);
	name[n] = '\0';
	p += n;
	if (*p == '{') {
		p++;
		for (;;) {
			p += strspn(p, " \t,");
			if (*p == '}') {
				p++;
				break;
			}
			n = strcspn(p, "=");
			if (p[n] != '=' || p[n + 1] != '"' || n == 0 || n >= sizeof(ln))
				return -1;
			memcpy(ln, p, n);
			ln[n] = '\0';
			p = label_value(p + n + 2, lv, sizeof(lv));
			if (p == NULL)
				return -1;
			if (strcmp(ln, "lcore") == 0) {
				snprintf(lcore, sizeof(lcore), "%.63s", lv);
				have_lcore = 1;
				continue;
			}
			if (nlabels == 0)
				snprintf(first_val, sizeof(first_val), "%s", lv);
			subn += (size_t)snprintf(sub + subn, subn < sizeof(sub) ? sizeof(sub) - subn : 0,
						 "%s%s=%s", nlabels ? "," : "", ln, lv);
			if (subn >= sizeof(sub))
				subn = sizeof(sub) - 1;
			nlabels++;
		}
	}
	p += strspn(p, " \t");
	n = strcspn(p, " \t\r\n");
	if (n == 0)
		return -1;
	s->metric = strdup(strncmp(name, "mxgate_", 7) == 0 ? name + 7 : name);
	s->value = strndup(p, n);
	s->lcore = have_lcore ? strdup(lcore) : NULL;
	s->sub = nlabels == 0 ? NULL : strdup(nlabels == 1 ? first_val : sub);
	if (!s->metric || !s->value || (have_lcore && !s->lcore) || (nlabels && !s->sub))
		return -1;
	return 0;
}

/* All samples of a Prometheus text; 0 or -1 (message said). */
static int parse_prom(const char *text, struct samples *ss)
{
	const char *p = text;
	unsigned lineno = 0;

	memset(ss, 0, sizeof(*ss));
	while (*p) {
		size_t n = strcspn(p, "\n");
		char *line = strndup(p, n);
		struct sample s;
		int r;

		lineno++;
		if (line == NULL)
			return -1;
		r = parse_sample(line, &s);
		free(line);
		if (r < 0) {
			say("stats: line %u of mxgate's reply is not Prometheus text", lineno);
			free(s.metric); free(s.lcore); free(s.sub); free(s.value);
			samples_free(ss);
			return -1;
		}
		if (r == 0) {
			if (ss->n == ss->cap) {
				size_t cap = ss->cap ? ss->cap * 2 : 256;
				struct sample *v = realloc(ss->v, cap * sizeof(*v));

				if (v == NULL) {
					samples_free(ss);
					return -1;
				}
				ss->v = v;
				ss->cap = cap;
			}
			ss->v[ss->n++] = s;
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	return 0;
}

/* Equal strings, NULL equal only to NULL. */
static int same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* A sum of sample values: integers stay exact, anything else becomes a double. */
struct sum {
	unsigned long long u;
	double d;
	int is_double, bad;
};

/* Add one value to a sum. */
static void sum_add(struct sum *s, const char *v)
{
	char *end;

	if (v[0] != '\0' && strspn(v, "0123456789") == strlen(v)) {
		s->u += strtoull(v, NULL, 10);
		s->d += strtod(v, NULL);
		return;
	}
	s->is_double = 1;
	s->d += strtod(v, &end);
	if (*end != '\0' || end == v)
		s->bad = 1;
}

/* Print a sum as a JSON number (null when a value was not a number). */
static void sum_print(FILE *f, const struct sum *s)
{
	if (s->bad || isnan(s->d) || isinf(s->d))
		fputs("null", f);
	else if (s->is_double)
		fprintf(f, "%.17g", s->d);
	else
		fprintf(f, "%llu", s->u);
}

/* True if metric m has any sample with a sub-label. */
static int nested(const struct samples *ss, const char *m)
{
	for (size_t i = 0; i < ss->n; i++)
		if (strcmp(ss->v[i].metric, m) == 0 && ss->v[i].sub)
			return 1;
	return 0;
}

/* True if sample i is the first with this (lcore-set, metric[, sub]) among those before it. */
static int first_of(const struct samples *ss, size_t i, int by_lcore, int by_sub)
{
	for (size_t j = 0; j < i; j++) {
		if ((ss->v[j].lcore != NULL) != (ss->v[i].lcore != NULL))
			continue;
		if (by_lcore && !same(ss->v[j].lcore, ss->v[i].lcore))
			continue;
		if (strcmp(ss->v[j].metric, ss->v[i].metric) != 0)
			continue;
		if (by_sub && !same(ss->v[j].sub, ss->v[i].sub))
			continue;
		return 0;
	}
	return 1;
}

/*
 * One group of the JSON: the metrics of samples that have an lcore (lcore
 * given: only that lcore; NULL with per_lcore: summed over lcores) or, with
 * global set, those without one.
 */
static void json_group(FILE *f, const struct samples *ss, const char *lcore, int global)
{
	int first = 1;

	fputc('{', f);
	for (size_t i = 0; i < ss->n; i++) {
		const struct sample *s = &ss->v[i];
		int nest;

		if (global ? s->lcore != NULL : s->lcore == NULL)
			continue;
		if (lcore && !same(s->lcore, lcore))
			continue;
		if (!first_of(ss, i, lcore != NULL, 0))
			continue;
		nest = nested(ss, s->metric);
		if (!first)
			fputc(',', f);
		first = 0;
		json_str(f, s->metric);
		fputc(':', f);
		if (nest)
			fputc('{', f);
		int firstsub = 1;
		for (size_t j = i; j < ss->n; j++) {
			const struct sample *t = &ss->v[j];
			struct sum sum = { 0 };

			if ((t->lcore != NULL) != (s->lcore != NULL) || strcmp(t->metric, s->metric) != 0)
				continue;
			if (lcore && !same(t->lcore, lcore))
				continue;
			if (!first_of(ss, j, lcore != NULL, 1))
				continue;
			for (size_t k = j; k < ss->n; k++) {
				const struct sample *u = &ss->v[k];

				if ((u->lcore != NULL) == (t->lcore != NULL) &&
				    strcmp(u->metric, t->metric) == 0 && same(u->sub, t->sub) &&
				    (!lcore || same(u->lcore, lcore)))
					sum_add(&sum, u->value);
			}
			if (nest) {
				if (!firstsub)
					fputc(',', f);
				firstsub = 0;
				json_str(f, t->sub ? t->sub : "");
				fputc(':', f);
			}
			sum_print(f, &sum);
			if (!nest)
				break;
		}
		if (nest)
			fputc('}', f);
	}
	fputc('}', f);
}

/* The whole stats JSON document, one line. */
static void stats_json(FILE *f, const struct samples *ss)
{
	int first = 1;

	fputs("{\"lcores\":{", f);
	for (size_t i = 0; i < ss->n; i++) {
		size_t j;

		if (ss->v[i].lcore == NULL)
			continue;
		for (j = 0; j < i; j++)
			if (same(ss->v[j].lcore, ss->v[i].lcore))
				break;
		if (j < i)
			continue;
		if (!first)
			fputc(',', f);
		first = 0;
		json_str(f, ss->v[i].lcore);
		fputc(':', f);
		json_group(f, ss, ss->v[i].lcore, 0);
	}
	fputs("},\"total\":", f);
	json_group(f, ss, NULL, 0);
	fputs(",\"global\":", f);
	json_group(f, ss, NULL, 1);
	fputs("}\n", f);
}

static volatile sig_atomic_t interrupted;

/* SIGINT/SIGTERM during --watch: finish the loop. */
static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Parse a positive number of seconds (decimals allowed, at most a day). */
static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v >= 0.01) || v > 86400)
		return -1;
	*out = v;
	return 0;
}

/* Sleep for sec seconds or until a signal. */
static void nap(double sec)
{
	struct timespec ts = { (time_t)sec, (long)((sec - (double)(time_t)sec) * 1e9) };

	while (!interrupted && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* stats: fetch, print as text or JSON, repeat with --watch. */
int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa;
	double every = 0;
	long count = 0;
	int json = 0, opt, rc = EX_OK;
	char *end;

	opt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = 1; break;
		case 'w':
			if (parse_seconds(optarg, &every) != 0)
				return usage_error(stats_usage,
						   "stats: --watch %s: seconds between 0.01 and 86400", optarg);
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end != '\0' || count < 1)
				return usage_error(stats_usage, "stats: --count %s: a positive number",
						   optarg);
			break;
		case 'h': return help(stats_help);
		default: return usage_error(stats_usage, "stats: %s", bad_opt(argv));
		}
	}
	if (optind != argc)
		return usage_error(stats_usage, "stats: unexpected argument %s", argv[optind]);
	if (count && !every)
		return usage_error(stats_usage, "stats: --count needs --watch");
	if (every) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;     /* no SA_RESTART: the sleep ends at once */
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	for (long n = 0; !interrupted; n++) {
		struct ctl_msg m = { 0 };

		if (ctl_request(CTL_STATS, NULL, 0, &m) != 0) {
			if (interrupted)
				break;
			rc = EX_FAIL;
			break;
		}
		if (json) {
			struct samples ss;

			if (parse_prom(m.data, &ss) != 0) {
				free(m.data);
				rc = EX_FAIL;
				break;
			}
			stats_json(stdout, &ss);
			samples_free(&ss);
		} else {
			if (every) {
				char ts[64];
				time_t now = time(NULL);
				struct tm tm;

				strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S%z", localtime_r(&now, &tm));
				printf("# mxctl stats %s\n", ts);
			}
			fputs(m.data, stdout);
			if (m.len && m.data[m.len - 1] != '\n')
				putchar('\n');
		}
		free(m.data);
		fflush(stdout);
		if (!every || (count && n + 1 >= count))
			break;
		nap(every);
	}
	return rc;
}

/* ---- sessions ---- */

static const char sessions_usage[] = "usage: mxctl sessions [--json]\n";
static const char sessions_help[] =
	"usage: mxctl sessions [--json]\n"
	"\n"
	"Live SMTP sessions, one line each, as mxgate lists them (control socket\n"
	"SESSIONS): id, lcore, client, port, mode, state, tls, cipher, verify, helo, age_s.\n"
	"\n"
	"  --json   a JSON array with one object per session, its name=value fields as\n"
	"           members (lcore, port and age_s as numbers, the rest as strings)\n";

/* True for the session fields that are numbers (the rest stay strings, "-" included). */
static int numeric_field(const char *name)
{
	static const char *const nums[] = { "lcore", "port", "age_s", "bits", NULL };

	for (int i = 0; nums[i]; i++)
		if (strcmp(name, nums[i]) == 0)
			return 1;
	return 0;
}

/* Print one session field (name, value) as JSON. */
static void session_field(FILE *f, const char *name, const char *value, int first)
{
	if (!first)
		fputc(',', f);
	json_str(f, name);
	fputc(':', f);
	if (numeric_field(name))
		json_scalar(f, value);
	else
		json_str(f, value);
}

/* One object being written: the field whose value is still being gathered. */
struct fields {
	FILE *f;
	const char *name;
	char value[1024];
	int first;
};

/* The gathered field, if any, out. */
static void fields_flush(struct fields *o)
{
	if (o->name != NULL)
		session_field(o->f, o->name, o->value, o->first);
	o->first &= o->name == NULL;
	o->name = NULL;
}

/*
 * The words of s: each "name=value" starts a field, a word without '='
 * continues the previous value, or is "field1" at the start of a line.
 */
static void fields_words(struct fields *o, char *s)
{
	char *save = NULL, *tok;

	for (tok = strtok_r(s, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');

		if (eq != NULL && eq != tok) {
			fields_flush(o);
			*eq = '\0';
			o->name = tok;
			snprintf(o->value, sizeof(o->value), "%s", eq + 1);
		} else if (o->name != NULL) {
			size_t n = strlen(o->value);

			snprintf(o->value + n, sizeof(o->value) - n, " %s", tok);
		} else {
			o->name = "field1";
			snprintf(o->value, sizeof(o->value), "%s", tok);
		}
	}
}

/*
 * Session lines as a JSON array, one object per line. The helo value is
 * the client's EHLO text, which may hold blanks and "name=value" words of
 * its own: mxgate writes it between " helo=" (its fields before have no
 * blank) and " age_s=" (its last field), so it runs from the first of
 * those to the last, whole; the words around it are fields_words()'.
 */
static void sessions_json(FILE *f, char *text)
{
	char *save = NULL, *l;
	int first = 1;

	fputc('[', f);
	for (l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		struct fields o = { .f = f, .first = 1 };
		char *helo, *age = NULL, *next;

		l[strcspn(l, "\r")] = '\0';
		if (l[strspn(l, " \t")] == '\0' || l[strspn(l, " \t")] == '#')
			continue;
		if (!first)
			fputc(',', f);
		first = 0;
		fputc('{', f);
		if ((helo = strstr(l, " helo=")) != NULL) {
			*helo = '\0';
			helo += 6;
			for (next = helo; (next = strstr(next, " age_s=")) != NULL; next++)
				age = next;
			if (age != NULL)
				*age++ = '\0';
		}
		fields_words(&o, l);
		if (helo != NULL) {
			fields_flush(&o);
			o.name = "helo";
			snprintf(o.value, sizeof(o.value), "%s", helo);
		}
		if (age != NULL)
			fields_words(&o, age);
		fields_flush(&o);
		fputc('}', f);
	}
	fputs("]\n", f);
}

/* sessions: the SESSIONS lines, or JSON. */
int cmd_sessions(int argc, char **argv)
{
	struct ctl_msg m = { 0 };
	int json, ex;

	if ((ex = json_only(argc, argv, sessions_help, sessions_usage, "sessions", &json)) >= 0)
		return ex;
	if (ctl_request(CTL_SESSIONS, NULL, 0, &m) != 0)
		return EX_FAIL;
	if (json) {
		sessions_json(stdout, m.data);
	} else {
		text_lines(stdout, m.data);     /* the EHLO names are the clients' */
		if (m.len && m.data[m.len - 1] != '\n')
			putchar('\n');
	}
	free(m.data);
	return EX_OK;
}

/* ---- drain, resume ---- */

static const char drain_usage[] = "usage: mxctl drain [--wait [--timeout SECONDS]]\n";
static const char drain_help[] =
	"usage: mxctl drain [--wait [--timeout SECONDS]]\n"
	"\n"
	"mxgate stops accepting SMTP sessions (new connections get 421 4.3.2) and\n"
	"lets the open ones finish. Undo with mxctl resume.\n"
	"\n"
	"  --wait             return once no SMTP session is open (the open count is\n"
	"                     shown each second on stderr); exit 1 if SECONDS pass first\n"
	"  --timeout SECONDS  with --wait: give up after this long (default 600, 1..86400)\n";
static const char resume_usage[] = "usage: mxctl resume\n";
static const char resume_help[] =
	"usage: mxctl resume\n"
	"\n"
	"mxgate accepts SMTP sessions again after mxctl drain.\n";

/* A request without arguments whose reply is OK text. */
static int simple(int argc, char **argv, unsigned char type, const char *usage, const char *helptext)
{
	struct ctl_msg m = { 0 };
	int ex;

	if ((ex = help_only(argc, argv, helptext, usage, argv[0])) >= 0)
		return ex;
	if (optind != argc)
		return usage_error(usage, "%s: unexpected argument %s", argv[0], argv[optind]);
	if (ctl_request(type, NULL, 0, &m) != 0)
		return EX_FAIL;
	printf("mxgate: %s\n", m.data[0] ? m.data : "OK");
	free(m.data);
	return EX_OK;
}

/* drain: CTL_DRAIN. */
/* The open SMTP sessions by CTL_STATUS's "sessions N" line; -1 when it cannot be had. */
static long long sessions_open(void)
{
	struct ctl_msg m = { 0 };
	long long n = -1;
	const char *p;

	if (ctl_request(CTL_STATUS, NULL, 0, &m) != 0)
		return -1;
	for (p = m.data; p != NULL && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, "sessions ", 9) == 0) {
			n = strtoll(p + 9, NULL, 10);
			break;
		}
	}
	free(m.data);
	return n;
}

int cmd_drain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_msg m = { 0 };
	long timeout_s = 600, waited;
	long long open = -1;
	int opt, wait = 0, timed = 0;
	char *end;

	opt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'w': wait = 1; break;
		case 't':
			errno = 0;
			timeout_s = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || timeout_s < 1 || timeout_s > 86400)
				return usage_error(drain_usage, "drain: --timeout %s: seconds, 1..86400", optarg);
			timed = 1;
			break;
		case 'h': return help(drain_help);
		default: return usage_error(drain_usage, "drain: %s", bad_opt(argv));
		}
	}
	if (optind != argc)
		return usage_error(drain_usage, "drain: unexpected argument %s", argv[optind]);
	if (timed && !wait)
		return usage_error(drain_usage, "drain: --timeout needs --wait");
	if (ctl_request(CTL_DRAIN, NULL, 0, &m) != 0)
		return EX_FAIL;
	printf("mxgate: %s\n", m.data[0] ? m.data : "OK");
	free(m.data);
	if (!wait)
		return EX_OK;
	fflush(stdout);
	for (waited = 0;; waited++) {
		if ((open = sessions_open()) < 0)
			return fail("drain: cannot read the open sessions from mxgate");
		if (open == 0) {
			printf("mxgate: drained: no SMTP session open (after %ld s)\n", waited);
			return EX_OK;
		}
		if (waited >= timeout_s)
			return fail("drain: %lld SMTP session(s) still open after %ld s", open, timeout_s);
		fprintf(stderr, "mxctl: drain: %lld SMTP session(s) open\n", open);
		sleep(1);
	}
}

/* resume: CTL_RESUME. */
int cmd_resume(int argc, char **argv)
{
	return simple(argc, argv, CTL_RESUME, resume_usage, resume_help);
}
