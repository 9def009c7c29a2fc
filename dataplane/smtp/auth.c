/*
 * auth.c - SMTP AUTH password checks on the service lcore (see auth.h).
 * libc and BoringSSL (through crypto/passwd.c) only: no DPDK, so the unit
 * tests drive it directly.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/siphash.h>

#include "auth.h"
#include "crypto/passwd.h"
#include "common/ctl_payload.h"
#include "common/schema.h"

/* what the control plane pushes (common/schema.h) is what is taken here */
_Static_assert(AUTH_USER_MAX == USER_NAME_MAX, "user name");
_Static_assert(AUTH_USERS_MAX == USERS_MAX, "users pushed");

const char *const auth_stat_names[] = {
#define X(n) #n,
	AUTH_STATS(X)
#undef X
};

#define FAIL_PROBE 8

/* Single producer, single consumer, power-of-two size. */
struct ring {
	_Atomic uint32_t head;          /* consumer */
	_Atomic uint32_t tail;          /* producer */
	uint32_t mask;
	struct auth_req **slot;
};

struct user {
	char *name;
	struct passwd_hash h;
};

/* A client address that failed: failures within the current window. */
struct fail {
	uint8_t used, family;
	uint8_t a[16];                  /* IPv4 address, or IPv6 /64 (the rest zero) */
	uint32_t count;
	uint64_t since_us;
};

/*
 * A client source (IPv4 /32, IPv6 /64) or an IPv6 /48 and its checks in
 * flight; count 0 is a free slot. The address bytes beyond plen are zero.
 */
struct src {
	uint32_t count;
	uint8_t family, plen;
	uint8_t a[8];
};

/* Open addressing, linear probing, at most half full (srcset_init). */
struct srcset {
	struct src *slot;
	uint32_t mask;
};

struct wq {
	struct ring req, rep;           /* worker -> service, service -> worker */
	/* the worker's */
	uint32_t outstanding;           /* submitted, not yet taken */
	struct srcset mine;             /* the sources of those */
	_Atomic uint64_t refused_inflight, refused_ipv6_48;   /* read by auth_service_stats() */
};

struct auth_service {
	struct auth_cfg cfg;
	unsigned nworkers, rr;
	struct wq *wq;
	_Atomic int offered;
	struct user *users;             /* sorted by name */
	size_t nusers;
	struct passwd_hash dummy;       /* unknown users are checked against this */
	struct fail *fails;             /* AUTH_TABLE_SLOTS */
	uint64_t hkey[2];               /* SipHash key of the in-flight tables */
	struct srcset inflight;         /* every source with a request taken off a ring and not answered */
	struct auth_req *wait, **wait_tail; /* taken off the rings, not yet checked, in arrival order */
	struct auth_req *held, **held_tail; /* failures waiting for their delay, in due order */
	struct auth_stats st;           /* the service lcore's */
	struct auth_stats shown;        /* st and the workers' refusals (auth_service_stats) */
};

/* ---- rings ---- */

static int ring_init(struct ring *r, uint32_t size)
{
	r->slot = calloc(size, sizeof(*r->slot));
	r->mask = size - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return r->slot ? 0 : -1;
}

static int ring_put(struct ring *r, struct auth_req *q)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (t - atomic_load_explicit(&r->head, memory_order_acquire) > r->mask)
		return -1;
	r->slot[t & r->mask] = q;
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	return 0;
}

static struct auth_req *ring_get(struct ring *r)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	struct auth_req *q;

	if (h == atomic_load_explicit(&r->tail, memory_order_acquire))
		return NULL;
	q = r->slot[h & r->mask];
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return q;
}

static int ring_empty(struct ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_relaxed) ==
	       atomic_load_explicit(&r->tail, memory_order_acquire);
}

/* ---- checks in flight per source ---- */

/*
 * Room for requests requests: two entries each at most (the source and
 * its /48), and twice that many slots, so a probe always ends at a free
 * slot and the table is never full.
 */
static int srcset_init(struct srcset *t, size_t requests)
{
	size_t n = 8;

	while (n < 4 * requests)
		n <<= 1;
	t->slot = calloc(n, sizeof(*t->slot));
	t->mask = (uint32_t)(n - 1);
	return t->slot ? 0 : -1;
}

