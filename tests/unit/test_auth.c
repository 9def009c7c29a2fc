/*
 * test_auth.c - unit tests of crypto/passwd.c (the scrypt hash strings) and
 * dataplane/smtp/auth.c (the service lcore's password checks): hashes made
 * by Python's hashlib.scrypt verify here (an independent implementation);
 * bad strings are refused with a reason; the user set is replaced whole or
 * not at all; a check answers OK, FAIL (held back for the delay), LIMITED
 * (after the failure limit, until the window ends), BUSY (queue full); and
 * a worker thread and the service thread exchange 20000 requests through
 * the rings without losing or duplicating one.
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
	struct auth_cfg c = { delay_ms, limit, window_s, queue };

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
	CHECK_EQ(auth_submit(a, 0, r), -1);
	free(r);
	auth_service_poll(a, t, 8, &wait);          /* all four fail, held */
	CHECK_EQ(wait, 1000);
	r = req("alice", "pencil", 21);
	CHECK_EQ(auth_submit(a, 0, r), -1);          /* still owed: no room */
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
			r = req("x", "y", 1);
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
	RUN(threads);
	return t_done("test_auth");
}
