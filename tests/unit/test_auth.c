/*
 * test_auth.c - unit tests of crypto/passwd.c (the scrypt hash strings) and
 * dataplane/smtp/auth.c (the service lcore's password checks): hashes made
 * by Python's hashlib.scrypt verify here (an independent implementation);
 * bad strings are refused with a reason; the user set is replaced whole or
 * not at all; a check answers OK, FAIL (held back for the delay), LIMITED
 * (after the failure limit, until the window ends), BUSY (queue full); one
 * check in flight per IPv4 address / IPv6 /64 and at most ipv6_48_max per
 * /48, whether the second comes through the same worker or another, until
 * the first is answered (its failure delay included), with the tables at
 * their fullest and against a model under random traffic; and a worker
 * thread and the service thread exchange 20000 requests through the rings
 * without losing or duplicating one.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/passwd.h"
#include "dataplane/smtp/auth.h"
#include "t.h"

/* hashlib.scrypt(b"pencil", salt=bytes(range(16)), n=1024, r=8, p=1, dklen=32) */
#define PY_PENCIL "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$6nhPEVsN+se56bORANZdgMaTpwHMOGdQtWQhkmsQvXY="
/* hashlib.scrypt(b"", salt=bytes(range(16)), n=1024, r=1, p=2, dklen=32) */
#define PY_EMPTY "$scrypt$ln=10,r=1,p=2$AAECAwQFBgcICQoLDA0ODw==$wWheuOMLIa63kFcY1MLKmmnEKEQAooyw4Qmdt4/Cwo0="

static int verify_str(const char *stored, const char *pw)
{
	struct passwd_hash h;
	char why[128];

	if (passwd_parse(stored, strlen(stored), &h, why, sizeof(why)) != 0)
		return -2;
	return passwd_verify(&h, (const uint8_t *)pw, strlen(pw));
}

TEST(passwd_vectors)
{
	CHECK_EQ(verify_str(PY_PENCIL, "pencil"), 1);
	CHECK_EQ(verify_str(PY_PENCIL, "pencil "), 0);
	CHECK_EQ(verify_str(PY_PENCIL, "Pencil"), 0);
	CHECK_EQ(verify_str(PY_EMPTY, ""), 1);
	CHECK_EQ(verify_str(PY_EMPTY, "x"), 0);
}

TEST(passwd_making)
{
	char a[PASSWD_STR_MAX + 1], b[PASSWD_STR_MAX + 1], why[128];

	CHECK_EQ(passwd_make((const uint8_t *)"s3cret", 6, 10, 8, 1, a, sizeof(a), why, sizeof(why)), 0);
	CHECK_EQ(passwd_make((const uint8_t *)"s3cret", 6, 10, 8, 1, b, sizeof(b), why, sizeof(why)), 0);
	CHECK(strncmp(a, "$scrypt$ln=10,r=8,p=1$", 22) == 0);
	CHECK(strcmp(a, b) != 0);               /* a fresh salt each time */
	CHECK_EQ(verify_str(a, "s3cret"), 1);
	CHECK_EQ(verify_str(b, "s3cret"), 1);
	CHECK_EQ(verify_str(a, "s3cre"), 0);
	CHECK(strlen(a) <= PASSWD_STR_MAX);
	/* cost out of bounds; an output buffer too small */
	CHECK_EQ(passwd_make((const uint8_t *)"x", 1, 9, 8, 1, a, sizeof(a), why, sizeof(why)), -1);
	CHECK(strstr(why, "cost") != NULL);
	CHECK_EQ(passwd_make((const uint8_t *)"x", 1, 20, 32, 1, a, sizeof(a), why, sizeof(why)), -1);
	CHECK_EQ(passwd_make((const uint8_t *)"x", 1, 10, 8, 1, a, 40, why, sizeof(why)), -1);
}