/* The key of r's source (plen 32 or 64) or of its /48. */
static void src_key(const struct auth_req *r, unsigned plen, struct src *k)
{
	memset(k, 0, sizeof(*k));
	k->family = r->family == 4 ? 4 : 6;
	k->plen = (uint8_t)plen;
	memcpy(k->a, r->addr, plen / 8);
}

/* Keyed: a client cannot choose addresses that pile up in one probe run. */
static uint32_t src_hash(const struct auth_service *a, const struct src *k)
{
	uint8_t b[2 + sizeof(k->a)];

	b[0] = k->family;
	b[1] = k->plen;
	memcpy(b + 2, k->a, sizeof(k->a));
	return (uint32_t)SIPHASH_24(a->hkey, b, sizeof(b));
}

static int src_same(const struct src *e, const struct src *k)
{
	return e->family == k->family && e->plen == k->plen && memcmp(e->a, k->a, sizeof(k->a)) == 0;
}

/* k's entry, or the free slot where it would go; NULL only if the table were full. */
static struct src *src_find(const struct auth_service *a, const struct srcset *t, const struct src *k)
{
	uint32_t i = src_hash(a, k), n;
	struct src *e;

	for (n = 0; n <= t->mask; n++, i++) {
		e = &t->slot[i & t->mask];
		if (e->count == 0 || src_same(e, k))
			return e;
	}
	return NULL;
}

/* Free e's slot, moving back the entries after it that may fill it (no tombstones). */
static void src_del(const struct auth_service *a, struct srcset *t, struct src *e)
{
	uint32_t i = (uint32_t)(e - t->slot), j = i, home;

	for (;;) {
		j = (j + 1) & t->mask;
		if (t->slot[j].count == 0)
			break;
		home = src_hash(a, &t->slot[j]) & t->mask;
		/* the entry at j may move to i when i lies on its probe run, home .. j */
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->slot[i] = t->slot[j];
			i = j;
		}
	}
	memset(&t->slot[i], 0, sizeof(t->slot[i]));
}

/* Enter r's source (and its /48) into t: 0, or why not (nothing entered). */
static int src_enter(const struct auth_service *a, struct srcset *t, const struct auth_req *r)
{
	struct src k, n, *e;

	src_key(r, r->family == 4 ? 32 : 64, &k);
	if ((e = src_find(a, t, &k)) == NULL)
		return AUTH_BUSY;
	if (e->count != 0)
		return AUTH_INFLIGHT;
	if (k.family == 6 && a->cfg.ipv6_48_max) {
		src_key(r, 48, &n);
		if ((e = src_find(a, t, &n)) == NULL)
			return AUTH_BUSY;
		if (e->count >= a->cfg.ipv6_48_max)
			return AUTH_INFLIGHT_NET;
		if (e->count == 0)
			*e = n;
		e->count++;
		/* again: the /48 may have taken the slot found for the source */
		if ((e = src_find(a, t, &k)) == NULL) {        /* cannot happen: never half full */
			e = src_find(a, t, &n);
			if (--e->count == 0)
				src_del(a, t, e);
			return AUTH_BUSY;
		}
	}
	*e = k;
	e->count = 1;
	return 0;
}

/* Take r's source (and its /48) out of t again. */
static void src_leave(const struct auth_service *a, struct srcset *t, const struct auth_req *r)
{
	struct src k, *e;

	src_key(r, r->family == 4 ? 32 : 64, &k);
	if ((e = src_find(a, t, &k)) != NULL && e->count != 0)
		src_del(a, t, e);
	if (k.family == 6 && a->cfg.ipv6_48_max) {
		src_key(r, 48, &k);
		if ((e = src_find(a, t, &k)) != NULL && e->count != 0 && --e->count == 0)
			src_del(a, t, e);
	}
}

/* ---- life ---- */

struct auth_service *auth_service_new(const struct auth_cfg *cfg, unsigned nworkers)
{
	struct auth_service *a = calloc(1, sizeof(*a));
	uint32_t size = 1;
	unsigned i;

