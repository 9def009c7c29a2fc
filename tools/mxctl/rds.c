/*
 * rds.c - mxctl's Redis side (hiredis): connecting to redis_server
 * ("unix:/path" or "host:port", AUTH with redis_user/redis_password), or
 * to the master named by redis_sentinels (control/sentinel.h),
 * commands in argv form with errors turned into messages, key names under
 * redis_prefix, the events channel, and the policy hash as a list of
 * entries.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "control/sentinel.h"
#include "tools/mxctl/mxctl.h"

#define CONNECT_TIMEOUT_S 3
#define COMMAND_TIMEOUT_S 10
#define MAX_ARGS 16
#define SENTINEL_WAIT_S 10      /* a failover in progress: how long to look for the master */

static char g_master[SENTINEL_ADDR_LEN];       /* the master found through Sentinel */

/* With redis_sentinels (and no -r): the configuration, else NULL. */
static const struct mx_config *sentinel_cfg(void)
{
	if (mx.redis_override != NULL || !mx.config_loaded || mx.cfg.redis_sentinels[0] == '\0')
		return NULL;
	return &mx.cfg;
}

/*
 * The Redis server: -r, else redis_server from the configuration, else the
 * master through redis_sentinels (its address once found). With -r the
 * configuration (prefix, credentials) is still read when there is one.
 */
const char *rds_server(void)
{
	const struct mx_config *c;

	if (mx.redis_override != NULL) {
		if (mx.config_explicit || config_exists())
			if (need_config() == NULL)
				return NULL;
		return mx.redis_override;
	}
	c = need_config();
	if (c == NULL)
		return NULL;
	if (c->redis_sentinels[0] != '\0')
		return g_master[0] ? g_master : c->redis_sentinels;
	if (c->redis_server[0] == '\0') {
		say("%s: redis_server is not set (or use -r SERVER)", mx.config_path);
		return NULL;
	}
	return c->redis_server;
}

/* Connect and authenticate to server; NULL with why in err. */
static redisContext *connect_auth(const char *server, char *err, size_t errlen)
{
	const struct mx_config *cfg = mx.config_loaded ? &mx.cfg : NULL;
	char why[512];
	redisContext *c = redis_dial(server, CONNECT_TIMEOUT_S * 1000, COMMAND_TIMEOUT_S * 1000, why,
				     sizeof(why));
	redisReply *r;

	if (c == NULL) {
		snprintf(err, errlen, "redis %s: %s", server, why);
		return NULL;
	}
	if (cfg != NULL && cfg->redis_password[0] != '\0') {
		if (cfg->redis_user[0] != '\0')
			r = redisCommand(c, "AUTH %s %s", cfg->redis_user, cfg->redis_password);
		else
			r = redisCommand(c, "AUTH %s", cfg->redis_password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "redis %s: authentication failed: %s", server,
				 r ? r->str : c->errstr);
			if (r)
				freeReplyObject(r);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(r);
	}
	return c;
}

/*
 * The master through Sentinel: asked of the sentinels in order, checked
 * with ROLE; while a failover is in progress (no sentinel answers, or the
 * server named is no master yet) asked again, for SENTINEL_WAIT_S at most.
 */
static redisContext *connect_sentinel(const struct mx_config *cfg)
{
	char err[2048], role[128];
	int which, i;

	for (i = 0; i < SENTINEL_WAIT_S * 5; i++) {
		redisContext *c;

		if (i > 0)
			usleep(200 * 1000);
		if (sentinel_master(cfg->redis_sentinels, cfg->redis_master_name, CONNECT_TIMEOUT_S * 1000,
				    COMMAND_TIMEOUT_S * 1000, g_master, sizeof(g_master), &which, err,
				    sizeof(err)) != 0) {
			g_master[0] = '\0';
			continue;
		}
		c = connect_auth(g_master, err, sizeof(err));
		if (c == NULL)
			continue;       /* the master just failed: the sentinels will name another */
		if (redis_role(c, role, sizeof(role)) == 0 && strcmp(role, "master") == 0)
			return c;
		snprintf(err, sizeof(err), "%s, named master '%s' by the sentinels, is a %s", g_master,
			 cfg->redis_master_name, role);
		redisFree(c);
	}
	say("redis: no master '%s' through Sentinel within %d s: %s", cfg->redis_master_name,
	    SENTINEL_WAIT_S, err);
	return NULL;
}