TEST(passwd_parse_errors)
{
	static const struct { const char *s, *why; } bad[] = {
		{ "", "not a \"$scrypt$\" hash" },
		{ "$2y$10$abcdefghijklmnopqrstuv", "not a \"$scrypt$\" hash" },
		{ "$scrypt$ln=10,r=8$AAECAwQFBgcICQoLDA0ODw==$6nhPEVsN+se56bORANZdgMaTpwHMOGdQtWQhkmsQvXY=", "parameters" },
		{ "$scrypt$ln=10,r=8,p=1,AAECAwQFBgcICQoLDA0ODw==$x", "parameters" },
		{ "$scrypt$ln=9,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$6nhPEVsN+se56bORANZdgMaTpwHMOGdQtWQhkmsQvXY=", "cost" },
		{ "$scrypt$ln=21,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$6nhPEVsN+se56bORANZdgMaTpwHMOGdQtWQhkmsQvXY=", "cost" },
		{ "$scrypt$ln=20,r=32,p=1$AAECAwQFBgcICQoLDA0ODw==$6nhPEVsN+se56bORANZdgMaTpwHMOGdQtWQhkmsQvXY=", "cost" },
		{ "$scrypt$ln=10,r=8,p=5$AAECAwQFBgcICQoLDA0ODw==$6nhPEVsN+se56bORANZdgMaTpwHMOGdQtWQhkmsQvXY=", "cost" },
		{ "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0O$6nhPEVsN+se56bORANZdgMaTpwHMOGdQtWQhkmsQvXY=", "salt" },
		{ "$scrypt$ln=10,r=8,p=1$AAECAwQF!gcICQoLDA0ODw==$6nhPEVsN+se56bORANZdgMaTpwHMOGdQtWQhkmsQvXY=", "salt" },
		{ "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$6nhPEVsN+se56bORANZdgMaTpwHMOGdQtWQhkmsQ", "key" },
		{ "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==", "no key" },
		{ "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$6nhPEVsN+se56bORANZdgMaTpwHMOGdQtWQhkmsQvXY=$", "too many" },
	};
	struct passwd_hash h;
	char why[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		CHECK_EQ(passwd_parse(bad[i].s, strlen(bad[i].s), &h, why, sizeof(why)), -1);
		CHECK(strstr(why, bad[i].why) != NULL);
	}
	/* the length given is honoured: a valid string followed by junk */
	CHECK_EQ(passwd_parse(PY_PENCIL "junk", strlen(PY_PENCIL), &h, why, sizeof(why)), 0);
	CHECK_EQ(h.ln, 10);
	CHECK_EQ(h.r, 8);
	CHECK_EQ(h.p, 1);
}

/* ---- the service ---- */

static struct auth_service *svc(unsigned delay_ms, unsigned limit, unsigned window_s, unsigned queue,
				unsigned nworkers)
{
	struct auth_cfg c = { delay_ms, limit, window_s, queue, 0 };

	return auth_service_new(&c, nworkers);
}

static char users[4096];

static const char *users_text(void)
{
	snprintf(users, sizeof(users), "alice %s\nbob %s\n", PY_PENCIL, PY_EMPTY);
	return users;
}

static struct auth_req *req(const char *user, const char *pass, uint8_t last_octet)
{
	struct auth_req *r = calloc(1, sizeof(*r));

	r->family = 4;
	r->addr[0] = 198;
	r->addr[1] = 18;
	r->addr[3] = last_octet;
	snprintf(r->user, sizeof(r->user), "%s", user);
	r->pass_len = strlen(pass);
	memcpy(r->pass, pass, r->pass_len);
	return r;
}

/* The same from 2001:2:0:<net>::<host> (net picks the /64). */
static struct auth_req *req6(const char *user, const char *pass, uint8_t net, uint8_t host)
{
	struct auth_req *r = req(user, pass, 0);

	memset(r->addr, 0, sizeof(r->addr));
	r->family = 6;
	r->addr[0] = 0x20;
	r->addr[1] = 0x01;
	r->addr[3] = 0x02;
	r->addr[7] = net;
	r->addr[15] = host;
	r->addr[9] = host;               /* the interface identifier varies in its upper half too */
	return r;
}

/* Submit one request from worker 0, poll at time now, and take the answer (or NULL). */
static struct auth_req *ask(struct auth_service *a, struct auth_req *r, uint64_t now)
{
	int wait;

	CHECK_EQ(auth_submit(a, 0, r), 0);
	auth_service_poll(a, now, 4, &wait);
	return auth_take(a, 0);
}

