/*
 * fuzz.h - shared by the libFuzzer targets in tests/fuzz/: an assertion
 * that stays on in every build (FUZZ_ASSERT prints what failed on fd 2,
 * even where a target silenced stdio's stderr, and aborts, so libFuzzer
 * keeps the input as a crash) and a byte reader that hands out
 * the fuzzer's input piece by piece (zeros once it runs dry).
 */
#ifndef MX_FUZZ_H
#define MX_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(c) do { \
	if (!(c)) { \
		dprintf(2, "FUZZ ASSERT %s:%d: %s\n", __FILE__, __LINE__, #c); \
		abort(); \
	} \
} while (0)

/* The fuzzer's input, consumed from the front. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* One byte, or 0 once the input is used up. */
static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t b;

	if (in->n == 0)
		return 0;
	b = *in->p++;
	in->n--;
	return b;
}

/* A big-endian 16-bit value. */
static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_u8(in);

	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

/* A big-endian 32-bit value. */
static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t hi = fuzz_u16(in);

	return hi << 16 | fuzz_u16(in);
}

/* Up to want bytes from the input (fewer at its end): pointer and *got. */
static inline const uint8_t *fuzz_bytes(struct fuzz_in *in, size_t want, size_t *got)
{
	const uint8_t *p = in->p;

	*got = want < in->n ? want : in->n;
	in->p += *got;
	in->n -= *got;
	return p;
}

#endif
