/*
 * store.c - mxgate-control's Redis side (control.h): two connections (one
 * for commands, one subscribed to <prefix>events), the policy read with
 * its version in one transaction and validated entry by entry, the
 * session-ticket keys (made here when there are none), the certificates
 * with the client-certificate CA and CRL and the OCSP responses, the SMTP
 * AUTH users (SCAN of <prefix>auth:*, each checked with passwd_parse()),
 * and the appliance totals written to <prefix>stats:<appliance_id>.
 * Nothing here talks to mxgate: what is read lands in struct app as the
 * desired state, and mxgate-control.c pushes it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "control/control.h"
#include "control/sentinel.h"
#include "common/ctl.h"
#include "common/ctl_payload.h"
#include "crypto/passwd.h"
#include "policy/policy.h"

void redis_drop(struct app *a)
{
	if (a->rc)
		redisFree(a->rc);
	if (a->rs)
		redisFree(a->rs);
	if (a->rsn)
		redisFree(a->rsn);
	a->rc = a->rs = a->rsn = NULL;
}

/* The connection is gone (or unusable): keep the last good state, retry with back-off. */
void redis_lost(struct app *a, const char *reason)
{
	char why[256];

	/* reason may point into a context about to be freed */
	snprintf(why, sizeof(why), "%s", reason && reason[0] ? reason : "connection lost");
	redis_drop(a);
	a->redis_lost_at = now_ms();
	a->redis_retry_at = now_ms() + backoff_next(&a->redis_backoff);
	if (!a->redis_outage) {
		if (a->sy[SY_POLICY].have)
			logm("Redis lost (%s): mxgate keeps policy version %" PRIu64 "; reconnecting "
			     "with back-off", why, a->pol.version);
		else
			logm("Redis lost (%s): mxgate keeps what it has; reconnecting with back-off", why);
		a->redis_outage = 1;
	}
}

/* A reply that is not what was asked (an error reply, a wrong type): logged by the caller. */
static const char *reply_err(const redisReply *r)
{
	if (!r)
		return "no reply";
	if (r->type == REDIS_REPLY_ERROR)
		return r->str;
	return "unexpected reply type";
}