TEST(user_sets)
{
	struct auth_service *a = svc(1000, 5, 300, 64, 1);
	char msg[300];

	CHECK(a != NULL);
	CHECK_EQ(auth_offered(a), 0);
	users_text();
	CHECK_EQ(auth_set_users(a, users, strlen(users), msg, sizeof(msg)), 0);
	CHECK_STR(msg, "2 users");
	CHECK_EQ(auth_offered(a), 1);
	CHECK_EQ(auth_service_stats(a)->auth_users, 2);
	/* a bad set never replaces the good one */
	CHECK_EQ(auth_set_users(a, "carol $scrypt$nonsense\n", 23, msg, sizeof(msg)), -1);
	CHECK(strstr(msg, "line 1: user carol:") != NULL);
	snprintf(users, sizeof(users), "dave %s\ndave %s\n", PY_PENCIL, PY_EMPTY);
	CHECK_EQ(auth_set_users(a, users, strlen(users), msg, sizeof(msg)), -1);
	CHECK_STR(msg, "user dave appears twice");
	CHECK_EQ(auth_set_users(a, "no-hash-here\n", 13, msg, sizeof(msg)), -1);
	CHECK(strstr(msg, "line 1:") != NULL);
	snprintf(users, sizeof(users), "\n a %s\n", PY_PENCIL);
	CHECK_EQ(auth_set_users(a, users, strlen(users), msg, sizeof(msg)), -1);
	CHECK(strstr(msg, "line 2:") != NULL);
	CHECK_EQ(auth_service_stats(a)->auth_users, 2);
	CHECK_EQ(auth_offered(a), 1);
	/* an empty set: AUTH no longer offered */
	CHECK_EQ(auth_set_users(a, "", 0, msg, sizeof(msg)), 0);
	CHECK_STR(msg, "0 users");
	CHECK_EQ(auth_offered(a), 0);
	auth_service_free(a);
}

TEST(checks)
{
	struct auth_service *a = svc(1000, 3, 300, 4, 1);
	struct auth_req *r, *held[4];
	char msg[300];
	int wait;
	uint64_t t = 1000000;
	unsigned i;

	auth_set_users(a, users_text(), strlen(users_text()), msg, sizeof(msg));
	r = ask(a, req("alice", "pencil", 1), t);
	CHECK(r != NULL && r->result == AUTH_OK);
	CHECK(r != NULL && r->pass_len == 0 && r->pass[0] == 0);     /* wiped */
	free(r);
	r = ask(a, req("bob", "", 1), t);
	CHECK(r != NULL && r->result == AUTH_OK);
	free(r);
	/* a failure is held back for the delay */
	CHECK(ask(a, req("alice", "wrong", 1), t) == NULL);
	auth_service_poll(a, t + 999000, 4, &wait);
	CHECK_EQ(wait, 1);
	CHECK(auth_take(a, 0) == NULL);
	auth_service_poll(a, t + 1000000, 4, &wait);
	CHECK_EQ(wait, -1);
	r = auth_take(a, 0);
	CHECK(r != NULL && r->result == AUTH_FAIL);
	free(r);
	/* an unknown user costs a check too, and fails */
	CHECK(ask(a, req("mallory", "pencil", 1), t) == NULL);
	auth_service_poll(a, t + 1000000, 4, &wait);
	r = auth_take(a, 0);
	CHECK(r != NULL && r->result == AUTH_FAIL);
	free(r);
	CHECK_EQ(auth_service_stats(a)->auth_unknown_user, 1);
	/* three failures from 198.18.0.1: then LIMITED at once, even with the right password */
	CHECK(ask(a, req("alice", "nope", 1), t) == NULL);
	auth_service_poll(a, t + 1000000, 4, &wait);
	free(auth_take(a, 0));
	r = ask(a, req("alice", "pencil", 1), t + 1000000);
	CHECK(r != NULL && r->result == AUTH_LIMITED);
	free(r);
	/* another address is not limited */
	r = ask(a, req("alice", "pencil", 2), t + 1000000);
	CHECK(r != NULL && r->result == AUTH_OK);
	free(r);
	/* the window ends: checked again */
	r = ask(a, req("alice", "pencil", 1), t + 301000000);
	CHECK(r != NULL && r->result == AUTH_OK);
	free(r);
	CHECK_EQ(auth_service_stats(a)->auth_checks, 7);
	/* credentials the engine found malformed: fail after the delay even with the right password, and count */
	for (i = 0; i < 3; i++) {
		r = req("alice", "pencil", 3);
		r->must_fail = 1;
		CHECK(ask(a, r, t) == NULL);
		auth_service_poll(a, t + 1000000, 4, &wait);
		r = auth_take(a, 0);
		CHECK(r != NULL && r->result == AUTH_FAIL && r->pass_len == 0);
		free(r);
	}
	r = ask(a, req("alice", "pencil", 3), t + 1000000);
	CHECK(r != NULL && r->result == AUTH_LIMITED);      /* three failures from 198.18.0.3 */
	free(r);
	CHECK_EQ(auth_service_stats(a)->auth_checks, 7);      /* no password was checked */
	/* IPv6: failures count per /64, whatever the interface identifier */
	for (i = 0; i < 3; i++) {
		r = req6("alice", "wrong", 0, (uint8_t)(0x10 + i));
		CHECK(ask(a, r, t + 302000000) == NULL);
		auth_service_poll(a, t + 303000000, 4, &wait);
		free(auth_take(a, 0));
	}
	r = ask(a, req6("alice", "pencil", 0, 0x99), t + 303000000);
	CHECK(r != NULL && r->result == AUTH_LIMITED);
	free(r);
	r = ask(a, req6("alice", "pencil", 1, 0x10), t + 303000000);      /* the next /64 */
	CHECK(r != NULL && r->result == AUTH_OK);
	free(r);
	CHECK_EQ(auth_service_stats(a)->auth_checks, 11);
	/* queue full: four outstanding (queue 4), the fifth is refused by auth_submit */
	for (i = 0; i < 4; i++) {
		held[i] = req("alice", "wrong", (uint8_t)(10 + i));
		CHECK_EQ(auth_submit(a, 0, held[i]), 0);
	}
	r = req("alice", "pencil", 20);
	CHECK_EQ(auth_submit(a, 0, r), AUTH_BUSY);
	free(r);
	auth_service_poll(a, t, 8, &wait);          /* all four fail, held */
	CHECK_EQ(wait, 1000);
	r = req("alice", "pencil", 21);
	CHECK_EQ(auth_submit(a, 0, r), AUTH_BUSY);   /* still owed: no room */
	free(r);
	auth_service_poll(a, t + 1000000, 8, &wait);
	for (i = 0; i < 4; i++) {
		r = auth_take(a, 0);
		CHECK(r == held[i] && r->result == AUTH_FAIL);   /* in order */
		free(r);
	}
	CHECK(auth_take(a, 0) == NULL);
	auth_service_free(a);
}

