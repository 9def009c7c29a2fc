/*
 * x25519_ifma.c - X25519 eight lanes at once with AVX-512 IFMA; see
 * x25519_ifma.h for the model.
 *
 * Arithmetic (per lane; all lanes run the same instructions):
 *   - a field element is five limbs of radix 2^51, each held below 2^52
 *     between operations (IFMA reads 52 bits of its inputs);
 *   - fe_mul: the 25 products a_i*b_j are split by IFMA at bit 52, so the
 *     high half of column k weighs 2^(51(k+1)+1) and is added doubled one
 *     column up; columns 5..9 fold down times 19 (2^255 = 19 mod p); every
 *     column stays below 2^62 before the carry chain; fe_sq makes each
 *     cross product once and doubles its column;
 *   - fe_add/fe_sub carry at once (a - b is a + 2p - b), so every input of
 *     a product is below 2^52 again;
 *   - the inversion is z^(p-2) by the usual chain of 254 squarings and 11
 *     multiplications; fe_freeze makes the canonical value.
 * Only loop bounds and bit positions (public) steer control flow. The
 * functions carry __attribute__((target)), so the rest of the build keeps
 * its flags; they run only after x25519_ifma_cpu() said yes.
 */
#include "crypto/x25519_ifma.h"
#include "crypto/rsa_ifma.h"

#include <immintrin.h>
#include <string.h>

#include <openssl/mem.h>

#define M51 ((long long)((1ull << 51) - 1))

int x25519_ifma_cpu(void)
{
	return rsa_ifma_cpu();
}

#define XK_FN2(name, w) name##_##w
#define XK_FN1(name, w) XK_FN2(name, w)
#define XK_FN(name) XK_FN1(name, XK_W)

/* 8 lanes: zmm */
#define XK_W 8
#define XK_VEC __m512i
#define XK_TGT "avx512f,avx512ifma"
#define XK_LO _mm512_madd52lo_epu64
#define XK_HI _mm512_madd52hi_epu64
#define XK_ADD _mm512_add_epi64
#define XK_SUB _mm512_sub_epi64
#define XK_AND _mm512_and_si512
#define XK_XOR _mm512_xor_si512
#define XK_SRLI _mm512_srli_epi64
#define XK_SLLI _mm512_slli_epi64
#define XK_SRL _mm512_srl_epi64
#define XK_SET1 _mm512_set1_epi64
#define XK_ZERO _mm512_setzero_si512
#define XK_LOAD(p) _mm512_loadu_si512((const void *)(p))
#define XK_STORE(p, v) _mm512_storeu_si512((void *)(p), v)
#include "crypto/x25519_ifma_kern.h"
#undef XK_W
#undef XK_VEC
#undef XK_TGT
#undef XK_LO
#undef XK_HI
#undef XK_ADD
#undef XK_SUB
#undef XK_AND
#undef XK_XOR
#undef XK_SRLI
#undef XK_SLLI
#undef XK_SRL
#undef XK_SET1
#undef XK_ZERO
#undef XK_LOAD
#undef XK_STORE

/* 4 lanes: ymm */
#define XK_W 4
#define XK_VEC __m256i
#define XK_TGT "avx512f,avx512vl,avx512ifma"
#define XK_LO _mm256_madd52lo_epu64
#define XK_HI _mm256_madd52hi_epu64
#define XK_ADD _mm256_add_epi64
#define XK_SUB _mm256_sub_epi64
#define XK_AND _mm256_and_si256
#define XK_XOR _mm256_xor_si256
#define XK_SRLI _mm256_srli_epi64
#define XK_SLLI _mm256_slli_epi64
#define XK_SRL _mm256_srl_epi64
#define XK_SET1 _mm256_set1_epi64x
#define XK_ZERO _mm256_setzero_si256
#define XK_LOAD(p) _mm256_loadu_si256((const void *)(p))
#define XK_STORE(p, v) _mm256_storeu_si256((void *)(p), v)
#include "crypto/x25519_ifma_kern.h"

/* 32 little-endian bytes per lane into limbs (bit 255 dropped). */
static void fe_load(uint64_t limbs[5][X25519_IFMA_LANES], const uint8_t b[32], unsigned lane)
{
	uint64_t w[4];

	memcpy(w, b, 32);
	w[3] &= 0x7fffffffffffffffull;
	limbs[0][lane] = w[0] & M51;
	limbs[1][lane] = (w[0] >> 51 | w[1] << 13) & M51;
	limbs[2][lane] = (w[1] >> 38 | w[2] << 26) & M51;
	limbs[3][lane] = (w[2] >> 25 | w[3] << 39) & M51;
	limbs[4][lane] = w[3] >> 12;
}

static void fe_store(uint8_t b[32], uint64_t limbs[5][X25519_IFMA_LANES], unsigned lane)
{
	uint64_t l[5], w[4];

	for (unsigned i = 0; i < 5; i++)
		l[i] = limbs[i][lane];
	w[0] = l[0] | l[1] << 51;
	w[1] = l[1] >> 13 | l[2] << 38;
	w[2] = l[2] >> 26 | l[3] << 25;
	w[3] = l[3] >> 39 | l[4] << 12;
	memcpy(b, w, 32);
}

/*
 * Wipe the stack below the caller's frame, where ladder(), fe_invert() and
 * the products left their elements (any of them, with the output, gives
 * the lanes' secrets back): a frame of STACK_BURN bytes over that space.
 */
#define STACK_BURN 16384
static __attribute__((noinline)) void burn_stack(void)
{
	uint8_t b[STACK_BURN];

	OPENSSL_cleanse(b, sizeof(b));
	__asm__ volatile("" : : "r"(b) : "memory");
}

void x25519_ifma_raw(uint8_t out[][32], const uint8_t scalar[][32], const uint8_t u[][32],
		     unsigned n)
{
	uint64_t ul[5][X25519_IFMA_LANES], kl[4][X25519_IFMA_LANES], ol[5][X25519_IFMA_LANES];

	if (!n || n > X25519_IFMA_LANES)
		return;
	for (unsigned lane = 0; lane < X25519_IFMA_LANES; lane++) {
		unsigned src = lane < n ? lane : 0;
		uint8_t s[32];

		memcpy(s, scalar[src], 32);
		s[0] &= 248;
		s[31] &= 127;
		s[31] |= 64;
		memcpy(&kl[0][lane], s, 8);
		memcpy(&kl[1][lane], s + 8, 8);
		memcpy(&kl[2][lane], s + 16, 8);
		memcpy(&kl[3][lane], s + 24, 8);
		OPENSSL_cleanse(s, sizeof(s));
		fe_load(ul, u[src], lane);
	}
	if (n <= 4)
		ladder_4(ol, ul, kl);
	else
		ladder_8(ol, ul, kl);
	burn_stack();
	for (unsigned lane = 0; lane < n; lane++)
		fe_store(out[lane], ol, lane);
	OPENSSL_cleanse(kl, sizeof(kl));
	OPENSSL_cleanse(ol, sizeof(ol));
}