/* Connect to addr, authenticate; NULL with a message. */
static redisContext *redis_open(const struct app *a, const char *addr, char *err, size_t errlen)
{
	redisContext *c = redis_dial(addr, REDIS_CONNECT_MS, REDIS_CMD_MS, err, errlen);
	redisReply *r;

	if (!c)
		return NULL;
	if (a->cfg.redis_password[0]) {
		if (a->cfg.redis_user[0])
			r = redisCommand(c, "AUTH %s %s", a->cfg.redis_user, a->cfg.redis_password);
		else
			r = redisCommand(c, "AUTH %s", a->cfg.redis_password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "AUTH%s%s: %s", a->cfg.redis_user[0] ? " as " : "",
				 a->cfg.redis_user, r ? r->str : c->errstr);
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
 * With redis_sentinels: the master as the sentinels say (the first that
 * answers), checked with ROLE once connected (a failover in progress may
 * name a server that is no master yet), and a connection to that sentinel
 * subscribed to +switch-master. 0, or -1 with why.
 */
static int sentinel_find(struct app *a, char *err, size_t errlen)
{
	int which;
	redisReply *r;

	if (sentinel_master(a->cfg.redis_sentinels, a->cfg.redis_master_name, REDIS_CONNECT_MS,
			    REDIS_CMD_MS, a->redis_addr, sizeof(a->redis_addr), &which, err, errlen) != 0)
		return -1;
	a->sentinel_at = which;
	a->rsn = redis_dial(a->sentinels[which], REDIS_CONNECT_MS, REDIS_CMD_MS, err, errlen);
	if (!a->rsn)
		return -1;
	r = redisCommand(a->rsn, "SUBSCRIBE +switch-master");
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errlen, "sentinel %s: SUBSCRIBE +switch-master: %s", a->sentinels[which],
			 r ? reply_err(r) : a->rsn->errstr);
		if (r)
			freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

/* With Sentinel: the server we use is still the master (ROLE); 0, or -1 with why. */
int redis_check_master(struct app *a, char *err, size_t errlen)
{
	char role[128];

	if (!a->sentinels_n || !a->rc)
		return 0;
	if (redis_role(a->rc, role, sizeof(role)) != 0) {
		snprintf(err, errlen, "%s", role);
		return -1;
	}
	if (strcmp(role, "master") != 0) {
		snprintf(err, errlen, "%s is a %s now, not the master '%s' (a failover?)", a->redis_addr,
			 role, a->cfg.redis_master_name);
		return -1;
	}
	return 0;
}

void redis_connect(struct app *a)
{
	char err[1024], via[CFG_NAME_LEN + SENTINEL_ADDR_LEN + 48];
	redisReply *r;

	err[0] = '\0';
	if (a->sentinels_n) {
		if (sentinel_find(a, err, sizeof(err)) != 0)
			goto fail;
	} else {
		snprintf(a->redis_addr, sizeof(a->redis_addr), "%.*s", (int)sizeof(a->redis_addr) - 1,
			 a->cfg.redis_server);
	}
	a->rc = redis_open(a, a->redis_addr, err, sizeof(err));
	if (a->rc && redis_check_master(a, err, sizeof(err)) != 0)
		redis_drop(a);
	if (a->rc)
		a->rs = redis_open(a, a->redis_addr, err, sizeof(err));
	if (a->rs) {
		r = redisCommand(a->rs, "SUBSCRIBE %s", a->k_events);
		if (!r || r->type != REDIS_REPLY_ARRAY) {
			snprintf(err, sizeof(err), "SUBSCRIBE %s: %s", a->k_events,
				 r ? reply_err(r) : a->rs->errstr);
			if (r)
				freeReplyObject(r);
			redis_drop(a);
		} else {
			freeReplyObject(r);
		}
	}
fail:
	if (!a->rs) {
		redis_drop(a);
		a->redis_retry_at = now_ms() + backoff_next(&a->redis_backoff);
		if (!a->redis_outage) {
			logm("cannot reach Redis at %s: %s; retrying with back-off (0.1 .. 5 s)%s",
			     a->sentinels_n ? "the master through Sentinel" : a->cfg.redis_server, err,
			     a->redis_ever ? ", mxgate keeps the last good state" : "");
			a->redis_outage = 1;
		}
		return;
	}
	via[0] = '\0';
	if (a->sentinels_n)
		snprintf(via, sizeof(via), " (master '%s' through sentinel %s)", a->cfg.redis_master_name,
			 a->sentinels[a->sentinel_at]);
	if (a->redis_ever)
		logm("Redis at %s%s back after %.1f s: full resync", a->redis_addr, via,
		     (now_ms() - a->redis_lost_at) / 1000.0);
	else
		logm("connected to Redis at %s%s, subscribed to %s", a->redis_addr, via, a->k_events);
	a->redis_ever = 1;
	a->redis_outage = 0;
	a->redis_backoff = 0;
	a->redis_connects++;
	a->need_full = 1;
}

struct kv {
	const redisReply *k, *v;
};

static int kv_cmp(const void *x, const void *y)
{
	const struct kv *a = x, *b = y;
	size_t n = a->k->len < b->k->len ? a->k->len : b->k->len;
	int c = memcmp(a->k->str, b->k->str, n);

	return c ? c : (a->k->len > b->k->len) - (a->k->len < b->k->len);
}

/*
 * Validate the HGETALL reply h as an access map of version ver and turn
 * it into a policy. 0, or -1 with the bad entries logged (at most
 * POLICY_ERRORS_LOGGED) and a summary in why. *digest is set either way.
 */
static int policy_from_hash(struct app *a, uint64_t ver, const redisReply *h, struct policy *out,
			    uint64_t *digest, char *why, size_t whylen)
{
	size_t n = h->elements / 2, i, bad = 0, total;
	struct pol_builder *b = NULL;
	struct pol_snapshot *s;
	struct kv *kv;
	char err[1024], e1[256], e2[256];
	uint64_t d = FNV_INIT;
	char *buf, *p;

	*digest = 0;
	if (n > POL_ENTRIES_MAX) {
		snprintf(why, whylen, "%zu entries, at most %u", n, POL_ENTRIES_MAX);
		return -1;
	}
	kv = calloc(n ? n : 1, sizeof(*kv));
	if (!kv) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		kv[i].k = h->element[2 * i];
		kv[i].v = h->element[2 * i + 1];
		if (kv[i].k->type != REDIS_REPLY_STRING || kv[i].v->type != REDIS_REPLY_STRING) {
			snprintf(why, whylen, "HGETALL %s: not a list of strings", a->k_policy);
			free(kv);
			return -1;
		}
	}
	qsort(kv, n, sizeof(*kv), kv_cmp);
	total = 32;
	for (i = 0; i < n; i++) {
		d = fnv64(d, kv[i].k->str, kv[i].k->len + 1);  /* with the NUL: a separator */
		d = fnv64(d, kv[i].v->str, kv[i].v->len + 1);
		total += kv[i].k->len + kv[i].v->len + 2;
	}
	*digest = d;

	/* every entry alone (a fresh builder after a bad one), then the map as a whole */
	for (i = 0; i < n; i++) {
		const char *k = kv[i].k->str, *v = kv[i].v->str;
		const char *reason = NULL;

		if (!b && !(b = pol_builder_new())) {
			snprintf(why, whylen, "out of memory");
			free(kv);
			return -1;
		}
		if (strlen(k) != kv[i].k->len)
			reason = "NUL byte in key";
		else if (strlen(v) != kv[i].v->len)
			reason = "NUL byte in value";
		else if (k[0] == '#')
			reason = "key starts with '#' (a comment in access-map text)";
		if (reason) {
			snprintf(err, sizeof(err), "%s: %s", str_esc(k, kv[i].k->len, e1, sizeof(e1), 120),
				 reason);
		} else if (pol_add(b, k, v, err, sizeof(err)) == 0) {
			continue;
		} else {
			pol_builder_free(b);
			b = NULL;
		}
		if (bad < POLICY_ERRORS_LOGGED)
			logm("policy version %" PRIu64 " in Redis: bad entry in %s: %s (value \"%s\")",
			     ver, a->k_policy, err, str_esc(v, kv[i].v->len, e2, sizeof(e2), 120));
		if (bad == 0)
			snprintf(why, whylen, "%s", err);
		bad++;
	}
	if (bad) {
		if (bad > 1) {
			size_t l = strlen(why);

			snprintf(why + l, whylen - l, " (and %zu more bad entr%s)", bad - 1,
				 bad == 2 ? "y" : "ies");
		}
		pol_builder_free(b);
		free(kv);
		return -1;
	}
	if (!b && !(b = pol_builder_new())) {
		snprintf(why, whylen, "out of memory");
		free(kv);
		return -1;
	}
	s = pol_build(b, err, sizeof(err));
	pol_builder_free(b);
	if (!s) {
		logm("policy version %" PRIu64 " in Redis (%s): %s", ver, a->k_policy, err);
		snprintf(why, whylen, "%s", err);
		free(kv);
		return -1;
	}
	pol_snapshot_free(s);
	if (total > CTL_MAX_FRAME - 2) {
		snprintf(why, whylen, "%zu bytes of access-map text, more than a control frame (%u)",
			 total, CTL_MAX_FRAME - 2);
		free(kv);
		return -1;
	}
	buf = malloc(total);
	if (!buf) {
		snprintf(why, whylen, "out of memory");
		free(kv);
		return -1;
	}
	p = buf + sprintf(buf, "%" PRIu64 "\n", ver);
	for (i = 0; i < n; i++) {
		memcpy(p, kv[i].k->str, kv[i].k->len);
		p += kv[i].k->len;
		*p++ = ' ';
		memcpy(p, kv[i].v->str, kv[i].v->len);
		p += kv[i].v->len;
		*p++ = '\n';
	}
	free(kv);
	out->version = ver;
	out->entries = n;
	out->payload = buf;
	out->len = (size_t)(p - buf);
	return 0;
}

/* "123" -> 0 and *v; anything else -1. */
static int parse_u64(const char *s, size_t len, uint64_t *v)
{
	char *e;

	if (len == 0 || len > 20 || strspn(s, "0123456789") != len)
		return -1;
	errno = 0;
	*v = strtoull(s, &e, 10);
	return errno ? -1 : 0;
}

/* Read pipelined replies; NULL when the connection failed (c->err set). */
static redisReply *get_reply(redisContext *c)
{
	void *r = NULL;

	if (redisGetReply(c, &r) != REDIS_OK)
		return NULL;
	return r;
}

/*
 * The replies of n pipelined commands ending a MULTI ... EXEC: all but the
 * last freed, the last (EXEC's) returned; NULL when the connection is lost.
 */
static redisReply *exec_reply(redisContext *c, unsigned n)
{
	redisReply *r, *last = NULL;
	unsigned i;

	for (i = 0; i < n; i++) {
		if ((r = get_reply(c)) == NULL) {
			if (last != NULL)
				freeReplyObject(last);
			return NULL;
		}
		if (i == n - 1)
			last = r;
		else
			freeReplyObject(r);
	}
	return last;
}

/*
 * The policy: full = read the whole hash (after a (re)connect, SIGHUP);
 * else only when the version differs from the one we hold. -1 when the
 * connection is lost; 0 otherwise (bad data is logged, not pushed).
 */
static int sync_policy(struct app *a, int full)
{
	redisReply *r, *rv, *rh, *x;
	uint64_t ver = 0, digest;
	int has_ver;
	struct policy np;
	char why[1024];

	if (!full) {
		r = redisCommand(a->rc, "GET %s", a->k_version);
		if (!r)
			return -1;
		if (r->type == REDIS_REPLY_STRING && parse_u64(r->str, r->len, &ver) == 0 &&
		    ((a->sy[SY_POLICY].have && ver == a->pol.version) || (a->have_rej && ver == a->rej_version))) {
			freeReplyObject(r);
			return 0;               /* nothing new */
		}
		if (r->type == REDIS_REPLY_NIL && !a->sy[SY_POLICY].have) {
			freeReplyObject(r);
			return 0;               /* still no policy in Redis */
		}
		freeReplyObject(r);
	}
	/* version and hash in one transaction */
	r = redisCommand(a->rc, "HLEN %s", a->k_policy);
	if (!r)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER && r->integer > (long long)POL_ENTRIES_MAX) {
		if (!a->have_rej || a->rej_digest != (uint64_t)r->integer) {
			logm("policy in Redis NOT pushed: %s has %lld entries, at most %u", a->k_policy,
			     r->integer, POL_ENTRIES_MAX);
			a->policy_rejects++;
		}
		a->have_rej = 1;
		a->rej_version = UINT64_MAX;
		a->rej_digest = (uint64_t)r->integer;
		freeReplyObject(r);
		return 0;
	}
	freeReplyObject(r);
	redisAppendCommand(a->rc, "MULTI");
	redisAppendCommand(a->rc, "GET %s", a->k_version);
	redisAppendCommand(a->rc, "HGETALL %s", a->k_policy);
	redisAppendCommand(a->rc, "EXEC");
	if ((x = exec_reply(a->rc, 4)) == NULL)
		return -1;
	if (x->type != REDIS_REPLY_ARRAY || x->elements != 2) {
		if (!a->pol_read_err) {
			logm("reading %s: %s (said once until it works again)", a->k_policy, reply_err(x));
			a->policy_rejects++;
		}
		a->pol_read_err = 1;
		freeReplyObject(x);
		return 0;
	}
	rv = x->element[0];
	rh = x->element[1];
	if (rv->type == REDIS_REPLY_ERROR || rh->type == REDIS_REPLY_ERROR || rh->type != REDIS_REPLY_ARRAY) {
		if (!a->pol_read_err) {
			logm("reading %s / %s: %s (said once until it works again); mxgate keeps what "
			     "it has", a->k_version, a->k_policy,
			     rv->type == REDIS_REPLY_ERROR ? rv->str : reply_err(rh));
			a->policy_rejects++;
		}
		a->pol_read_err = 1;
		freeReplyObject(x);
		return 0;
	}
	a->pol_read_err = 0;
	has_ver = rv->type == REDIS_REPLY_STRING;
	if (!has_ver && rh->elements == 0) {
		if (!a->no_policy_logged)
			logm("no policy in Redis (%s is empty, %s unset): mxgate keeps what it has", a->k_policy,
			     a->k_version);
		a->no_policy_logged = 1;
		freeReplyObject(x);
		return 0;
	}
	a->no_policy_logged = 0;
	if (has_ver && parse_u64(rv->str, rv->len, &ver) != 0) {
		char e[128];

		if (!a->have_rej || a->rej_version != UINT64_MAX - 1) {
			logm("policy in Redis NOT pushed: %s is \"%s\", not a number", a->k_version,
			     str_esc(rv->str, rv->len, e, sizeof(e), 40));
			a->policy_rejects++;
		}
		a->have_rej = 1;
		a->rej_version = UINT64_MAX - 1;
		a->rej_digest = 0;
		freeReplyObject(x);
		return 0;
	}
	memset(&np, 0, sizeof(np));
	if (policy_from_hash(a, ver, rh, &np, &digest, why, sizeof(why)) != 0) {
		if (!a->have_rej || a->rej_version != ver || a->rej_digest != digest) {
			if (a->sy[SY_POLICY].have)
				logm("policy version %" PRIu64 " in Redis NOT pushed: %s; mxgate keeps "
				     "version %" PRIu64, ver, why, a->pol.version);
			else
				logm("policy version %" PRIu64 " in Redis NOT pushed: %s", ver, why);
			a->policy_rejects++;
		}
		a->have_rej = 1;
		a->rej_version = ver;
		a->rej_digest = digest;
		freeReplyObject(x);
		return 0;
	}
	freeReplyObject(x);
	a->have_rej = 0;
	if (a->sy[SY_POLICY].have && a->pol.version == np.version && a->sy[SY_POLICY].digest == digest) {
		free(np.payload);
		return 0;                       /* what we hold already */
	}
	if (a->sy[SY_POLICY].have && a->pol.version == np.version)
		logm("policy in Redis changed without a new version (%s still %" PRIu64 "): "
		     "pushing it anyway", a->k_version, ver);
	free(a->pol.payload);
	a->pol = np;
	synced_hold(&a->sy[SY_POLICY], digest);      /* of the entries, not the version */
	logm("policy version %" PRIu64 " read from Redis: %zu entr%s, valid", np.version, np.entries,
	     np.entries == 1 ? "y" : "ies");
	return 0;
}

