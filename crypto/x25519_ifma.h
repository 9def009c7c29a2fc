/*
 * x25519_ifma.h - X25519 (RFC 7748) eight at a time with AVX-512 IFMA, for
 * the key door of crypto/tls.c.
 *
 * Model: as crypto/rsa_ifma.h, each 64-bit lane of a zmm register belongs
 * to one scalar multiplication ("lane-sliced"): limb j of the eight field
 * elements sits in vector j. Field elements mod 2^255 - 19 are five limbs
 * of radix 2^51; products are made by vpmadd52luq/vpmadd52huq. Each lane
 * runs the Montgomery ladder of RFC 7748 section 5 over all 255 bits with
 * its own scalar and its own u-coordinate (x25519_ifma_raw). Key pairs
 * (u = 9) have a cheaper path of their own, x25519_ifma_base: a table of
 * multiples of the base point, about a third of a ladder lane.
 * Nothing branches on, or addresses memory by, a scalar: the ladder's
 * conditional swaps are lane masks; the inversion is a fixed chain.
 *
 * Results are X25519's as RFC 7748 defines it (scalars clamped, the top bit
 * of u ignored, non-canonical u reduced), equal to BoringSSL's X25519() byte
 * for byte (tests/unit/test_x25519_ifma.c).
 */
#ifndef MX_X25519_IFMA_H
#define MX_X25519_IFMA_H

#include <stdint.h>

#define X25519_IFMA_LANES 8

/* Does this CPU (and OS) run AVX-512 IFMA? (rsa_ifma_cpu(), checked once) */
int x25519_ifma_cpu(void);

/*
 * out[i] = X25519(scalar[i], u[i]) for i < n, n from 1 to 8 (unused lanes
 * repeat lane 0's work): up to 4 in ymm registers (about 0.6 of the cost
 * of a zmm run on Zen 4), 5 to 8 in zmm. Requires x25519_ifma_cpu(). out may alias neither
 * input. Unlike BoringSSL's X25519() no all-zero check is made: the caller
 * decides what an all-zero result means.
 */
void x25519_ifma_raw(uint8_t out[][32], const uint8_t scalar[][32], const uint8_t u[][32],
		     unsigned n);

/*
 * out[i] = X25519(scalar[i], 9), the public value of private key scalar[i],
 * for i < n, n from 1 to 8: the same lanes, ymm/zmm choice and repeated
 * lane 0 as x25519_ifma_raw, at a fraction of its cost: [k]B on the Edwards
 * curve from a table of multiples of B (made once, at the first call), 64
 * constant-time lookups and mixed additions and 4 doublings instead of 255
 * ladder steps, then one inversion for u = (1 + y) / (1 - y). Requires
 * x25519_ifma_cpu(). out may not alias scalar.
 */
void x25519_ifma_base(uint8_t out[][32], const uint8_t scalar[][32], unsigned n);

#endif
