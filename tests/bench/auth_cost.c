/*
 * auth_cost.c - what one SMTP AUTH check costs the service lcore at several
 * scrypt costs (crypto/passwd.c, BoringSSL's EVP_PBE_scrypt): milliseconds
 * per check and checks per second of one core, measured in one run so the
 * rows compare (the machine is shared). make bench-auth.
 *
 *   auth_cost [ROUNDS]     (default 20 checks per cost)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/passwd.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct { unsigned ln, r, p; } costs[] = {
		{ 12, 8, 1 }, { 13, 8, 1 }, { 14, 8, 1 }, { 15, 8, 1 }, { 16, 8, 1 },
	};
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	char s[PASSWD_STR_MAX + 1], why[128];
	struct passwd_hash h;
	size_t i;
	int k;

	if (rounds < 1 || rounds > 10000) {
		fprintf(stderr, "usage: auth_cost [ROUNDS 1..10000]\n");
		return 2;
	}
	printf("%-16s %8s %10s %12s\n", "cost", "memory", "ms/check", "checks/s");
	for (i = 0; i < sizeof(costs) / sizeof(costs[0]); i++) {
		double t0, dt;

		if (passwd_make((const uint8_t *)"bench", 5, costs[i].ln, costs[i].r, costs[i].p, s,
				sizeof(s), why, sizeof(why)) != 0 ||
		    passwd_parse(s, strlen(s), &h, why, sizeof(why)) != 0) {
			fprintf(stderr, "auth_cost: %s\n", why);
			return 1;
		}
		t0 = now_s();
		for (k = 0; k < rounds; k++)
			if (passwd_verify(&h, (const uint8_t *)"bench", 5) != 1) {
				fprintf(stderr, "auth_cost: verification failed\n");
				return 1;
			}
		dt = (now_s() - t0) / rounds;
		printf("ln=%u,r=%u,p=%u%s %6u MiB %10.1f %12.1f\n", costs[i].ln, costs[i].r, costs[i].p,
		       costs[i].ln == PASSWD_LN_DEFAULT ? "*" : " ",
		       (unsigned)((128ull * costs[i].r << costs[i].ln) * costs[i].p >> 20), dt * 1e3, 1 / dt);
	}
	printf("* mxctl's default\n");
	return 0;
}