static int unhex(const char *s, size_t n, uint8_t *out)
{
	size_t i;

	if (n != TICKET_HEX_LEN)
		return -1;
	for (i = 0; i < n; i++) {
		int c = s[i], v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = (c | 0x20) - 'a' + 10;
		else
			return -1;
		if (i & 1)
			out[i / 2] |= (uint8_t)v;
		else
			out[i / 2] = (uint8_t)(v << 4);
	}
	return 0;
}

/* n random bytes from the kernel; 0 or -1. */
static int random_bytes(uint8_t *k, size_t n_want)
{
	size_t got = 0;

	while (got < n_want) {
		ssize_t n = getrandom(k + got, n_want - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

			if (fd < 0)
				return -1;
			n = read(fd, k + got, n_want - got);
			close(fd);
			if (n <= 0)
				return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/*
 * No current key in Redis: make one and store it unless another appliance
 * does first (WATCH/MULTI/EXEC). 1 stored, 0 someone else won (re-read),
 * -1 connection lost, -2 could not (logged).
 */
static int tickets_create(struct app *a)
{
	uint8_t k[TICKET_KEY_LEN];
	char hex[TICKET_HEX_LEN + 1];
	redisReply *r, *x = NULL;
	int i;

	if (random_bytes(k, sizeof(k)) != 0) {
		logm("cannot make a session-ticket key: no randomness: %s", strerror(errno));
		return -2;
	}
	for (i = 0; i < TICKET_KEY_LEN; i++)
		sprintf(hex + 2 * i, "%02x", k[i]);
	redisAppendCommand(a->rc, "MULTI");
	redisAppendCommand(a->rc, "HSET %s current %s", a->k_tickets, hex);
	redisAppendCommand(a->rc, "EXEC");
	explicit_bzero(k, sizeof(k));
	explicit_bzero(hex, sizeof(hex));
	if ((x = exec_reply(a->rc, 3)) == NULL)
		return -1;
	if (x->type == REDIS_REPLY_NIL) {
		freeReplyObject(x);
		return 0;                       /* the hash changed under WATCH */
	}
	if (x->type != REDIS_REPLY_ARRAY) {
		logm("storing a new session-ticket key in %s: %s", a->k_tickets, reply_err(x));
		freeReplyObject(x);
		return -2;
	}
	freeReplyObject(x);
	logm("no session-ticket key in %s: made one and stored it", a->k_tickets);
	r = redisCommand(a->rc, "PUBLISH %s tickets", a->k_events);
	if (!r)
		return -1;
	freeReplyObject(r);
	return 1;
}

/* The ticket keys: -1 when the connection is lost, else 0. */
static int sync_tickets(struct app *a)
{
	uint8_t tk[2 * TICKET_KEY_LEN];
	redisReply *r, *cur, *prev;
	int attempt, rc;

	if (!a->tickets_on)
		return 0;
	for (attempt = 0; attempt < 3; attempt++) {
		r = redisCommand(a->rc, "WATCH %s", a->k_tickets);
		if (!r)
			return -1;
		freeReplyObject(r);
		r = redisCommand(a->rc, "HMGET %s current previous", a->k_tickets);
		if (!r)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			uint64_t d = fnv64(FNV_INIT, "type", 4);

			if (a->tk_bad_digest != d) {
				logm("reading %s: %s", a->k_tickets, reply_err(r));
				a->ticket_rejects++;
			}
			a->tk_bad_digest = d;
			freeReplyObject(r);
			r = redisCommand(a->rc, "UNWATCH");
			if (!r)
				return -1;
			freeReplyObject(r);
			return 0;
		}
		cur = r->element[0];
		prev = r->element[1];
		if (cur->type == REDIS_REPLY_NIL) {
			freeReplyObject(r);
			rc = tickets_create(a);
			if (rc == -1)
				return -1;
			if (rc == -2) {
				r = redisCommand(a->rc, "UNWATCH");
				if (!r)
					return -1;
				freeReplyObject(r);
				return 0;
			}
			continue;               /* read what is there now */
		}
		{
			redisReply *u = redisCommand(a->rc, "UNWATCH");

			if (!u) {
				freeReplyObject(r);
				return -1;
			}
			freeReplyObject(u);
		}
		if (cur->type != REDIS_REPLY_STRING || unhex(cur->str, cur->len, tk) != 0 ||
		    (prev->type != REDIS_REPLY_NIL &&
		     (prev->type != REDIS_REPLY_STRING ||
		      unhex(prev->str, prev->len, tk + TICKET_KEY_LEN) != 0))) {
			int bad_cur = cur->type != REDIS_REPLY_STRING || unhex(cur->str, cur->len, tk) != 0;
			const redisReply *b = bad_cur ? cur : prev;
			uint64_t d = fnv64(FNV_INIT, b->str ? b->str : "", b->str ? b->len : 0);

			d = fnv64(d, bad_cur ? "c" : "p", 1);
			if (a->tk_bad_digest != d) {
				logm("session-ticket keys in %s NOT pushed: field %s is not %d hex digits "
				     "(%zu bytes)%s", a->k_tickets, bad_cur ? "current" : "previous",
				     TICKET_HEX_LEN, b->type == REDIS_REPLY_STRING ? b->len : 0,
				     a->sy[SY_TICKETS].have ? "; mxgate keeps the keys it has" : "");
				a->ticket_rejects++;
			}
			a->tk_bad_digest = d;
			freeReplyObject(r);
			return 0;
		}
		if (prev->type == REDIS_REPLY_NIL)
			memcpy(tk + TICKET_KEY_LEN, tk, TICKET_KEY_LEN);
		freeReplyObject(r);
		a->tk_bad_digest = 0;
		if (!a->sy[SY_TICKETS].have || memcmp(tk, a->tk, sizeof(tk)) != 0) {
			memcpy(a->tk, tk, sizeof(tk));
			logm("session-ticket keys %s from %s", a->sy[SY_TICKETS].have ? "changed" : "read",
			     a->k_tickets);
			synced_hold(&a->sy[SY_TICKETS], 0);
		}
		explicit_bzero(tk, sizeof(tk));
		return 0;
	}
	logm("%s changed under us three times in a row: trying again later", a->k_tickets);
	return 0;
}

static int cert_name_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Log a bad certificate set once (per content); 0. */
static int certs_bad(struct app *a, uint64_t d, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int certs_bad(struct app *a, uint64_t d, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (a->crt_bad_digest == d)
		return 0;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	logm("certificates in Redis NOT pushed: %s; mxgate keeps the ones in force", why);
	a->crt_bad_digest = d;
	a->cert_rejects++;
	return 0;
}

/* How many PEM objects of the kind (0 certificates, 1 CRLs) n bytes hold; 0 when one is bad. */
static unsigned pem_objects(const char *p, size_t n, int crl)
{
	BIO *b = BIO_new_mem_buf(p, (int)n);
	unsigned count = 0;

	if (!b)
		return 0;
	for (;;) {
		void *x = crl ? (void *)PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)
			      : (void *)PEM_read_bio_X509(b, NULL, NULL, NULL);

		if (!x)
			break;
		if (crl)
			X509_CRL_free(x);
		else
			X509_free(x);
		count++;
	}
	/* the end of the data ("no start line") is the only acceptable stop */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE)
		count = 0;
	ERR_clear_error();
	BIO_free(b);
	return count;
}

/*
 * <prefix>ca or <prefix>crl (GET reply r): absent (0), usable PEM (1), or
 * bad (-1, logged once per content through certs_bad). d: the digest so far.
 */
static int trust_check(struct app *a, const redisReply *r, const char *key, int crl, uint64_t *d)
{
	char e[128];

	if (r->type == REDIS_REPLY_NIL)
		return 0;
	*d = fnv64(*d, key, strlen(key) + 1);
	if (r->type != REDIS_REPLY_STRING) {
		certs_bad(a, *d, "%s: %s", key, reply_err(r));
		return -1;
	}
	*d = fnv64(*d, r->str, r->len + 1);
	if (r->len > CERT_PEM_MAX) {
		certs_bad(a, *d, "%s: %zu bytes, at most %u", key, r->len, CERT_PEM_MAX);
		return -1;
	}
	if (strlen(r->str) != r->len || pem_objects(r->str, r->len, crl) == 0) {
		certs_bad(a, *d, "%s: not PEM %s (\"%s\")", key, crl ? "CRLs" : "certificates",
			  str_esc(r->str, r->len, e, sizeof(e), 40));
		return -1;
	}
	return 1;
}

/*
 * The certificates (mxctl cert): set <prefix>certs of names, hash
 * <prefix>cert:NAME with chain, key (PEM), sni ("a.example,b.example",
 * empty = none) and ocsp (DER OCSP response to staple, optional); the
 * default is the first name in byte order. With them <prefix>ca (PEM
 * certificates trusted for client certificates) and <prefix>crl (PEM
 * CRLs), both optional: they replace mxgate's tls_ca_file / tls_crl_file.
 * Checked for shape here (names, sizes, PEM; CA and CRL parsed); mxgate
 * checks the rest and keeps the certificates in force when it refuses.
 * No certificate names but a CA or CRL: only those are pushed (mxgate
 * keeps its certificates). -1 when the connection is lost.
 */
static int sync_certs(struct app *a)
{
	redisReply *set = NULL, *h[CERTS_MAX] = { NULL }, *rca = NULL, *rcrl = NULL;
	const char *names[CERTS_MAX];
	struct ctl_certs cc;
	char *buf = NULL, e[128];
	size_t n = 0, i, len = 0, nocsp = 0;
	uint64_t d = FNV_INIT;
	int rc = 0, ok = 1, has_ca, has_crl;

	memset(&cc, 0, sizeof(cc));
	redisAppendCommand(a->rc, "GET %s", a->k_ca);
	redisAppendCommand(a->rc, "GET %s", a->k_crl);
	redisAppendCommand(a->rc, "SMEMBERS %s", a->k_certs);
	if (!(rca = get_reply(a->rc)) || !(rcrl = get_reply(a->rc)) || !(set = get_reply(a->rc))) {
		rc = -1;
		goto out;
	}
	if (set->type != REDIS_REPLY_ARRAY) {
		certs_bad(a, fnv64(FNV_INIT, "type", 4), "%s: %s", a->k_certs, reply_err(set));
		goto out;
	}
	n = set->elements;
	if (n > CERTS_MAX) {
		certs_bad(a, fnv64(FNV_INIT, &n, sizeof(n)), "%zu names in %s, mxgate takes at most %d",
			  n, a->k_certs, CERTS_MAX);
		n = 0;
		goto out;
	}
	if ((has_ca = trust_check(a, rca, a->k_ca, 0, &d)) < 0 ||
	    (has_crl = trust_check(a, rcrl, a->k_crl, 1, &d)) < 0) {
		n = 0;
		goto out;
	}
	if (n == 0 && !has_ca && !has_crl) {
		if (a->sy[SY_CERTS].have && a->crt_count == 0 && a->crt_len > 0) {
			/* CA/CRL alone were pushed and are gone: back to the configuration's */
			logm("no CA or CRL in Redis any more (%s, %s): mxgate goes back to its "
			     "configured ones", a->k_ca, a->k_crl);
		} else {
			if (a->sy[SY_CERTS].have && a->crt_count > 0 && !a->crt_none_logged)
				logm("no certificates in Redis any more (%s is empty): mxgate keeps the "
				     "ones in force", a->k_certs);
			a->crt_none_logged = 1;
			a->crt_bad_digest = 0;
			goto out;
		}
	}
	a->crt_none_logged = 0;
	for (i = 0; i < n; i++) {
		const redisReply *x = set->element[i];

		if (x->type != REDIS_REPLY_STRING || strlen(x->str) != x->len ||
		    !ctl_cert_name_ok(x->str, x->len)) {
			certs_bad(a, fnv64(FNV_INIT, x->str ? x->str : "", x->str ? x->len : 0),
				  "%s: bad name \"%s\" (letters, digits, '.', '_', '-'; at most %d)",
				  a->k_certs, x->str ? str_esc(x->str, x->len, e, sizeof(e), 64) : "",
				  CERT_NAME_MAX);
			n = 0;
			goto out;
		}
		names[i] = x->str;
	}
	qsort(names, n, sizeof(*names), cert_name_cmp);
	for (i = 0; i < n; i++)
		redisAppendCommand(a->rc, "HMGET %s%s chain key sni ocsp", a->k_cert, names[i]);
	for (i = 0; i < n; i++) {
		h[i] = get_reply(a->rc);
		if (!h[i]) {
			rc = -1;
			goto out;
		}
	}
	for (i = 0; i < n && ok; i++) {
		const redisReply *ch, *k, *sn, *oc;

		if (h[i]->type != REDIS_REPLY_ARRAY || h[i]->elements != 4) {
			ok = certs_bad(a, fnv64(d, names[i], strlen(names[i])), "%s%s: %s", a->k_cert,
				       names[i], reply_err(h[i]));
			break;
		}
		ch = h[i]->element[0];
		k = h[i]->element[1];
		sn = h[i]->element[2];
		oc = h[i]->element[3];
		d = fnv64(d, names[i], strlen(names[i]) + 1);
		if (ch->type == REDIS_REPLY_STRING)
			d = fnv64(d, ch->str, ch->len + 1);
		if (k->type == REDIS_REPLY_STRING)
			d = fnv64(d, k->str, k->len + 1);
		if (sn->type == REDIS_REPLY_STRING)
			d = fnv64(d, sn->str, sn->len + 1);
		d = fnv64(d, "o", 1);
		if (oc->type == REDIS_REPLY_STRING)
			d = fnv64(d, oc->str, oc->len + 1);
		if (ch->type != REDIS_REPLY_STRING || k->type != REDIS_REPLY_STRING) {
			ok = certs_bad(a, d, "%s%s has no chain or no key", a->k_cert, names[i]);
		} else if (ch->len > CERT_PEM_MAX || k->len > CERT_PEM_MAX) {
			ok = certs_bad(a, d, "%s%s: chain or key larger than %u bytes", a->k_cert, names[i],
				       CERT_PEM_MAX);
		} else if (!strstr(ch->str, "-----BEGIN CERTIFICATE-----") || !strstr(k->str, "-----BEGIN ") ||
			   strlen(ch->str) != ch->len || strlen(k->str) != k->len) {
			ok = certs_bad(a, d, "%s%s: chain or key is not PEM", a->k_cert, names[i]);
		} else if (sn->type == REDIS_REPLY_STRING && sn->len && !ctl_sni_field_ok(sn->str, sn->len)) {
			ok = certs_bad(a, d, "%s%s: sni \"%s\" unusable (names joined by ',', at most %d "
				       "bytes)", a->k_cert, names[i], str_esc(sn->str, sn->len, e, sizeof(e), 64),
				       SNI_FIELD_MAX);
		} else if (sn->type != REDIS_REPLY_STRING && sn->type != REDIS_REPLY_NIL) {
			ok = certs_bad(a, d, "%s%s: sni: %s", a->k_cert, names[i], reply_err(sn));
		} else if (oc->type != REDIS_REPLY_STRING && oc->type != REDIS_REPLY_NIL) {
			ok = certs_bad(a, d, "%s%s: ocsp: %s", a->k_cert, names[i], reply_err(oc));
		} else if (oc->type == REDIS_REPLY_STRING && (oc->len == 0 || oc->len > OCSP_MAX)) {
			ok = certs_bad(a, d, "%s%s: ocsp: %zu bytes, expected a DER OCSP response of 1..%u",
				       a->k_cert, names[i], oc->len, OCSP_MAX);
		} else {
			struct ctl_cert *x = &cc.cert[i];

			x->name = names[i];
			x->name_len = strlen(names[i]);
			x->sni = sn->type == REDIS_REPLY_STRING ? sn->str : NULL;
			x->sni_len = sn->type == REDIS_REPLY_STRING ? sn->len : 0;
			x->chain = ch->str;
			x->chain_len = ch->len;
			x->key = k->str;
			x->key_len = k->len;
			if (oc->type == REDIS_REPLY_STRING) {
				x->ocsp = (const uint8_t *)oc->str;
				x->ocsp_len = oc->len;
				nocsp++;
			}
		}
	}
	if (!ok) {
		n = 0;
		goto out;
	}
	a->crt_bad_digest = 0;
	if (a->sy[SY_CERTS].have && d == a->sy[SY_CERTS].digest) {
		n = 0;
		goto out;                       /* what we hold already */
	}
	cc.n = (unsigned)n;
	if (has_ca) {
		cc.ca = rca->str;
		cc.ca_len = rca->len;
	}
	if (has_crl) {
		cc.crl = rcrl->str;
		cc.crl_len = rcrl->len;
	}
	if (ctl_certs_encode(&cc, NULL, &len, e, sizeof(e)) != 0) {
		certs_bad(a, d, "%s", e);       /* checked above: not reached */
		n = 0;
		goto out;
	}
	buf = malloc(len ? len : 1);
	if (!buf) {
		n = 0;
		goto out;
	}
	ctl_certs_encode(&cc, buf, &len, e, sizeof(e));
	if (a->crt) {
		explicit_bzero(a->crt, a->crt_len);
		free(a->crt);
	}
	a->crt = buf;
	a->crt_len = len;
	a->crt_count = (unsigned)n;
	synced_hold(&a->sy[SY_CERTS], d);
	if (n)
		logm("certificates read from Redis: %zu, default %s, %zu with an OCSP response; CA %s, "
		     "CRL %s", n, names[0], nocsp, has_ca ? "from Redis" : "as configured",
		     has_crl ? "from Redis" : "as configured");
	else
		logm("from Redis: CA %s, CRL %s (no certificates there: mxgate keeps its own)",
		     has_ca ? "from Redis" : "as configured", has_crl ? "from Redis" : "as configured");
out:
	for (i = 0; i < CERTS_MAX; i++)
		if (h[i]) {
			/* the private keys: not left in freed memory */
			if (h[i]->type == REDIS_REPLY_ARRAY && h[i]->elements == 4 &&
			    h[i]->element[1]->type == REDIS_REPLY_STRING)
				explicit_bzero(h[i]->element[1]->str, h[i]->element[1]->len);
			freeReplyObject(h[i]);
		}
	if (set)
		freeReplyObject(set);
	if (rca)
		freeReplyObject(rca);
	if (rcrl)
		freeReplyObject(rcrl);
	return rc;
}

/* ---- SMTP AUTH users ---- */

/* Users as read (struct ctl_user: name after the prefix, hash; pointing into a reply), by name. */
static int user_cmp(const void *x, const void *y)
{
	const struct ctl_user *a = x, *b = y;
	size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
	int c = memcmp(a->name, b->name, n);

	return c ? c : (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

static int u64_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return (a > b) - (a < b);
}

/* Escape glob characters of s into out for SCAN MATCH; 0 or -1 (too long). */
static int glob_escape(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s; s++) {
		if (o + 3 >= outlen)
			return -1;
		if (strchr("*?[]\\", *s))
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o] = '\0';
	return 0;
}

/* Growable arrays of the read. */
struct users_read {
	redisReply **replies;           /* kept until the payload is built */
	size_t nrep, caprep;
	struct ctl_user *u;
	size_t n, cap;
	uint64_t *bad;                  /* digests of this read's bad entries */
	size_t nbad, capbad;
	size_t newly_bad;               /* logged now */
	int capped;
};

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
	void *p;
	size_t nc;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap * 2 : 256;
	while (nc < need)
		nc *= 2;
	p = realloc(*v, nc * elem);
	if (!p)
		return -1;
	*v = p;
	*cap = nc;
	return 0;
}