/* ---- checks in flight per source ---- */

static struct auth_service *svc48(unsigned delay_ms, unsigned queue, unsigned nworkers, unsigned per48)
{
	struct auth_cfg c = { .fail_delay_ms = delay_ms, .fail_limit = 0, .fail_window_s = 300,
			      .queue_max = queue, .ipv6_48_max = per48 };

	return auth_service_new(&c, nworkers);
}

/* 2001:2:<n48>:<net>::<host>: n48 picks the /48 within 2001:2::/32. */
static struct auth_req *req48(const char *pass, uint8_t n48, uint8_t net, uint8_t host)
{
	struct auth_req *r = req6("alice", pass, net, host);

	r->addr[5] = n48;
	return r;
}

/* Submit r on worker w and expect want; a refused r is freed here. */
static void submit(struct auth_service *a, unsigned w, struct auth_req *r, int want)
{
	int got = auth_submit(a, w, r);

	CHECK_EQ(got, want);
	if (got != 0)
		free(r);
}

/* The next answer of worker w: expect result want (and a wiped password), free it. */
static void take(struct auth_service *a, unsigned w, enum auth_result want)
{
	struct auth_req *r = auth_take(a, w);

	CHECK(r != NULL);
	if (r == NULL)
		return;
	CHECK_EQ(r->result, want);
	CHECK_EQ(r->pass_len, 0);
	free(r);
}

