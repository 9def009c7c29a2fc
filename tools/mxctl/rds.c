/*
 * rds.c - mxctl's Redis side (hiredis): connecting to redis_server
 * ("unix:/path" or "host:port", AUTH with redis_user/redis_password),
 * commands in argv form with errors turned into messages, key names under
 * redis_prefix, the events channel, and the policy hash as a list of
 * entries.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "tools/mxctl/mxctl.h"

#define CONNECT_TIMEOUT_S 3
#define COMMAND_TIMEOUT_S 10
#define MAX_ARGS 16

/*
 * The Redis server: -r, else redis_server from the configuration. With -r
 * the configuration (prefix, credentials) is still read when there is one.
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
	if (c->redis_server[0] == '\0') {
		say("%s: redis_server is not set (or use -r SERVER)", mx.config_path);
		return NULL;
	}
	return c->redis_server;
}

/* Connect to "unix:/path" or "host:port" ("[v6]:port"); NULL with a message. */
static redisContext *connect_to(const char *server)
{
	struct timeval tv = { CONNECT_TIMEOUT_S, 0 };
	char host[256];
	const char *colon;
	redisContext *c;
	long port;
	char *end;

	if (strncmp(server, "unix:", 5) == 0) {
		c = redisConnectUnixWithTimeout(server + 5, tv);
	} else {
		colon = strrchr(server, ':');
		if (colon == NULL || colon == server) {
			say("redis_server %s: expected unix:/path or host:port", server);
			return NULL;
		}
		port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || port < 1 || port > 65535 || (size_t)(colon - server) >= sizeof(host)) {
			say("redis_server %s: expected unix:/path or host:port", server);
			return NULL;
		}
		if (server[0] == '[' && colon[-1] == ']')
			snprintf(host, sizeof(host), "%.*s", (int)(colon - server - 2), server + 1);
		else
			snprintf(host, sizeof(host), "%.*s", (int)(colon - server), server);
		c = redisConnectWithTimeout(host, (int)port, tv);
	}
	if (c == NULL) {
		say("redis %s: out of memory", server);
		return NULL;
	}
	if (c->err) {
		say("redis %s: %s", server, c->errstr);
		redisFree(c);
		return NULL;
	}
	tv.tv_sec = COMMAND_TIMEOUT_S;
	redisSetTimeout(c, tv);
	return c;
}

/* Connect and authenticate; NULL with a message. */
redisContext *rds_connect(void)
{
	const char *server = rds_server();
	const struct mx_config *cfg;
	redisContext *c;
	redisReply *r;

	if (server == NULL)
		return NULL;
	c = connect_to(server);
	if (c == NULL)
		return NULL;
	cfg = mx.config_loaded ? &mx.cfg : NULL;
	if (cfg != NULL && cfg->redis_password[0] != '\0') {
		if (cfg->redis_user[0] != '\0')
			r = rds_cmdv(c, "AUTH", cfg->redis_user, cfg->redis_password, NULL);
		else
			r = rds_cmdv(c, "AUTH", cfg->redis_password, NULL);
		if (r == NULL) {
			say("redis %s: authentication failed", server);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(r);
	}
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