/* A bad entry: logged unless it was last time (same key and content); 0 or -1 (out of memory). */
static int user_bad(struct app *a, struct users_read *ur, const char *key, size_t klen,
		    const char *val, size_t vlen, const char *why)
{
	uint64_t d = fnv64(fnv64(FNV_INIT, key, klen + 1), val ? val : "", val ? vlen : 0);
	char e1[320], e2[96];

	if (grow((void **)&ur->bad, &ur->capbad, ur->nbad + 1, sizeof(*ur->bad)) < 0)
		return -1;
	ur->bad[ur->nbad++] = d;
	if (a->usr_bad && bsearch(&d, a->usr_bad, a->usr_nbad, sizeof(d), u64_cmp))
		return 0;                       /* said already */
	if (ur->newly_bad++ < USERS_BAD_LOGGED)
		logm("SMTP AUTH user %s in Redis skipped: %s (value \"%s\"); the others are pushed",
		     str_esc(key, klen, e1, sizeof(e1), 280), why, val ? str_esc(val, vlen, e2, sizeof(e2), 40) : "");
	return 0;
}

/*
 * The users: SCAN MATCH <prefix>auth:* (never KEYS), MGET per batch,
 * each entry checked (name, passwd_parse()); bad ones are skipped and
 * logged once per content, the rest is pushed as a whole set when it
 * changed. At most USERS_MAX users. -1 when the connection is lost.
 */