/* Connect and authenticate; NULL with a message. */
redisContext *rds_connect(void)
{
	const char *server = rds_server();
	const struct mx_config *sc = sentinel_cfg();
	redisContext *c;
	char err[1024];

	if (server == NULL)
		return NULL;
	if (sc != NULL) {
		if (sc->redis_master_name[0] == '\0') {
			say("%s: redis_sentinels is set but redis_master_name is not", mx.config_path);
			return NULL;
		}
		return connect_sentinel(sc);
	}
	c = connect_auth(server, err, sizeof(err));
	if (c == NULL)
		say("%s", err);
	return c;
}

/* "<prefix>name" in one of four static buffers. */
const char *rkey(const char *name)
{
	static char buf[4][CFG_NAME_LEN + 512];
	static unsigned i;
	const char *prefix = "mxgate:";

	if (mx.config_loaded)
		prefix = mx.cfg.redis_prefix;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s%s", prefix, name);
	return buf[i];
}

/* Run one command; the reply or NULL (connection error or Redis error reply). */
redisReply *rds_cmd(redisContext *c, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(c, argc, argv, NULL);

	if (r == NULL) {
		say("redis %s: %s", argv[0], c->errstr[0] ? c->errstr : "no reply");
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		say("redis %s: %s", argv[0], r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* rds_cmd() with the arguments given as a NULL-terminated list. */
redisReply *rds_cmdv(redisContext *c, ...)
{
	const char *argv[MAX_ARGS];
	int argc = 0;
	va_list ap;
	const char *a;

	va_start(ap, c);
	while ((a = va_arg(ap, const char *)) != NULL && argc < MAX_ARGS)
		argv[argc++] = a;
	va_end(ap);
	return rds_cmd(c, argc, argv);
}

/* PUBLISH on the events channel; receivers or -1. */
long long rds_publish(redisContext *c, const char *text)
{
	redisReply *r = rds_cmdv(c, "PUBLISH", rkey(RK_EVENTS), text, NULL);
	long long n;

	if (r == NULL)
		return -1;
	n = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
	freeReplyObject(r);
	return n;
}

/* The policy version (0 when unset); -1 with a message. */
long long rds_policy_version(redisContext *c)
{
	redisReply *r = rds_cmdv(c, "GET", rkey(RK_POLICY_VER), NULL);
	long long v = 0;
	char *end;

	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING) {
		v = strtoll(r->str, &end, 10);
		if (*end != '\0' || v < 0) {
			say("redis %s holds \"%s\", not a version number", rkey(RK_POLICY_VER), r->str);
			v = -1;
		}
	}
	freeReplyObject(r);
	return v;
}

/* Append a copy of key/value. */
int entries_add(struct entries *e, const char *key, const char *value)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		struct entry *v = realloc(e->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n].key = strdup(key);
	e->v[e->n].value = strdup(value);
	if (e->v[e->n].key == NULL || e->v[e->n].value == NULL) {
		free(e->v[e->n].key);
		free(e->v[e->n].value);
		return -1;
	}
	e->n++;
	return 0;
}

/* Free every entry. */
void entries_free(struct entries *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].key);
		free(e->v[i].value);
	}
	free(e->v);
	memset(e, 0, sizeof(*e));
}

/* qsort order: keys case-insensitively, ties as bytes. */
static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int r = strcasecmp(x->key, y->key);

	return r ? r : strcmp(x->key, y->key);
}

/* Sort by key. */
void entries_sort(struct entries *e)
{
	if (e->n > 1)
		qsort(e->v, e->n, sizeof(e->v[0]), entry_cmp);
}

/* HGETALL the policy hash into *e, sorted. */
int rds_policy_read(redisContext *c, struct entries *e)
{
	redisReply *r = rds_cmdv(c, "HGETALL", rkey(RK_POLICY), NULL);
	size_t i;

	memset(e, 0, sizeof(*e));
	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
		freeReplyObject(r);
		say("redis HGETALL %s: unexpected reply (is it a hash?)", rkey(RK_POLICY));
		return -1;
	}
	for (i = 0; i + 1 < r->elements; i += 2) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    r->element[i + 1]->type != REDIS_REPLY_STRING ||
		    entries_add(e, r->element[i]->str, r->element[i + 1]->str) != 0) {
			freeReplyObject(r);
			entries_free(e);
			say("redis HGETALL %s: bad reply or out of memory", rkey(RK_POLICY));
			return -1;
		}
	}
	freeReplyObject(r);
	entries_sort(e);
	return 0;
}
