#!/usr/bin/env python3
"""bssl_build_kind.py - tell a BoringSSL libcrypto built with OPENSSL_SMALL
from a normal build by looking at the bytes of the library file.

    bssl_build_kind.py [--expect full|small] LIBCRYPTO...

What OPENSSL_SMALL removes (BoringSSL crypto/fipsmodule/ec/ec.c and
p256-nistz.c): on x86_64 a normal build serves P-256 with the nistz256
assembly and its precomputed table ecp_nistz256_precomputed[37][64], whose
row 0 holds the affine points 1G, 2G, ..., 64G in Montgomery form (x*R mod p,
y*R mod p, R = 2^256, four little-endian 64-bit limbs each). A SMALL build
compiles p256-nistz.c to nothing and serves P-256 with the fiat code, whose
own table (p256_table.h) holds G and sums of 2^32k*G, never 2G..64G.

This script computes those points itself (plain integer arithmetic on the
curve, no table copied from anywhere) and counts how many of 2G..64G occur
in the file. The base point G must be found in every build (both tables
start with it): that is the control which shows that the search works on
this file at all. Prints one line per file:

    <file>: kind=full|small|unknown g=1 multiples=63/63

--expect makes the exit status 1 when a file is not of that kind.
"""
import sys

P = 2**256 - 2**224 + 2**192 + 2**96 - 1
A = P - 3
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
R = 2**256 % P
ROW = 64


def add(p1, p2):
    """Affine point addition on P-256 (None is the point at infinity)."""
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def mont_bytes(pt):
    """The 64 bytes of an affine point as BoringSSL stores it in Montgomery form."""
    x, y = pt
    return (x * R % P).to_bytes(32, "little") + (y * R % P).to_bytes(32, "little")


def on_curve(pt):
    """True when pt satisfies y^2 = x^3 + ax + b over P-256's field."""
    x, y = pt
    return (y * y - (x * x * x + A * x + B)) % P == 0


def check(path):
    """Return (g_found, multiples_found) for one library file."""
    with open(path, "rb") as f:
        data = f.read()
    g = (GX, GY)
    assert on_curve(g)
    g_found = data.find(mont_bytes(g)) >= 0
    found = 0
    pt = g
    for _ in range(2, ROW + 1):
        pt = add(pt, g)
        assert on_curve(pt)
        if data.find(mont_bytes(pt)) >= 0:
            found += 1
    return g_found, found


def main():
    """Parse the arguments, check every file, print and set the exit status."""
    args = sys.argv[1:]
    expect = None
    if len(args) >= 2 and args[0] == "--expect":
        expect = args[1]
        args = args[2:]
        if expect not in ("full", "small"):
            sys.exit("bssl_build_kind: --expect full|small")
    if not args:
        sys.exit(__doc__.split("\n\n")[1])
    rc = 0
    for path in args:
        g_found, found = check(path)
        if not g_found:
            kind = "unknown"
        elif found == ROW - 1:
            kind = "full"
        elif found == 0:
            kind = "small"
        else:
            kind = "unknown"
        print(f"{path}: kind={kind} g={int(g_found)} multiples={found}/{ROW - 1}")
        if expect and kind != expect:
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