int sync_users(struct app *a)
{
	struct users_read ur;
	char pat[2 * KEY_LEN + 4], cursor[32] = "0", why[128];
	size_t plen = strlen(a->k_auth), i, o, total = 0, nu;
	uint64_t d = FNV_INIT;
	char *buf = NULL;
	int rc = 0, oom = 0;

	memset(&ur, 0, sizeof(ur));
	if (glob_escape(a->k_auth, pat, sizeof(pat) - 1) != 0)
		return 0;
	strcat(pat, "*");
	do {
		redisReply *r = redisCommand(a->rc, "SCAN %s MATCH %s COUNT %d", cursor, pat,
					     USERS_SCAN_COUNT), *keys, *vals;
		const char **argv;
		size_t *argl, nk;

		if (!r) {
			rc = -1;
			goto out;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY ||
		    r->element[0]->len >= sizeof(cursor)) {
			if (!a->usr_read_err)
				logm("SCAN %s: %s (said once until it works again); mxgate keeps its users",
				     pat, reply_err(r));
			a->usr_read_err = 1;
			freeReplyObject(r);
			goto out;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
		keys = r->element[1];
		nk = keys->elements;
		if (grow((void **)&ur.replies, &ur.caprep, ur.nrep + 2, sizeof(*ur.replies)) < 0) {
			freeReplyObject(r);
			oom = 1;
			goto out;
		}
		ur.replies[ur.nrep++] = r;
		if (nk == 0)
			continue;
		argv = malloc((nk + 1) * sizeof(*argv));
		argl = malloc((nk + 1) * sizeof(*argl));
		if (!argv || !argl) {
			free(argv);
			free(argl);
			oom = 1;
			goto out;
		}
		argv[0] = "MGET";
		argl[0] = 4;
		for (i = 0; i < nk; i++) {
			argv[i + 1] = keys->element[i]->str ? keys->element[i]->str : "";
			argl[i + 1] = keys->element[i]->str ? keys->element[i]->len : 0;
		}
		vals = redisCommandArgv(a->rc, (int)nk + 1, argv, argl);
		free(argv);
		free(argl);
		if (!vals) {
			rc = -1;
			goto out;
		}
		ur.replies[ur.nrep++] = vals;
		if (vals->type != REDIS_REPLY_ARRAY || vals->elements != nk) {
			if (!a->usr_read_err)
				logm("MGET of %zu %s* keys: %s (said once until it works again); mxgate "
				     "keeps its users", nk, a->k_auth, reply_err(vals));
			a->usr_read_err = 1;
			goto out;
		}
		for (i = 0; i < nk; i++) {
			const redisReply *k = keys->element[i], *v = vals->element[i];
			const char *name = k->str + plen, *bad;
			struct passwd_hash ph;

			if (k->type != REDIS_REPLY_STRING || k->len < plen)
				continue;
			if (v->type == REDIS_REPLY_NIL) {
				/* deleted since the SCAN, or not a string */
				redisReply *t = redisCommand(a->rc, "TYPE %b", k->str, k->len);

				if (!t) {
					rc = -1;
					goto out;
				}
				if (t->type == REDIS_REPLY_STATUS && strcmp(t->str, "none") != 0) {
					snprintf(why, sizeof(why), "a Redis %s, not a string", t->str);
					oom |= user_bad(a, &ur, k->str, k->len, NULL, 0, why);
				}
				freeReplyObject(t);
				continue;
			}
			if (v->type != REDIS_REPLY_STRING) {
				oom |= user_bad(a, &ur, k->str, k->len, NULL, 0, reply_err(v));
				continue;
			}
			if ((bad = ctl_user_name_bad(name, k->len - plen)) != NULL) {
				snprintf(why, sizeof(why), "user name: %s", bad);
				oom |= user_bad(a, &ur, k->str, k->len, v->str, v->len, why);
				continue;
			}
			if (passwd_parse(v->str, v->len, &ph, why, sizeof(why)) != 0) {
				oom |= user_bad(a, &ur, k->str, k->len, v->str, v->len, why);
				continue;
			}
			explicit_bzero(&ph, sizeof(ph));
			if (ur.n == USERS_MAX) {
				ur.capped = 1;
				continue;
			}
			if (grow((void **)&ur.u, &ur.cap, ur.n + 1, sizeof(*ur.u)) < 0) {
				oom = 1;
				goto out;
			}
			ur.u[ur.n].name = name;
			ur.u[ur.n].name_len = k->len - plen;
			ur.u[ur.n].hash = v->str;
			ur.u[ur.n].hash_len = v->len;
			ur.n++;
		}
		if (oom)
			goto out;
	} while (strcmp(cursor, "0") != 0);
	a->usr_read_err = 0;

	/* the bad entries seen now become the ones already said */
	if (ur.newly_bad > USERS_BAD_LOGGED)
		logm("... and %zu more bad SMTP AUTH users in Redis (%s*) skipped", ur.newly_bad -
		     USERS_BAD_LOGGED, a->k_auth);
	if (ur.nbad > 1)   /* qsort's base may not be NULL, even for 0 items */
		qsort(ur.bad, ur.nbad, sizeof(*ur.bad), u64_cmp);
	free(a->usr_bad);
	a->usr_bad = ur.bad;
	a->usr_nbad = ur.nbad;
	ur.bad = NULL;
	if (ur.capped && !a->usr_cap_logged)
		logm("more than %u SMTP AUTH users in Redis (%s*): only %u are pushed (the cap)",
		     USERS_MAX, a->k_auth, USERS_MAX);
	a->usr_cap_logged = ur.capped;

	/* SCAN may return a key twice: sort, drop repeats */
	if (ur.n > 1)
		qsort(ur.u, ur.n, sizeof(*ur.u), user_cmp);
	for (i = 0, nu = 0; i < ur.n; i++) {
		if (nu && user_cmp(&ur.u[nu - 1], &ur.u[i]) == 0)
			continue;
		ur.u[nu++] = ur.u[i];
	}
	total = ctl_users_encode(ur.u, nu, NULL);
	if (total > CTL_MAX_FRAME - 2) {
		if (!a->usr_big_logged)
			logm("SMTP AUTH users in Redis NOT pushed: %zu users make %zu bytes, more than a "
			     "control frame (%u); mxgate keeps its users", nu, total, CTL_MAX_FRAME - 2);
		a->usr_big_logged = 1;
		goto out;
	}
	a->usr_big_logged = 0;
	buf = malloc(total ? total : 1);
	if (!buf) {
		oom = 1;
		goto out;
	}
	o = ctl_users_encode(ur.u, nu, buf);
	d = fnv64(d, buf, o);
	if (a->sy[SY_USERS].have && d == a->sy[SY_USERS].digest && o == a->usr_len) {
		free(buf);
		goto out;                       /* what we hold already */
	}
	if (a->usr) {
		explicit_bzero(a->usr, a->usr_len);
		free(a->usr);
	}
	a->usr = buf;
	a->usr_len = o;
	a->usr_count = nu;
	synced_hold(&a->sy[SY_USERS], d);
	logm("SMTP AUTH users read from Redis: %zu valid%s", nu,
	     a->usr_nbad ? " (bad ones skipped, see above)" : "");
out:
	if (oom)
		logm("reading SMTP AUTH users: out of memory; mxgate keeps its users");
	for (i = 0; i < ur.nrep; i++)
		freeReplyObject(ur.replies[i]);
	free(ur.replies);
	free(ur.u);
	free(ur.bad);
	return rc;
}

/*
 * The generation marker <prefix>generation (common/schema.h): stamped here
 * (SET NX) when there is none and nothing is held yet; then it must stay
 * what was seen with the state held, or be re-stamped by mxctl (reload
 * --force: the operator accepts the store as it is). Gone, or changed by
 * anything else: Redis lost its data (a restart without persistence, a
 * FLUSHALL, a failover to an empty replica), and what it holds now must not
 * replace the last good state live. 0 go on, 1 the store is lost (read
 * nothing, push nothing, make no ticket key), -1 connection lost.
 */
static int sync_generation(struct app *a)
{
	redisReply *r = redisCommand(a->rc, "GET %s", a->k_gen);
	char e[GEN_MAX * 4 + 1];
	enum gen_verdict v;
	int str;

	if (!r)
		return -1;
	if (r->type == REDIS_REPLY_NIL && !a->gen[0] && a->mx_holds) {
		if (!a->store_lost) {
			a->store_losses++;
			logm("warning: Redis lost its data (generation marker %s gone; mxgate holds pushed "
			     "state): keeping the last good state in mxgate; nothing is read or pushed and "
			     "no ticket key made until a marker is there; run mxctl reload --force to "
			     "accept the store as it is", a->k_gen);
		}
		a->store_lost = 1;
		freeReplyObject(r);
		return 1;
	}
	if (r->type == REDIS_REPLY_NIL && !a->gen[0]) {
		uint8_t b[8];
		char g[GEN_MAX + 1];
		int i;

		freeReplyObject(r);
		if (random_bytes(b, sizeof(b)) != 0) {
			logm("cannot make a generation marker: no randomness: %s", strerror(errno));
			return 0;
		}
		for (i = 0; i < 8; i++)
			sprintf(g + 2 * i, "%02x", b[i]);
		snprintf(g + 16, sizeof(g) - 16, " %s", GEN_BY_CONTROL);
		r = redisCommand(a->rc, "SET %s %s NX", a->k_gen, g);
		if (!r)
			return -1;
		if (r->type == REDIS_REPLY_STATUS)
			logm("no generation marker in Redis: stamped %s \"%s\"", a->k_gen, g);
		freeReplyObject(r);
		r = redisCommand(a->rc, "GET %s", a->k_gen);
		if (!r)
			return -1;
	}
	str = r->type == REDIS_REPLY_STRING;
	v = gen_verdict(a->gen, str ? r->str : NULL, str ? r->len : 0);
	if (v == GEN_LOST) {
		if (!a->store_lost) {
			a->store_losses++;
			logm("warning: Redis lost its data (generation marker %s %s%s%s, was \"%s\"): "
			     "keeping the last good state in mxgate; nothing is read or pushed and no "
			     "ticket key made until the marker is back; run mxctl reload --force to "
			     "accept the store as it is", a->k_gen, str ? "changed to \"" : "gone",
			     str ? str_esc(r->str, r->len, e, sizeof(e), GEN_MAX) : "", str ? "\"" : "",
			     a->gen);
		}
		a->store_lost = 1;
		freeReplyObject(r);
		return 1;
	}
	if (v == GEN_NEW) {
		if (a->gen[0])
			logm("Redis generation marker %s is now \"%s\" (was \"%s\"): the store as it is "
			     "now is accepted, everything read and pushed again", a->k_gen,
			     str_esc(r->str, r->len, e, sizeof(e), GEN_MAX), a->gen);
		memcpy(a->gen, r->str, r->len);
		a->gen[r->len] = '\0';
		a->mx_holds = 0;
		synced_hold(&a->sy[SY_GEN], 0);         /* pushed first, before what goes with it */
		a->need_full = 1;
	} else if (v == GEN_SAME && a->store_lost) {
		logm("Redis generation marker %s is back: reading Redis again", a->k_gen);
		a->need_full = 1;
	}
	a->store_lost = 0;
	freeReplyObject(r);
	return 0;
}

/* Whatever the events or the clock asked for; -1 when the connection is lost. */
int redis_sync(struct app *a)
{
	int full, g = sync_generation(a);

	if (g < 0)
		return -1;
	if (g > 0) {
		a->need_full = a->need_policy = a->need_tickets = a->need_certs = a->need_users = 0;
		return 0;
	}
	full = a->need_full;

	if (full || a->need_certs) {
		if (sync_certs(a) < 0)
			return -1;
		a->need_certs = 0;
	}

	if (full || a->need_policy) {
		if (sync_policy(a, full) < 0)
			return -1;
		a->need_policy = 0;
	}
	if (full || a->need_tickets) {
		if (sync_tickets(a) < 0)
			return -1;
		a->need_tickets = 0;
	}
	if (full || a->need_users) {
		if (sync_users(a) < 0)
			return -1;
		a->need_users = 0;
	}
	a->need_full = 0;
	return 0;
}

/* msg (len bytes) is the event ev, alone or (with_arg) followed by " <argument>". */
static int event_is(const char *msg, size_t len, const char *ev, int with_arg)
{
	size_t n = strlen(ev);

	return len >= n && memcmp(msg, ev, n) == 0 && (len == n || (with_arg && msg[n] == ' '));
}

/* A message on <prefix>events. */
static void on_event(struct app *a, const char *msg, size_t len)
{
	char e[128];

	if (event_is(msg, len, EV_POLICY, 1)) {
		a->need_policy = 1;
	} else if (event_is(msg, len, EV_TICKETS, 0)) {
		a->need_tickets = 1;
	} else if (event_is(msg, len, EV_CERTS, 0)) {
		a->need_certs = 1;
	} else if (event_is(msg, len, EV_USERS, 0)) {
		a->need_users = 1;
	} else if (a->unknown_events < EVENTS_UNKNOWN_LOGGED) {
		a->unknown_events++;
		logm("unknown event on %s: \"%s\"%s", a->k_events, str_esc(msg, len, e, sizeof(e), 60),
		     a->unknown_events == EVENTS_UNKNOWN_LOGGED ? " (no more such lines)" : "");
	}
}

/* The subscriber connection is readable. */
void sub_read(struct app *a)
{
	void *v;

	if (redisBufferRead(a->rs) != REDIS_OK) {
		redis_lost(a, a->rs->errstr[0] ? a->rs->errstr : "subscriber connection closed");
		return;
	}
	for (;;) {
		redisReply *r;

		v = NULL;
		if (redisGetReplyFromReader(a->rs, &v) != REDIS_OK) {
			redis_lost(a, a->rs->errstr[0] ? a->rs->errstr : "protocol error");
			return;
		}
		if (!v)
			return;
		r = v;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "message") == 0 &&
		    r->element[2]->type == REDIS_REPLY_STRING)
			on_event(a, r->element[2]->str, r->element[2]->len);
		freeReplyObject(r);
	}
}

