/*
 * control.h - what the parts of mxgate-control share: its state (struct
 * app), logging and small helpers (mxgate-control.c), and the Redis side
 * (store.c: connections, reading and validating policy, ticket keys,
 * certificates with CA/CRL/OCSP, SMTP AUTH users, the events channel, the
 * stats hash). See mxgate-control.c
 * for the whole picture and the Redis schema.
 */
#ifndef MX_CONTROL_H
#define MX_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "common/config.h"
#include "common/schema.h"
#include "common/strutil.h"
#include "control/metrics.h"
#include "control/util.h"

#define REDIS_CONNECT_MS        1000
#define REDIS_CMD_MS            2000
#define POLICY_ERRORS_LOGGED    10      /* bad entries named per rejected version */
#define EVENTS_UNKNOWN_LOGGED   10      /* unknown event messages logged in all */
#define KEY_LEN                 (CFG_NAME_LEN * 2 + 32)
#define INTERVAL_DEFAULT        5
#define INTERVAL_MAX            3600
#define USERS_BAD_LOGGED        20              /* newly bad user entries named per read */
#define USERS_SCAN_COUNT        1000            /* SCAN ... COUNT */

/*
 * What is pushed to mxgate, in the order it is pushed, and where each
 * stands: the generation marker of the data set first (mxgate never holds
 * pushed state without it: a restarted mxgate-control learns it back from
 * CTL_STATUS), then the four things, the certificates first (a restarted
 * mxgate gets its TLS context before anything else).
 */
enum { SY_GEN, SY_CERTS, SY_TICKETS, SY_POLICY, SY_USERS, SY_KINDS };

struct synced {
	int have;                       /* a good one read from Redis is held */
	int pushed;                     /* mxgate was given it and answered */
	int refused;                    /* ... no: not given again until it changes */
	uint64_t digest;                /* of what is held (the ticket keys: 0, compared whole) */
};

/* A new one is held: due for a push. */
static inline void synced_hold(struct synced *s, uint64_t digest)
{
	s->have = 1;
	s->digest = digest;
	s->pushed = s->refused = 0;
}

/* Held, and neither given to mxgate nor refused by it yet. */
static inline int synced_due(const struct synced *s)
{
	return s->have && !s->pushed && !s->refused;
}

/* Given to mxgate and not refused: mxgate should hold it. */
static inline int synced_taken(const struct synced *s)
{
	return s->have && s->pushed && !s->refused;
}

/* A validated access map, as pushed: "version\n" then "key value" lines, sorted by key. */
struct policy {
	uint64_t version;
	size_t entries;
	char *payload;
	size_t len;
};

struct app {
	struct mx_config cfg;
	unsigned interval_s;
	char k_policy[KEY_LEN], k_version[KEY_LEN], k_events[KEY_LEN], k_tickets[KEY_LEN],
	     k_stats[KEY_LEN], k_certs[KEY_LEN], k_cert[KEY_LEN], k_ca[KEY_LEN], k_crl[KEY_LEN],
	     k_auth[KEY_LEN], k_gen[KEY_LEN];

	/* Redis: rc for commands, rs subscribed to k_events */
	int redis_enabled;
	redisContext *rc, *rs;
	redisContext *rsn;              /* with Sentinel: subscribed to +switch-master there */
	char sentinels[SENTINELS_MAX][SENTINEL_ADDR_LEN];
	int sentinels_n, sentinel_at;   /* redis_sentinels parsed; the one that answered */
	char redis_addr[SENTINEL_ADDR_LEN];     /* the server in use (redis_server, or the master) */
	long long redis_retry_at, redis_lost_at;
	int redis_backoff;
	int redis_outage;               /* away (or never reached) and already said so */
	int redis_ever;                 /* connected at least once */
	int need_full, need_policy, need_tickets, need_certs, need_users;
	unsigned long long redis_connects;
	unsigned unknown_events;
	char gen[GEN_MAX + 1];          /* the generation marker seen with the state held ("": none yet) */
	int store_lost;                 /* the marker is gone or changed: nothing read or pushed */
	int mx_known;                   /* mxgate answered CTL_STATUS once: what it holds is known */
	int mx_holds;                   /* ... it holds pushed state but no marker (an older mxgate) */
	unsigned long long store_losses;

	/* desired state: the last good one read from Redis, and where each stands with mxgate */
	struct synced sy[SY_KINDS];
	struct policy pol;
	uint64_t rej_version, rej_digest;       /* last invalid map logged */
	int have_rej, no_policy_logged, pol_read_err;
	int tickets_on;                 /* this appliance uses session tickets */
	uint8_t tk[2 * TICKET_KEY_LEN]; /* current | previous */
	char *crt;                      /* SET_CERTS payload of the certificates in Redis */
	size_t crt_len;
	unsigned crt_count;
	uint64_t crt_bad_digest;
	int crt_none_logged;
	uint64_t tk_bad_digest;         /* last bad ticket hash logged */
	char *usr;                      /* SET_USERS payload: "user hash\n" lines, sorted */
	size_t usr_len, usr_count;
	int usr_cap_logged, usr_big_logged, usr_read_err;
	uint64_t *usr_bad;              /* digests of the bad user entries already logged, sorted */
	size_t usr_nbad;

	/* mxgate's control socket */
	int ctl_backoff, ctl_down;
	long long ctl_retry_at;
	char mx_ident[128];             /* "pid"/"started" of CTL_STATUS: a change = a restart */
	char mx_polver[32];             /* policy_version of CTL_STATUS after our last push */

	/* counters */
	char *stats;                    /* last CTL_STATS text */
	size_t stats_len;
	long long stats_at;
	int stats_ok, stats_redis_bad;
	long long next_tick;
	unsigned long long policy_pushes, policy_rejects, ticket_pushes, cert_pushes, user_pushes,
			   user_rejects, stats_fetches, stats_errors, stats_written;
	/* sets not pushed: bad in Redis (once per content) or refused by mxgate */
	unsigned long long ticket_rejects, cert_rejects;
	struct metrics_srv *ms;
};

/* ---- store.c: Redis ---- */

/*
 * Connect both connections (commands, subscriber), AUTH, SUBSCRIBE; on
 * success a full resync is due. With redis_sentinels the server is the
 * master they name, checked with ROLE, and a third connection to that
 * sentinel follows +switch-master.
 */
void redis_connect(struct app *a);
/* With Sentinel: the server in use is still a master (ROLE); 0, or -1 with why. */
int redis_check_master(struct app *a, char *err, size_t errlen);
/* The sentinel connection is readable: +switch-master of our master means reconnect. */
void sentinel_sub_read(struct app *a);
/* The connections are gone or unusable: drop them, keep the last good state, retry with back-off. */
void redis_lost(struct app *a, const char *reason);
/* Close both connections. */
void redis_drop(struct app *a);
/* SMTP AUTH users: every <prefix>auth:* key (SCAN), validated; -1 when the connection is lost. */
int sync_users(struct app *a);
/* Whatever the events or the clock asked for (need_*); -1 when the connection is lost. */
int redis_sync(struct app *a);
/* The subscriber connection is readable: take the events. */
void sub_read(struct app *a);
/* Appliance totals of a->stats into <prefix>stats:<id>; -1 when the connection is lost. */
int stats_to_redis(struct app *a);

#endif