TEST(inflight_v4)
{
	struct auth_service *a = svc48(1000, 8, 2, 8);
	uint64_t t = 1000000;
	char msg[300];
	int wait;

	auth_set_users(a, users_text(), strlen(users_text()), msg, sizeof(msg));
	/* the same worker: the second from 198.18.0.1 is refused at once, another address is not */
	submit(a, 0, req("alice", "wrong", 1), 0);
	submit(a, 0, req("alice", "pencil", 1), AUTH_INFLIGHT);
	submit(a, 0, req("alice", "pencil", 2), 0);
	CHECK_EQ(auth_service_stats(a)->auth_refused_inflight, 1);
	auth_service_poll(a, t, 0, &wait);           /* taken off the ring, not checked yet */
	CHECK_EQ(wait, 0);
	CHECK(auth_take(a, 0) == NULL);
	/* another worker: it cannot know, the service lcore refuses it without a check */
	submit(a, 1, req("alice", "pencil", 1), 0);
	auth_service_poll(a, t, 0, &wait);
	take(a, 1, AUTH_INFLIGHT);
	CHECK_EQ(auth_service_stats(a)->auth_refused_inflight, 2);
	CHECK_EQ(auth_service_stats(a)->auth_checks, 0);
	/* the checks: .1 fails (held back for the delay), .2 succeeds */
	auth_service_poll(a, t, 8, &wait);
	CHECK_EQ(wait, 1000);
	take(a, 0, AUTH_OK);
	CHECK(auth_take(a, 0) == NULL);
	CHECK_EQ(auth_service_stats(a)->auth_checks, 2);
	/* a failure held back is still in flight: refused on both workers */
	submit(a, 0, req("alice", "pencil", 1), AUTH_INFLIGHT);
	submit(a, 1, req("alice", "pencil", 1), 0);
	auth_service_poll(a, t + 500000, 8, &wait);
	take(a, 1, AUTH_INFLIGHT);
	CHECK_EQ(auth_service_stats(a)->auth_checks, 2);
	/* .2 is done: it may ask again at once, on either worker */
	submit(a, 1, req("alice", "pencil", 2), 0);
	auth_service_poll(a, t + 500000, 8, &wait);
	take(a, 1, AUTH_OK);
	/* the failure is answered: .1 may ask again, and is checked */
	auth_service_poll(a, t + 1000000, 8, &wait);
	take(a, 0, AUTH_FAIL);
	submit(a, 1, req("alice", "pencil", 1), 0);
	auth_service_poll(a, t + 1000000, 8, &wait);
	take(a, 1, AUTH_OK);
	submit(a, 0, req("alice", "pencil", 1), 0);
	auth_service_poll(a, t + 1000000, 8, &wait);
	take(a, 0, AUTH_OK);
	CHECK_EQ(auth_service_stats(a)->auth_refused_inflight, 4);
	CHECK_EQ(auth_service_stats(a)->auth_refused_ipv6_48, 0);
	CHECK_EQ(auth_service_stats(a)->auth_checks, 5);
	CHECK(auth_take(a, 0) == NULL && auth_take(a, 1) == NULL);
	auth_service_free(a);
}

TEST(inflight_v6)
{
	struct auth_service *a = svc48(1000, 16, 2, 2);
	uint64_t t = 1000000;
	char msg[300];
	int wait, i;

	auth_set_users(a, users_text(), strlen(users_text()), msg, sizeof(msg));
	/* per /64, whatever the interface identifier */
	submit(a, 0, req48("wrong", 0, 0, 1), 0);
	submit(a, 0, req48("pencil", 0, 0, 2), AUTH_INFLIGHT);
	/* per /48: two /64s of 2001:2::/48, the third refused; another /48 and IPv4 not */
	submit(a, 0, req48("wrong", 0, 1, 1), 0);
	submit(a, 0, req48("pencil", 0, 2, 1), AUTH_INFLIGHT_NET);
	submit(a, 0, req48("pencil", 1, 2, 1), 0);
	submit(a, 0, req("alice", "pencil", 1), 0);
	CHECK_EQ(auth_service_stats(a)->auth_refused_inflight, 1);
	CHECK_EQ(auth_service_stats(a)->auth_refused_ipv6_48, 1);
	/* through another worker: the service lcore counts the /48 across workers */
	auth_service_poll(a, t, 0, &wait);
	submit(a, 1, req48("pencil", 0, 2, 1), 0);
	submit(a, 1, req48("pencil", 0, 1, 7), 0);
	auth_service_poll(a, t, 0, &wait);
	take(a, 1, AUTH_INFLIGHT_NET);
	take(a, 1, AUTH_INFLIGHT);
	CHECK_EQ(auth_service_stats(a)->auth_refused_inflight, 2);
	CHECK_EQ(auth_service_stats(a)->auth_refused_ipv6_48, 2);
	/* the checks: the two of 2001:2::/48 fail (held), the others succeed */
	auth_service_poll(a, t, 8, &wait);
	take(a, 0, AUTH_OK);
	take(a, 0, AUTH_OK);
	submit(a, 1, req48("pencil", 0, 2, 1), 0);
	auth_service_poll(a, t, 8, &wait);
	take(a, 1, AUTH_INFLIGHT_NET);
	/* answered: room in the /48 again */
	auth_service_poll(a, t + 1000000, 8, &wait);
	take(a, 0, AUTH_FAIL);
	take(a, 0, AUTH_FAIL);
	submit(a, 1, req48("pencil", 0, 2, 1), 0);
	submit(a, 1, req48("pencil", 0, 3, 1), 0);
	auth_service_poll(a, t + 1000000, 8, &wait);
	take(a, 1, AUTH_OK);
	take(a, 1, AUTH_OK);
	CHECK_EQ(auth_service_stats(a)->auth_refused_ipv6_48, 3);
	auth_service_free(a);

	/* ipv6_48_max 0: no bound per /48, still one per /64 */
	a = svc48(0, 16, 1, 0);
	for (i = 0; i < 16; i++)
		submit(a, 0, req48("x", 0, (uint8_t)i, 1), 0);
	submit(a, 0, req48("x", 0, 0, 9), AUTH_INFLIGHT);
	CHECK_EQ(auth_service_stats(a)->auth_refused_ipv6_48, 0);
	auth_service_poll(a, t, 16, &wait);         /* no users: all fail at once (delay 0) */
	for (i = 0; i < 16; i++)
		take(a, 0, AUTH_FAIL);
	auth_service_free(a);
}