/*
 * The sentinel connection is readable: "+switch-master <name> <old ip>
 * <old port> <new ip> <new port>" for our master drops the connections to
 * the old one and reconnects (through the sentinels) at once; the sentinel
 * gone: the same (another one is asked).
 */
void sentinel_sub_read(struct app *a)
{
	size_t nl = strlen(a->cfg.redis_master_name);
	char why[512];
	void *v;

	if (redisBufferRead(a->rsn) != REDIS_OK) {
		snprintf(why, sizeof(why), "sentinel %s: %s", a->sentinels[a->sentinel_at],
			 a->rsn->errstr[0] ? a->rsn->errstr : "connection closed");
		redis_lost(a, why);
		return;
	}
	for (;;) {
		redisReply *r, *m;
		int ours;

		v = NULL;
		if (redisGetReplyFromReader(a->rsn, &v) != REDIS_OK) {
			redis_lost(a, "sentinel: protocol error");
			return;
		}
		if (!v)
			return;
		r = v;
		m = r->type == REDIS_REPLY_ARRAY && r->elements == 3 ? r->element[2] : NULL;
		ours = m && m->type == REDIS_REPLY_STRING && r->element[0]->type == REDIS_REPLY_STRING &&
		       strcmp(r->element[0]->str, "message") == 0 && m->len > nl &&
		       memcmp(m->str, a->cfg.redis_master_name, nl) == 0 && m->str[nl] == ' ';
		if (ours) {
			char e[200];

			snprintf(why, sizeof(why), "sentinel %s: +switch-master %s", a->sentinels[a->sentinel_at],
				 str_esc(m->str, m->len, e, sizeof(e), 160));
			freeReplyObject(r);
			redis_lost(a, why);
			a->redis_retry_at = now_ms();   /* the new master now, not after a back-off */
			return;
		}
		freeReplyObject(r);
	}
}

