/*
 * hist.h - the latency histogram of the load tools (mxgen, kbench): exact
 * below HIST_SUB, then log2 groups split into HIST_SUB linear buckets
 * (about 6% resolution), so p50/p99 from every tool are comparable.
 * Header-only; one struct hist per measured quantity.
 */
#ifndef MX_HIST_H
#define MX_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS     4
#define HIST_SUB          (1u << HIST_SUB_BITS)
#define HIST_BUCKETS      ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t b[HIST_BUCKETS];
};

/* Bucket of a value. */
static inline unsigned hist_index(uint64_t v)
{
	unsigned msb;

	if (v < HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	return (msb - HIST_SUB_BITS + 1) * HIST_SUB +
	       (unsigned)((v >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* Middle of the range of values a bucket holds. */
static inline double hist_mid(unsigned idx)
{
	unsigned group = idx / HIST_SUB, sub = idx % HIST_SUB, shift;

	if (group == 0)
		return (double)idx;
	shift = group - 1;
	return (double)(((uint64_t)(HIST_SUB + sub)) << shift) +
	       ((double)(1ull << shift) - 1.0) / 2.0;
}

/* Record one sample. */
static inline void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->count++;
}

/* Value at quantile q in 0..1 (0 when empty). */
static inline double hist_quantile(const struct hist *h, double q)
{
	uint64_t want, seen = 0;
	unsigned i;

	if (h->count == 0)
		return 0;
	want = (uint64_t)(q * (double)h->count);
	if ((double)want < q * (double)h->count)
		want++;
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want)
			return hist_mid(i);
	}
	return hist_mid(HIST_BUCKETS - 1);
}

#endif