/*
 * The tables at their fullest: every worker's queue full of sources each
 * with its own /48 (two entries a request), then refusals, then all
 * answered and all again, three rounds: nothing refused that should not
 * be, and answered sources leave no trace.
 */
TEST(inflight_tables_full)
{
	enum { W = 2, Q = 8 };
	struct auth_service *a = svc48(0, Q, W, 1);
	unsigned w, i, round;
	int wait;

	for (round = 0; round < 3; round++) {
		for (w = 0; w < W; w++)
			for (i = 0; i < Q; i++)
				submit(a, w, req48("x", (uint8_t)(16 * w + i + round), (uint8_t)round, 1), 0);
		for (w = 0; w < W; w++) {
			/* full: a new source is BUSY, one in flight is still named as such */
			submit(a, w, req48("x", 200, 0, 1), AUTH_BUSY);
			submit(a, w, req48("x", (uint8_t)(16 * w + round), (uint8_t)round, 2), AUTH_INFLIGHT);
			submit(a, w, req48("x", (uint8_t)(16 * w + 1 + round), 99, 1), AUTH_INFLIGHT_NET);
		}
		auth_service_poll(a, 0, 0, &wait);         /* all taken in: none refused */
		CHECK_EQ(auth_service_stats(a)->auth_refused_inflight, (round + 1) * W);
		CHECK_EQ(auth_service_stats(a)->auth_refused_ipv6_48, (round + 1) * W);
		auth_service_poll(a, 0, W * Q, &wait);     /* no users: all fail at once (delay 0) */
		CHECK_EQ(wait, -1);
		for (w = 0; w < W; w++) {
			for (i = 0; i < Q; i++)
				take(a, w, AUTH_FAIL);
			CHECK(auth_take(a, w) == NULL);
		}
	}
	auth_service_free(a);
}

/*
 * Random traffic from a few sources (IPv4 addresses, /64s of two /48s)
 * through a worker with small tables (many probe collisions, entries
 * moved back on deletion), against a model: every refusal and every
 * acceptance is the one the model predicts.
 */
