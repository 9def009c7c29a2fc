/*
 * sentinel.c - reaching Redis (sentinel.h): a connection to an address,
 * the master through Sentinel, ROLE. Used by mxgate-control (store.c) and
 * mxctl (tools/mxctl/rds.c).
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "control/sentinel.h"

static struct timeval ms_tv(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

redisContext *redis_dial(const char *addr, int connect_ms, int cmd_ms, char *err, size_t errlen)
{
	char host[SENTINEL_ADDR_LEN];
	redisContext *c;
	int port;

	if (redis_addr_split(addr, host, sizeof(host), &port) != 0) {
		snprintf(err, errlen, "expected unix:/PATH, HOST:PORT or [IPV6]:PORT");
		return NULL;
	}
	if (port == 0)
		c = redisConnectUnixWithTimeout(host, ms_tv(connect_ms));
	else
		c = redisConnectWithTimeout(host, port, ms_tv(connect_ms));
	if (!c || c->err) {
		snprintf(err, errlen, "%s", c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	if (port)
		redisEnableKeepAlive(c);
	redisSetTimeout(c, ms_tv(cmd_ms));
	return c;
}

int sentinel_master(const char *list, const char *name, int connect_ms, int cmd_ms, char *addr,
		    size_t addrlen, int *which, char *err, size_t errlen)
{
	char s[SENTINELS_MAX][SENTINEL_ADDR_LEN], why[256];
	int n = sentinel_list_parse(list, s, SENTINELS_MAX), i;
	size_t o = 0;

	err[0] = '\0';
	if (n < 0) {
		snprintf(err, errlen, "redis_sentinels '%s': expected 1..%d HOST:PORT", list, SENTINELS_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		redisContext *c = redis_dial(s[i], connect_ms, cmd_ms, why, sizeof(why));
		redisReply *r = NULL;

		if (c) {
			r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", name);
			if (!r)
				snprintf(why, sizeof(why), "%s", c->errstr);
			else if (r->type == REDIS_REPLY_ERROR)
				snprintf(why, sizeof(why), "%s", r->str);
			else if (r->type == REDIS_REPLY_NIL)
				snprintf(why, sizeof(why), "no master named '%s'", name);
			else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
				 r->element[0]->type != REDIS_REPLY_STRING ||
				 r->element[1]->type != REDIS_REPLY_STRING)
				snprintf(why, sizeof(why), "unexpected reply");
			else {
				const char *ip = r->element[0]->str;

				snprintf(addr, addrlen, strchr(ip, ':') ? "[%s]:%s" : "%s:%s", ip,
					 r->element[1]->str);
				*which = i;
				freeReplyObject(r);
				redisFree(c);
				return 0;
			}
			if (r)
				freeReplyObject(r);
			redisFree(c);
		}
		if (o < errlen)
			o += (size_t)snprintf(err + o, errlen - o, "%ssentinel %s: %s", i ? "; " : "", s[i], why);
	}
	return -1;
}

int redis_role(redisContext *c, char *role, size_t rolelen)
{
	redisReply *r = redisCommand(c, "ROLE");

	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		snprintf(role, rolelen, "ROLE: %s", !r ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str :
			 "unexpected reply");
		if (r)
			freeReplyObject(r);
		return -1;
	}
	snprintf(role, rolelen, "%s", r->element[0]->str);
	freeReplyObject(r);
	return 0;
}
