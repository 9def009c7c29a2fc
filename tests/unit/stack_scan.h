/*
 * stack_scan.h - does an AVX-512 kernel leave its secrets in the memory
 * below its caller (crypto/ifma_burn.h)? A test computes the secret words
 * of its operations ("needles"), zeroes the stack below it (stack_clear),
 * runs the kernel, and counts the needles found in the STACK_SCAN bytes
 * below its own frame (stack_hits): the dead frames of what it just called.
 * stack_plant proves that the scan sees a dead frame's words. Whatever
 * else handles the secrets (the reference computations: BoringSSL wipes
 * little of its stack) runs under stack_below(), out of the scan's reach.
 */
#ifndef MX_STACK_SCAN_H
#define MX_STACK_SCAN_H

#include <stdint.h>
#include <string.h>

#include <openssl/mem.h>

#define STACK_SCAN 49152
#define NEEDLES 1024

/*
 * The first nl 52-bit limbs (the kernels' radix) of a little-endian number
 * of len bytes, appended to nd[] from k; returns the new count. Small words
 * are left out: they could be anything.
 */
static inline unsigned needles_52(const uint8_t *le, size_t len, uint64_t *nd, unsigned k, unsigned nl)
{
	for (unsigned j = 0; j < nl && k < NEEDLES; j++) {
		uint64_t v = 0;
		size_t at = 52 * j / 8;

		memcpy(&v, le + at, at + 8 <= len ? 8 : len > at ? len - at : 0);
		v = (v >> (52 * j % 8)) & ((1ULL << 52) - 1);
		if (v >> 20)
			nd[k++] = v;
	}
	return k;
}

/* The 64-bit words of a little-endian number of len bytes, appended likewise. */
static inline unsigned needles_64(const uint8_t *le, size_t len, uint64_t *nd, unsigned k)
{
	for (size_t at = 0; at + 8 <= len && k < NEEDLES; at += 8) {
		memcpy(&nd[k], le + at, 8);
		k += nd[k] >> 20 != 0;
	}
	return k;
}

/* fn(arg) with its frames below the memory that stack_hits() reads. */
static __attribute__((noinline, unused)) void stack_below(void (*fn)(void *), void *arg)
{
	uint8_t pad[STACK_SCAN + 8192];

	__asm__ volatile("" : : "r"(pad) : "memory");
	fn(arg);
}

/* Zero the memory that stack_hits() reads, so that it sees only what comes after. */
static __attribute__((noinline, unused)) void stack_clear(void)
{
	uint8_t b[STACK_SCAN + 4096];

	OPENSSL_cleanse(b, sizeof(b));
}

/*
 * The other way to look: fill the memory below with a canary
 * (stack_fill), call, and count the words between top and bottom bytes
 * below the caller's frame that were written and not wiped (stack_live):
 * a kernel's frames deeper than its burn, whatever they held.
 */
#define STACK_CANARY 0xa5a5a5a5a5a5a5a5ULL
#define STACK_TOP 8192          /* an entry point's own frames, and what it calls after its burn */
/*
 * Live words allowed below STACK_TOP: the burn's own OPENSSL_cleanse frame
 * just under the wiped area (14 words). A kernel deeper than its burn
 * leaves hundreds (X25519's fixed base under ASan with a 16 KiB burn: 436).
 */
#define STACK_LIVE_MAX 32

static __attribute__((noinline, no_sanitize_address, unused)) void stack_fill(void)
{
	volatile uint64_t b[(STACK_SCAN + 4096) / 8];

	for (size_t i = 0; i < sizeof(b) / 8; i++)
		b[i] = STACK_CANARY;
}

static __attribute__((noinline, no_sanitize_address, unused)) unsigned stack_live(size_t top, size_t bottom)
{
	uint64_t probe[STACK_SCAN / 8];
	unsigned live = 0;

	__asm__ volatile("" : "=m"(probe));
	for (size_t i = (STACK_SCAN - bottom) / 8; i < (STACK_SCAN - top) / 8; i++)
		live += probe[i] != 0 && probe[i] != STACK_CANARY;
	return live;
}

/* Leave n needles in a dead frame, as a kernel that wiped nothing would. */
static __attribute__((noinline, unused)) void stack_plant(const uint64_t *nd, unsigned n)
{
	uint64_t b[64];

	for (unsigned i = 0; i < 64; i++)
		b[i] = i < n ? nd[i] : 0;
	__asm__ volatile("" : : "m"(b));
}

/*
 * Words of nd[] found in the STACK_SCAN bytes below the caller's frame.
 * Not seen by ASan: it reads its own frame before anything is written in it.
 */
static __attribute__((noinline, no_sanitize_address, unused)) unsigned stack_hits(const uint64_t *nd,
										    unsigned k)
{
	uint64_t probe[STACK_SCAN / 8];
	unsigned hits = 0;

	__asm__ volatile("" : "=m"(probe));     /* as it is: what was there */
	for (unsigned i = 0; i < STACK_SCAN / 8; i++)
		for (unsigned j = 0; j < k; j++)
			hits += probe[i] == nd[j];
	return hits;
}

/*
 * Words of nd[] in the vector registers zmm0-31 as the caller left them:
 * what the next XSAVE (lazy binding, a signal) would put on the stack.
 * Call only on a CPU with AVX-512F.
 */
static __attribute__((noinline, target("avx512f"), unused)) unsigned regs_hits(const uint64_t *nd,
									     unsigned k)
{
	uint64_t r[32][8];
	unsigned hits = 0;

	__asm__ volatile(
#define SCAN_ST(i) "vmovdqu64 %%zmm" #i ", " #i "*64(%0)\n\t"
		SCAN_ST(0) SCAN_ST(1) SCAN_ST(2) SCAN_ST(3) SCAN_ST(4) SCAN_ST(5) SCAN_ST(6)
		SCAN_ST(7) SCAN_ST(8) SCAN_ST(9) SCAN_ST(10) SCAN_ST(11) SCAN_ST(12) SCAN_ST(13)
		SCAN_ST(14) SCAN_ST(15) SCAN_ST(16) SCAN_ST(17) SCAN_ST(18) SCAN_ST(19) SCAN_ST(20)
		SCAN_ST(21) SCAN_ST(22) SCAN_ST(23) SCAN_ST(24) SCAN_ST(25) SCAN_ST(26) SCAN_ST(27)
		SCAN_ST(28) SCAN_ST(29) SCAN_ST(30) SCAN_ST(31)
#undef SCAN_ST
		: : "r"(r) : "memory");
	for (unsigned i = 0; i < 32 * 8; i++)
		for (unsigned j = 0; j < k; j++)
			hits += r[i / 8][i % 8] == nd[j];
	OPENSSL_cleanse(r, sizeof(r));
	return hits;
}

/* Put nd[0..7] in zmm31, as a kernel that cleared nothing would leave it. */
static __attribute__((noinline, target("avx512f"), unused)) void regs_plant(const uint64_t *nd)
{
	__asm__ volatile("vmovdqu64 (%0), %%zmm31" : : "r"(nd) : "xmm31");
}

/*
 * Does the scan see what a kernel would leave: three needles in a dead
 * frame, eight in zmm31, and nothing once the stack is cleared? 1 if so.
 */
static __attribute__((noinline, unused)) int stack_scan_works(const uint64_t *nd, unsigned k)
{
	int ok;

	stack_clear();
	ok = stack_hits(nd, k) == 0;
	stack_plant(nd, 3);
	ok &= stack_hits(nd, k) >= 3;
	regs_plant(nd);
	ok &= regs_hits(nd, k) >= 8;
	return ok;
}

#endif
