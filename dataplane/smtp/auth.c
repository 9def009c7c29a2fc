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

struct wq {
	struct ring req, rep;           /* worker -> service, service -> worker */
	uint32_t outstanding;           /* the worker's: submitted, not yet taken */
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
	struct auth_req *held, **held_tail; /* failures waiting for their delay, in due order */
	struct auth_stats st;
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
	a->wq = calloc(a->nworkers, sizeof(*a->wq));
	a->fails = calloc(AUTH_TABLE_SLOTS, sizeof(*a->fails));
	if (a->wq == NULL || a->fails == NULL)
		goto fail;
	for (i = 0; i < a->nworkers; i++)
		if (ring_init(&a->wq[i].req, size) != 0 || ring_init(&a->wq[i].rep, size) != 0)
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
	}
	free(a->wq);
	free(a->fails);
	users_free(a->users, a->nusers);
	free(a);
}

/* ---- worker side ---- */

int auth_offered(const struct auth_service *a)
{
	return a != NULL && atomic_load_explicit(&((struct auth_service *)a)->offered, memory_order_acquire);
}

int auth_submit(struct auth_service *a, unsigned w, struct auth_req *r)
{
	struct wq *q = &a->wq[w];

	/* at most queue_max answers can be owed, so the reply ring never overflows */
	if (q->outstanding >= a->cfg.queue_max)
		return -1;
	r->result = AUTH_PENDING;      /* set before the ring publishes r */
	r->worker = w;
	r->next = NULL;
	if (ring_put(&q->req, r) != 0)
		return -1;
	q->outstanding++;
	return 0;
}

struct auth_req *auth_take(struct auth_service *a, unsigned w)
{
	struct auth_req *r = ring_get(&a->wq[w].rep);

	if (r != NULL)
		a->wq[w].outstanding--;
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

/* Check one request; failures are held back, the rest answered now. */
static void check(struct auth_service *a, struct auth_req *r, uint64_t now)
{
	struct fail *f = fail_slot(a, r, now, 0);
	const struct user *u;
	int ok;

	if (a->cfg.fail_limit && f != NULL && f->count >= a->cfg.fail_limit) {
		r->result = AUTH_LIMITED;
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
	OPENSSL_cleanse(r->pass, sizeof(r->pass));
	r->pass_len = 0;
	if (r->result != AUTH_FAIL) {
		answer(a, r);
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

unsigned auth_service_poll(struct auth_service *a, uint64_t now_us, unsigned max, int *wait_ms)
{
	unsigned work = 0, i, idle = 0;
	struct auth_req *r;

	/* round robin over the workers, one request each in turn */
	while (work < max && idle < a->nworkers) {
		i = a->rr++ % a->nworkers;
		r = ring_get(&a->wq[i].req);
		if (r == NULL) {
			idle++;
			continue;
		}
		idle = 0;
		check(a, r, now_us);
		work++;
	}
	while (a->held != NULL && a->held->due_us <= now_us) {
		r = a->held;
		a->held = r->next;
		if (a->held == NULL)
			a->held_tail = &a->held;
		answer(a, r);
		work++;
	}
	*wait_ms = -1;
	if (a->held != NULL)
		*wait_ms = (int)((a->held->due_us - now_us + 999) / 1000);
	for (i = 0; i < a->nworkers; i++)
		if (!ring_empty(&a->wq[i].req))
			*wait_ms = 0;
	return work;
}

const struct auth_stats *auth_service_stats(const struct auth_service *a)
{
	return &a->st;
}