TEST(inflight_model)
{
	enum { Q = 4, SRC = 12, LIM48 = 2 };
	struct auth_service *a = svc48(0, Q, 1, LIM48);
	unsigned busy[SRC] = { 0 }, per48[2] = { 0 }, outstanding = 0, refused[2] = { 0 };
	unsigned i, op, s, want, mismatches = 0, accepted = 0, busy_seen = 0;
	uint32_t x = 12345;
	int wait;

	for (op = 0; op < 40000; op++) {
		struct auth_req *r;

		x = x * 1103515245u + 12345u;
		if ((x >> 16) % 8 < 5) {
			s = (x >> 20) % SRC;       /* 0..3 IPv4, 4..7 /64s of one /48, 8..11 of another */
			r = s < 4 ? req("x", "y", (uint8_t)(50 + s)) :
				    req48("y", (uint8_t)(s < 8 ? 1 : 2), (uint8_t)(s % 4), (uint8_t)(x >> 8));
			r->owner = (void *)(uintptr_t)(s + 1);
			want = busy[s] ? AUTH_INFLIGHT :         /* the order auth_submit() decides in */
			       s >= 4 && per48[s >= 8] >= LIM48 ? AUTH_INFLIGHT_NET :
			       outstanding >= Q ? AUTH_BUSY : 0;
			i = (unsigned)auth_submit(a, 0, r);
			mismatches += i != want;
			if (i == AUTH_INFLIGHT)
				refused[0]++;
			if (i == AUTH_INFLIGHT_NET)
				refused[1]++;
			busy_seen += i == AUTH_BUSY;
			if (i != 0) {
				free(r);
				continue;
			}
			accepted++;
			busy[s] = 1;
			if (s >= 4)
				per48[s >= 8]++;
			outstanding++;
		} else {
			auth_service_poll(a, 0, (x >> 20) % 4, &wait);
			while ((r = auth_take(a, 0)) != NULL) {
				s = (unsigned)(uintptr_t)r->owner - 1;
				mismatches += r->result != AUTH_FAIL || !busy[s];
				busy[s] = 0;
				if (s >= 4)
					per48[s >= 8]--;
				outstanding--;
				free(r);
			}
		}
	}
	auth_service_poll(a, 0, Q, &wait);          /* what is still owed */
	for (i = 0; i < outstanding; i++)
		take(a, 0, AUTH_FAIL);
	CHECK(auth_take(a, 0) == NULL);
	CHECK_EQ(mismatches, 0);
	CHECK(accepted > 5000 && refused[0] > 1000 && refused[1] > 100 && busy_seen > 100);
	CHECK_EQ(auth_service_stats(a)->auth_refused_inflight, refused[0]);
	CHECK_EQ(auth_service_stats(a)->auth_refused_ipv6_48, refused[1]);
	auth_service_free(a);
}

/* ---- two threads ---- */

#define MANY 20000
static struct auth_service *A2;
static volatile int stop_service;

static void *service_thread(void *arg)
{
	uint64_t now = 0;
	int wait;

	(void)arg;
	while (!__atomic_load_n(&stop_service, __ATOMIC_ACQUIRE))
		auth_service_poll(A2, now += 1000, 64, &wait);
	return NULL;
}

TEST(threads)
{
	pthread_t th;
	char msg[300];
	unsigned sent = 0, got = 0, ok = 0, spins = 0;
	static unsigned seen[MANY];

	/* no users: every request fails fast (no scrypt), with no delay */
	A2 = svc(0, 0, 300, 16, 2);
	CHECK_EQ(auth_set_users(A2, "", 0, msg, sizeof(msg)), 0);
	pthread_create(&th, NULL, service_thread, NULL);
	while (got < MANY && spins < 100000000u) {
		struct auth_req *r;

		if (sent < MANY) {
			r = req("x", "y", (uint8_t)sent);
			r->addr[2] = (uint8_t)(sent >> 8);  /* a source each: one in flight per source */
			r->owner = (void *)(uintptr_t)(sent + 1);
			if (auth_submit(A2, 1, r) == 0)
				sent++;
			else
				free(r);
		}
		while ((r = auth_take(A2, 1)) != NULL) {
			unsigned id = (unsigned)(uintptr_t)r->owner - 1;

			if (id < MANY && seen[id]++ == 0 && r->result == AUTH_FAIL)
				ok++;
			got++;
			free(r);
		}
		spins++;
	}
	__atomic_store_n(&stop_service, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CHECK_EQ(got, MANY);
	CHECK_EQ(ok, MANY);
	auth_service_free(A2);
}

int main(void)
{
	RUN(passwd_vectors);
	RUN(passwd_making);
	RUN(passwd_parse_errors);
	RUN(user_sets);
	RUN(checks);
	RUN(inflight_v4);
	RUN(inflight_v6);
	RUN(inflight_tables_full);
	RUN(inflight_model);
	RUN(threads);
	return t_done("test_auth");
}
