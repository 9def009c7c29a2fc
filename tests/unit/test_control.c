/*
 * test_control.c - unit tests of mxgate-control's pure helpers
 * (control/util.c): the verdict on the Redis generation marker (a store
 * that lost its data must never be taken for the one held), the
 * back-off bounds, Redis addresses and the redis_sentinels list.
 */
#include <string.h>

#include "common/schema.h"
#include "control/util.h"
#include "tests/unit/t.h"

#define V(held, s) gen_verdict(held, s, strlen(s))

/* gen_verdict: gone, same, changed by mxgate-control or by mxctl. */
TEST(generation)
{
	const char *held = "0123456789abcdef mxgate-control", *forced = "fedcba9876543210 mxctl";
	char big[GEN_MAX + 2];

	/* nothing held yet: whatever is there is taken, nothing there is "as before" */
	CHECK_EQ(gen_verdict("", NULL, 0), GEN_NONE);
	CHECK_EQ(V("", held), GEN_NEW);
	CHECK_EQ(V("", forced), GEN_NEW);
	/* held: the same one goes on */
	CHECK_EQ(V(held, held), GEN_SAME);
	CHECK_EQ(V(forced, forced), GEN_SAME);
	/* gone: lost */
	CHECK_EQ(gen_verdict(held, NULL, 0), GEN_LOST);
	CHECK_EQ(gen_verdict(forced, NULL, 0), GEN_LOST);
	/* stamped again by an mxgate-control that held nothing (a fresh one on the empty store): lost */
	CHECK_EQ(V(held, "1111111111111111 mxgate-control"), GEN_LOST);
	CHECK_EQ(V(forced, "1111111111111111 mxgate-control"), GEN_LOST);
	/* a prefix or an extension of the held one is not the same */
	CHECK_EQ(V(held, "0123456789abcdef mxgate-contro"), GEN_LOST);
	CHECK_EQ(gen_verdict(held, held, strlen(held) - 1), GEN_LOST);
	/* re-stamped by mxctl reload --force: taken */
	CHECK_EQ(V(held, forced), GEN_NEW);
	CHECK_EQ(V(forced, "2222222222222222 mxctl"), GEN_NEW);
	/* "mxctl" only as the writer word after a space */
	CHECK_EQ(V(held, "mxctl"), GEN_LOST);
	CHECK_EQ(V(held, " mxctl"), GEN_LOST);
	CHECK_EQ(V(held, "2222222222222222xmxctl"), GEN_LOST);
	CHECK_EQ(V(held, "2222222222222222 notmxctl"), GEN_LOST);
	CHECK_EQ(V(held, "2222222222222222 mxctl "), GEN_LOST);
	/* too long for the marker: as gone */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + sizeof(big) - 7, " mxctl", 6);
	CHECK_EQ(V(held, big), GEN_LOST);
	CHECK_EQ(V("", big), GEN_NONE);
}

/* backoff_next: 0.1 s doubling up to 5 s, less up to 20% of jitter. */
TEST(backoff)
{
	int cur = 0, i, ms = 0;

	for (i = 0; i < 20; i++) {
		ms = backoff_next(&cur);
		CHECK(ms >= BACKOFF_MIN_MS * 4 / 5 && ms <= BACKOFF_MAX_MS);
	}
	CHECK(ms >= BACKOFF_MAX_MS * 4 / 5);
	CHECK_EQ(cur, BACKOFF_MAX_MS);
}

/* redis_addr_split: unix:/path, host:port, [v6]:port; the rest refused. */
TEST(redis_addr)
{
	char h[32];
	int port = -1;

	CHECK_EQ(redis_addr_split("unix:/run/r.sock", h, sizeof(h), &port), 0);
	CHECK(strcmp(h, "/run/r.sock") == 0 && port == 0);
	CHECK_EQ(redis_addr_split("127.0.0.1:6379", h, sizeof(h), &port), 0);
	CHECK(strcmp(h, "127.0.0.1") == 0 && port == 6379);
	CHECK_EQ(redis_addr_split("[2001:2::1]:26379", h, sizeof(h), &port), 0);
	CHECK(strcmp(h, "2001:2::1") == 0 && port == 26379);
	CHECK_EQ(redis_addr_split("redis.example:1", h, sizeof(h), &port), 0);
	CHECK(strcmp(h, "redis.example") == 0 && port == 1);
	static const char *const bad[] = {
		"unix:", "unix:run/r.sock", "nonsense", ":6379", "host:", "host:0", "host:65536",
		"host:6379x", "[::1]6379", "[]:6379", "[::1:6379", "a-very-long-host-name-that-does-not-fit:1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(redis_addr_split(bad[i], h, sizeof(h), &port), -1);
}

/* sentinel_list_parse: spaces or commas, 1..max host:port, never unix:. */
TEST(sentinel_list)
{
	char s[SENTINELS_MAX][SENTINEL_ADDR_LEN];

	CHECK_EQ(sentinel_list_parse("127.0.0.1:26379", s, SENTINELS_MAX), 1);
	CHECK(strcmp(s[0], "127.0.0.1:26379") == 0);
	CHECK_EQ(sentinel_list_parse(" a:1, b:2,c:3\t[::1]:4 ", s, SENTINELS_MAX), 4);
	CHECK(strcmp(s[1], "b:2") == 0 && strcmp(s[2], "c:3") == 0 && strcmp(s[3], "[::1]:4") == 0);
	CHECK_EQ(sentinel_list_parse("a:1 b:2 c:3", s, 2), -1);          /* too many */
	CHECK_EQ(sentinel_list_parse("", s, SENTINELS_MAX), -1);
	CHECK_EQ(sentinel_list_parse(" , ", s, SENTINELS_MAX), -1);
	CHECK_EQ(sentinel_list_parse("a:1 unix:/run/s.sock", s, SENTINELS_MAX), -1);
	CHECK_EQ(sentinel_list_parse("a:1 b", s, SENTINELS_MAX), -1);
}

int main(void)
{
	RUN(generation);
	RUN(backoff);
	RUN(redis_addr);
	RUN(sentinel_list);
	return t_done("test_control");
}
