/*
 * t.h - the unit tests' tiny harness: CHECK() records a failure with file
 * and line and carries on; each test program ends with t_done(), which
 * prints "N passed, N failed" for its checks and returns the exit status.
 */
#ifndef MX_T_H
#define MX_T_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;
static const char *t_name = "";

#define TEST(name) static void name(void)
#define RUN(name) do { t_name = #name; name(); } while (0)

#define CHECK(cond) do { \
	if (cond) { t_pass++; } else { t_fail++; \
		fprintf(stderr, "FAIL %s:%d [%s]: %s\n", __FILE__, __LINE__, t_name, #cond); } \
} while (0)

#define CHECK_EQ(a, b) do { \
	long long _a = (long long)(a), _b = (long long)(b); \
	if (_a == _b) { t_pass++; } else { t_fail++; \
		fprintf(stderr, "FAIL %s:%d [%s]: %s == %s (%lld != %lld)\n", \
			__FILE__, __LINE__, t_name, #a, #b, _a, _b); } \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *_a = (a), *_b = (b); \
	if (_a && _b && strcmp(_a, _b) == 0) { t_pass++; } else { t_fail++; \
		fprintf(stderr, "FAIL %s:%d [%s]: %s == \"%s\" (got \"%s\")\n", \
			__FILE__, __LINE__, t_name, #a, _b ? _b : "(null)", _a ? _a : "(null)"); } \
} while (0)

static inline int t_done(const char *prog)
{
	printf("%s: %d passed, %d failed\n", prog, t_pass, t_fail);
	return t_fail ? 1 : 0;
}

#endif