	if (a == NULL)
		return NULL;
	a->cfg = *cfg;
	if (a->cfg.queue_max == 0)
		a->cfg.queue_max = 64;
	while (size < a->cfg.queue_max && size < (1u << 16))
		size <<= 1;
	a->cfg.queue_max = size;
	a->nworkers = nworkers ? nworkers : 1;
	a->held_tail = &a->held;
	a->wait_tail = &a->wait;
	RAND_bytes((uint8_t *)a->hkey, sizeof(a->hkey));
	a->wq = calloc(a->nworkers, sizeof(*a->wq));
	a->fails = calloc(AUTH_TABLE_SLOTS, sizeof(*a->fails));
	if (a->wq == NULL || a->fails == NULL || srcset_init(&a->inflight, (size_t)a->nworkers * size) != 0)
		goto fail;
	for (i = 0; i < a->nworkers; i++)
		if (ring_init(&a->wq[i].req, size) != 0 || ring_init(&a->wq[i].rep, size) != 0 ||
		    srcset_init(&a->wq[i].mine, size) != 0)
			goto fail;
	return a;
fail:
	auth_service_free(a);
	return NULL;
}

static void users_free(struct user *u, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		OPENSSL_cleanse(&u[i].h, sizeof(u[i].h));
		free(u[i].name);
	}
	free(u);
}

void auth_service_free(struct auth_service *a)
{
	unsigned i;

	if (a == NULL)
		return;
	for (i = 0; a->wq != NULL && i < a->nworkers; i++) {
		free(a->wq[i].req.slot);
		free(a->wq[i].rep.slot);
		free(a->wq[i].mine.slot);
	}
	free(a->wq);
	free(a->fails);
	free(a->inflight.slot);
	users_free(a->users, a->nusers);
	free(a);
}

/* ---- worker side ---- */

int auth_offered(const struct auth_service *a)
{
	return a != NULL && atomic_load_explicit(&((struct auth_service *)a)->offered, memory_order_acquire);
}

