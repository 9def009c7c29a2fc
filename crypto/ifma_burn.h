/*
 * ifma_burn.h - what an AVX-512 IFMA kernel (rsa_ifma, x25519_ifma,
 * p256_ifma) must not leave behind once its batch is done.
 *
 * Its frames spill vectors of secret values (nonces, scalars, window
 * entries, CRT halves) below the caller: tens of KiB (gcc -fstack-usage),
 * more under ASan. Its registers keep such values as well, and the next
 * XSAVE puts them back on the stack: the dynamic linker's lazy binding
 * saves every vector register in its frame, and so does the kernel on a
 * signal. test_rsa_ifma found a prime's limbs there after a run whose stack
 * alone had been wiped.
 *
 * ifma_burn(bytes), called last by a batch's entry point (after its kernel,
 * its loads of secrets in functions of their own and its stores of results),
 * zeroes zmm0-31 and the mask registers k0-k7 (ifma_zero_regs), then
 * wipes `bytes` below the caller's frame (as libgcrypt's _gcry_burn_stack
 * does): about 0.3 us for 32 KiB, plus the L1D lines it evicts. A kernel
 * that stops between steps (RSA) zeroes the registers at each stop. Call
 * both only where the kernel ran: they need AVX-512F. The unit tests scan
 * the registers and the dead stack for each kernel's secrets
 * (tests/unit/stack_scan.h).
 */
#ifndef MX_IFMA_BURN_H
#define MX_IFMA_BURN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/mem.h>

/* Zero zmm0-31 and k0-k7 (about 20 ns). */
static __attribute__((noinline, target("avx512f"), unused)) void ifma_zero_regs(void)
{
	__asm__ volatile("vzeroall\n\t"
#define IFMA_Z(r) "vpxord %%zmm" #r ", %%zmm" #r ", %%zmm" #r "\n\t"
			 IFMA_Z(16) IFMA_Z(17) IFMA_Z(18) IFMA_Z(19) IFMA_Z(20) IFMA_Z(21)
			 IFMA_Z(22) IFMA_Z(23) IFMA_Z(24) IFMA_Z(25) IFMA_Z(26) IFMA_Z(27)
			 IFMA_Z(28) IFMA_Z(29) IFMA_Z(30) IFMA_Z(31)
#undef IFMA_Z
#define IFMA_K(r) "kxorw %%k" #r ", %%k" #r ", %%k" #r "\n\t"
			 IFMA_K(0) IFMA_K(1) IFMA_K(2) IFMA_K(3) IFMA_K(4) IFMA_K(5) IFMA_K(6)
			 IFMA_K(7)
#undef IFMA_K
			 ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
			 "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
			 "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
			 "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31",
			 "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}

/*
 * The registers first, then the stack. Not instrumented: under ASan the
 * VLA's poisoning would call into the runtime (a PLT call, which lazy
 * binding may turn into an XSAVE of the live registers below the wiped
 * area) before the registers are zeroed, and leave its redzones unwiped.
 */
static __attribute__((noinline, no_sanitize_address, unused)) void ifma_burn(size_t bytes)
{
	ifma_zero_regs();
	{
		uint8_t b[bytes];

		OPENSSL_cleanse(b, bytes);
		__asm__ volatile("" : : "r"(b) : "memory");
	}
}

#endif
