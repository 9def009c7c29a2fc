/*
 * auth.h - SMTP AUTH (RFC 4954) password checks, off the workers.
 *
 * The users (name -> scrypt hash, crypto/passwd.h) are pushed by the
 * control plane (CTL_SET_USERS) and live on the service lcore, which is
 * also the only thread that runs scrypt: a check costs tens of
 * milliseconds and megabytes, which a polling worker must never spend.
 *
 * A worker hands a request (client address, user, password) to the
 * service lcore through its own single-producer/single-consumer ring and
 * gets the verdict back through another; nothing is shared otherwise.
 * The service lcore:
 *  - refuses at once, without running scrypt, a client address that has
 *    failed auth_fail_limit times within auth_fail_window_s (AUTH_LIMITED);
 *    the counting table is bounded (AUTH_TABLE_SLOTS): a client that finds
 *    no room is checked but not counted, and that is counted;
 *  - runs scrypt for unknown users too (against a dummy hash), so the
 *    answer's timing does not tell which users exist;
 *  - holds a failure's verdict back for auth_fail_delay_ms (slowed);
 *  - refuses when a worker's ring is full (AUTH_BUSY; auth_queue_max).
 * The password is wiped from the request as soon as it has been checked.
 *
 * In flight: one check at a time per client source (an IPv4 address, an
 * IPv6 /64: the unit failures count by), and at most ipv6_48_max checks per
 * IPv6 /48, all workers together. A request is in flight from auth_submit()
 * until its answer is handed back, the failure delay included (so a source
 * that fails gets one scrypt run per delay at most). Another one from the
 * same source meanwhile gets AUTH_INFLIGHT (AUTH_INFLIGHT_NET for its /48)
 * at once, without a check and without taking a queue slot that others
 * could use. Two levels, neither shared nor locked:
 *  - each worker keeps its own set of what it has submitted and not yet
 *    taken back (auth_submit() refuses, auth_take() releases), so a worker's
 *    ring never holds two requests of one source, nor more than
 *    ipv6_48_max of one /48;
 *  - the service lcore drains every ring before each check and keeps the
 *    same set across the workers: a request from a source that another
 *    worker already has in flight is answered AUTH_INFLIGHT without a
 *    check.
 * Both sets are open-addressing tables sized at start for the most they can
 * hold (queue_max requests per worker, two entries each), so they are never
 * full and never allocate. Checks wait in arrival order; since a source has
 * at most one waiting, every source gets its turn before anyone's second.
 */
#ifndef MX_AUTH_H
#define MX_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_USER_MAX     255
#define AUTH_PASS_MAX     255
#define AUTH_TABLE_SLOTS  4096          /* client addresses counted for failures (power of two) */
#define AUTH_USERS_MAX    (1u << 20)

enum auth_result {
	AUTH_PENDING = 0,
	AUTH_OK,                /* 235 2.7.0 */
	AUTH_FAIL,              /* 535 5.7.8 (after the delay) */
	AUTH_LIMITED,           /* too many failures from this address: 454 4.7.0, not checked */
	AUTH_BUSY,              /* queue full or scrypt out of memory: 454 4.7.0 */
	AUTH_INFLIGHT,          /* a check from this source (IPv4 address, IPv6 /64) in flight: 454 4.7.0 */
	AUTH_INFLIGHT_NET,      /* ipv6_48_max checks from this IPv6 /48 in flight: 454 4.7.0 */
};

/* Counters of the service side (read by the stats reply on the same thread). */
#define AUTH_STATS(X) \
	X(auth_checks)            /* scrypt runs */ \
	X(auth_unknown_user)      /* of which for a user not in the set */ \
	X(auth_table_full)        /* failures not counted: no room for the client address */ \
	X(auth_refused_inflight)  /* refused, not checked: a check of the same source in flight */ \
	X(auth_refused_ipv6_48)   /* refused, not checked: ipv6_48_max checks of the /48 in flight */ \
	X(auth_users)             /* gauge: users in the set */

struct auth_stats {
#define X(n) uint64_t n;
	AUTH_STATS(X)
#undef X
};
extern const char *const auth_stat_names[];
#define AUTH_STAT_COUNT (sizeof(struct auth_stats) / sizeof(uint64_t))

/* One check; allocated and freed by the worker that asks. */
struct auth_req {
	/* the worker's */
	void *owner;            /* its session; NULL once the session is gone */
	uint8_t family;         /* 4 or 6 */
	uint8_t addr[16];
	char user[AUTH_USER_MAX + 1];
	uint8_t pass[AUTH_PASS_MAX];
	size_t pass_len;
	uint8_t must_fail;      /* the engine found the credentials' form wrong: fails, no check */
	unsigned worker;        /* set by auth_submit() */
	/* the service lcore's */
	enum auth_result result;
	uint64_t due_us;        /* a failure is answered no sooner */
	struct auth_req *next;  /* service-side lists */
};

struct auth_service;
struct auth_cfg {
	unsigned fail_delay_ms;     /* 1000 */
	unsigned fail_limit;        /* 5 failures ... */
	unsigned fail_window_s;     /* ... within 300 s, then AUTH_LIMITED */
	unsigned queue_max;         /* per-worker ring size (power of two), 64 */
	unsigned ipv6_48_max;       /* checks in flight per IPv6 /48, all workers; 0 = no limit */
};

/* For nworkers workers. NULL when out of memory. */
struct auth_service *auth_service_new(const struct auth_cfg *cfg, unsigned nworkers);
void auth_service_free(struct auth_service *a);

/* ---- worker side (worker index w) ---- */

/* Is AUTH offered (the set is not empty)? An atomic load. */
int auth_offered(const struct auth_service *a);
/*
 * Hand a request over: 0, or the refusal to answer yourself (r is still
 * yours): AUTH_BUSY (queue full), AUTH_INFLIGHT or AUTH_INFLIGHT_NET (this
 * worker already has the source's check, or its /48's limit, in flight).
 */
int auth_submit(struct auth_service *a, unsigned w, struct auth_req *r);
/* The next answered request of this worker, or NULL. */
struct auth_req *auth_take(struct auth_service *a, unsigned w);

/* ---- service lcore ---- */

/*
 * Replace the whole user set from CTL_SET_USERS's payload. 0 with "N users"
 * in msg, or -1 with "line N: why" (the old set stays).
 */
int auth_set_users(struct auth_service *a, const char *payload, size_t len, char *msg, size_t msglen);
/*
 * Check what the workers asked (at most max scrypt runs) and hand back the
 * verdicts that are due. now_us: a monotonic clock. Returns work done;
 * *wait_ms: 0 when requests are still waiting, else the milliseconds until
 * the next held-back verdict is due, or -1 when nothing is pending.
 */
unsigned auth_service_poll(struct auth_service *a, uint64_t now_us, unsigned max, int *wait_ms);
/* The counters, the workers' refusals added in (call on the service lcore). */
const struct auth_stats *auth_service_stats(const struct auth_service *a);

#endif