/* Appliance totals into <prefix>stats:<id>, replaced as a whole; -1 when the connection is lost. */
int stats_to_redis(struct app *a)
{
	struct prom_total *t = NULL;
	unsigned skipped = 0;
	int n, i, argc;
	const char **argv;
	size_t *argl;
	char (*vals)[32], now[32];
	redisReply *x;

	n = prom_sum(a->stats, a->stats_len, &t, &skipped);
	if (n < 0)
		return 0;
	argv = calloc((size_t)n * 2 + 4, sizeof(*argv));
	argl = calloc((size_t)n * 2 + 4, sizeof(*argl));
	vals = calloc((size_t)n + 1, sizeof(*vals));
	if (!argv || !argl || !vals) {
		free(argv);
		free(argl);
		free(vals);
		prom_totals_free(t, n);
		return 0;
	}
	argc = 0;
	argv[argc] = "HSET";
	argl[argc++] = 4;
	argv[argc] = a->k_stats;
	argl[argc++] = strlen(a->k_stats);
	for (i = 0; i < n; i++) {
		prom_total_format(&t[i], vals[i], sizeof(vals[i]));
		argv[argc] = t[i].name;
		argl[argc++] = strlen(t[i].name);
		argv[argc] = vals[i];
		argl[argc++] = strlen(vals[i]);
	}
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	argv[argc] = "updated";
	argl[argc++] = 7;
	argv[argc] = now;
	argl[argc++] = strlen(now);
	redisAppendCommand(a->rc, "MULTI");
	redisAppendCommand(a->rc, "DEL %s", a->k_stats);
	redisAppendCommandArgv(a->rc, argc, argv, argl);
	redisAppendCommand(a->rc, "EXEC");
	free(argv);
	free(argl);
	free(vals);
	prom_totals_free(t, n);
	if ((x = exec_reply(a->rc, 4)) == NULL)
		return -1;
	if (x->type != REDIS_REPLY_ARRAY) {
		if (!a->stats_redis_bad)
			logm("writing %s: %s (said once until it works again)", a->k_stats, reply_err(x));
		a->stats_redis_bad = 1;
	} else {
		a->stats_written++;
		a->stats_redis_bad = 0;
	}
	freeReplyObject(x);
	return 0;
}