/* A counter of this worker's, read by the service lcore: one writer, so no read-modify-write. */
static void worker_count(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

int auth_submit(struct auth_service *a, unsigned w, struct auth_req *r)
{
	struct wq *q = &a->wq[w];
	int why;

	/* one in flight per source from this worker: a second one takes no slot of the ring */
	why = src_enter(a, &q->mine, r);
	if (why == AUTH_INFLIGHT)
		worker_count(&q->refused_inflight);
	else if (why == AUTH_INFLIGHT_NET)
		worker_count(&q->refused_ipv6_48);
	if (why != 0)
		return why;
	/* at most queue_max answers can be owed, so the reply ring never overflows */
	if (q->outstanding >= a->cfg.queue_max)
		goto busy;
	r->result = AUTH_PENDING;      /* set before the ring publishes r */
	r->worker = w;
	r->next = NULL;
	if (ring_put(&q->req, r) != 0)
		goto busy;
	q->outstanding++;
	return 0;
busy:
	src_leave(a, &q->mine, r);
	return AUTH_BUSY;
}

struct auth_req *auth_take(struct auth_service *a, unsigned w)
{
	struct auth_req *r = ring_get(&a->wq[w].rep);

	if (r != NULL) {
		a->wq[w].outstanding--;
		src_leave(a, &a->wq[w].mine, r);
	}
	return r;
}

/* ---- the user set ---- */

static int user_cmp(const void *x, const void *y)
{
	return strcmp(((const struct user *)x)->name, ((const struct user *)y)->name);
}

int auth_set_users(struct auth_service *a, const char *payload, size_t len, char *msg, size_t msglen)
{
	struct user *u = NULL;
	size_t n = 0, cap = 0, line = 0, off = 0, i;
	struct ctl_user cu;
	char why[128];
	int got;

	while ((got = ctl_users_next(payload, len, &off, &line, &cu)) != 0) {
		if (got < 0) {
			snprintf(msg, msglen, "line %zu: expected \"<user> <hash>\" with a user of 1..%d "
				 "octets, no space or control character", line, AUTH_USER_MAX);
			goto bad;
		}
		if (n == AUTH_USERS_MAX) {
			snprintf(msg, msglen, "line %zu: more than %u users", line, AUTH_USERS_MAX);
			goto bad;
		}
		if (n == cap) {
			struct user *nu = realloc(u, (cap = cap ? cap * 2 : 64) * sizeof(*u));

			if (nu == NULL) {
				snprintf(msg, msglen, "out of memory");
				goto bad;
			}
			u = nu;
		}
		memset(&u[n], 0, sizeof(u[n]));
		if (passwd_parse(cu.hash, cu.hash_len, &u[n].h, why, sizeof(why)) != 0) {
			snprintf(msg, msglen, "line %zu: user %.*s: %s", line, (int)cu.name_len, cu.name, why);
			goto bad;
		}
		if ((u[n].name = strndup(cu.name, cu.name_len)) == NULL) {
			snprintf(msg, msglen, "out of memory");
			goto bad;
		}
		n++;
	}
	if (n > 0)
		qsort(u, n, sizeof(*u), user_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(u[i - 1].name, u[i].name) == 0) {
			snprintf(msg, msglen, "user %s appears twice", u[i].name);
			goto bad;
		}
	users_free(a->users, a->nusers);
	a->users = u;
	a->nusers = n;
	/* unknown users cost what a real one does: a random key with the first user's cost */
	if (n > 0) {
		a->dummy = u[0].h;
		RAND_bytes(a->dummy.salt, sizeof(a->dummy.salt));
		RAND_bytes(a->dummy.key, sizeof(a->dummy.key));
	}
	a->st.auth_users = n;
	atomic_store_explicit(&a->offered, n > 0, memory_order_release);
	snprintf(msg, msglen, "%zu user%s", n, n == 1 ? "" : "s");
	return 0;
bad:
	users_free(u, n);
	return -1;
}

static const struct user *user_find(const struct auth_service *a, const char *name)
{
	struct user key = { (char *)name, { 0 } };

	if (a->nusers == 0)
		return NULL;
	return bsearch(&key, a->users, a->nusers, sizeof(*a->users), user_cmp);
}

/* ---- failures per client address ---- */

/*
 * Failures count per IPv4 address and per IPv6 /64: one host holds a whole
 * /64, and counting each of its addresses apart would let it try 2^64
 * passwords before the limit (the Postfix anvil's own IPv6 prefix choice
 * is the address; fail2ban users group by /64 for the same reason).
 */
static struct fail *fail_slot(struct auth_service *a, const struct auth_req *r, uint64_t now, int create)
{
	uint32_t h = 2166136261u;
	unsigned i, n = r->family == 4 ? 4 : 8;
	uint64_t window = (uint64_t)a->cfg.fail_window_s * 1000000;
	struct fail *e, *free_slot = NULL;

	for (i = 0; i < n; i++)
		h = (h ^ r->addr[i]) * 16777619u;
	for (i = 0; i < FAIL_PROBE; i++) {
		e = &a->fails[(h + i) & (AUTH_TABLE_SLOTS - 1)];
		if (e->used && e->family == r->family && memcmp(e->a, r->addr, n) == 0) {
			if (now - e->since_us >= window) {
				e->count = 0;          /* the window is over: start again */
				e->since_us = now;
			}
			return e;
		}
		if (free_slot == NULL && (!e->used || now - e->since_us >= window))
			free_slot = e;
	}
	if (!create || free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = 1;
	free_slot->family = r->family;
	memcpy(free_slot->a, r->addr, n);
	free_slot->since_us = now;
	return free_slot;
}

/* ---- service lcore ---- */

static void answer(struct auth_service *a, struct auth_req *r)
{
	r->next = NULL;
	ring_put(&a->wq[r->worker].rep, r);      /* cannot be full: see auth_submit() */
}

/* Answer a request that was in flight: its source may ask again. */
static void finish(struct auth_service *a, struct auth_req *r)
{
	src_leave(a, &a->inflight, r);
	answer(a, r);
}

static void wipe(struct auth_req *r)
{
	OPENSSL_cleanse(r->pass, sizeof(r->pass));
	r->pass_len = 0;
}

/* Check one request; failures are held back, the rest answered now. */
static void check(struct auth_service *a, struct auth_req *r, uint64_t now)
{
	struct fail *f = fail_slot(a, r, now, 0);
	const struct user *u;
	int ok;

	if (a->cfg.fail_limit && f != NULL && f->count >= a->cfg.fail_limit) {
		r->result = AUTH_LIMITED;
	} else if (r->must_fail) {
		r->result = AUTH_FAIL;           /* as a wrong password: delayed, counted */
	} else if (a->nusers == 0) {
		r->result = AUTH_FAIL;           /* the set was emptied meanwhile */
	} else {
		u = user_find(a, r->user);
		a->st.auth_checks++;
		if (u == NULL)
			a->st.auth_unknown_user++;
		ok = passwd_verify(u ? &u->h : &a->dummy, r->pass, r->pass_len);
		r->result = ok < 0 ? AUTH_BUSY : ok && u != NULL ? AUTH_OK : AUTH_FAIL;
	}
	wipe(r);
	if (r->result != AUTH_FAIL) {
		finish(a, r);
		return;
	}
	f = fail_slot(a, r, now, 1);
	if (f != NULL)
		f->count++;
	else
		a->st.auth_table_full++;
	r->due_us = now + (uint64_t)a->cfg.fail_delay_ms * 1000;
	/* answer after the delay: with one fixed delay, arrival order is due order */
	r->next = NULL;
	*a->held_tail = r;
	a->held_tail = &r->next;
}

/*
 * Take what the workers handed over off their rings, one worker's request
 * in turn (at most what they can have owed, so a flood cannot hold the
 * loop): a source that already has a check in flight, through another
 * worker, is answered at once without one; the rest wait for their check
 * in arrival order.
 */
static unsigned intake(struct auth_service *a)
{
	unsigned n = 0, i, idle = 0, budget = a->nworkers * a->cfg.queue_max;
	struct auth_req *r;
	int why;

	while (idle < a->nworkers && budget > 0) {
		i = a->rr++ % a->nworkers;
		r = ring_get(&a->wq[i].req);
		if (r == NULL) {
			idle++;
			continue;
		}
		idle = 0;
		budget--;
		if ((why = src_enter(a, &a->inflight, r)) != 0) {
			if (why == AUTH_INFLIGHT)
				a->st.auth_refused_inflight++;
			else if (why == AUTH_INFLIGHT_NET)
				a->st.auth_refused_ipv6_48++;
			r->result = (enum auth_result)why;
			wipe(r);
			answer(a, r);
			n++;
			continue;
		}
		r->next = NULL;
		*a->wait_tail = r;
		a->wait_tail = &r->next;
	}
	return n;
}

unsigned auth_service_poll(struct auth_service *a, uint64_t now_us, unsigned max, int *wait_ms)
{
	unsigned work = intake(a), checks = 0, i;
	struct auth_req *r;

	while (checks < max && a->wait != NULL) {
		r = a->wait;
		a->wait = r->next;
		if (a->wait == NULL)
			a->wait_tail = &a->wait;
		check(a, r, now_us);
		checks++;
	}
	work += checks;
	while (a->held != NULL && a->held->due_us <= now_us) {
		r = a->held;
		a->held = r->next;
		if (a->held == NULL)
			a->held_tail = &a->held;
		finish(a, r);
		work++;
	}
	*wait_ms = -1;
	if (a->held != NULL)
		*wait_ms = (int)((a->held->due_us - now_us + 999) / 1000);
	if (a->wait != NULL)
		*wait_ms = 0;
	for (i = 0; i < a->nworkers; i++)
		if (!ring_empty(&a->wq[i].req))
			*wait_ms = 0;
	return work;
}

const struct auth_stats *auth_service_stats(const struct auth_service *a)
{
	struct auth_service *m = (struct auth_service *)a;     /* the sum is a cache of the service lcore's */
	unsigned i;

	m->shown = a->st;
	for (i = 0; i < a->nworkers; i++) {
		m->shown.auth_refused_inflight +=
			atomic_load_explicit(&a->wq[i].refused_inflight, memory_order_relaxed);
		m->shown.auth_refused_ipv6_48 +=
			atomic_load_explicit(&a->wq[i].refused_ipv6_48, memory_order_relaxed);
	}
	return &m->shown;
}
