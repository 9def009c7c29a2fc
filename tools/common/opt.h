/*
 * opt.h - command-line number parsing shared by the load tools: one
 * unsigned option value in [lo, hi], or a clear message and exit 2.
 */
#ifndef MX_OPT_H
#define MX_OPT_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* An unsigned option value in [lo, hi], or exit 2 naming the program and option. */
static inline unsigned long long opt_num(const char *prog, const char *name, const char *s,
					 unsigned long long lo, unsigned long long hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "%s: %s: '%s' is not a number in [%llu, %llu]\n", prog, name, s,
			lo, hi);
		exit(2);
	}
	return v;
}

#endif
