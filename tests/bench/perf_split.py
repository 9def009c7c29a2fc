#!/usr/bin/env python3
"""perf_split.py - where a worker's time per session went, from a perf
recording of mxgate's worker thread (memif_ab.sh with BENCH_AB_PERF=1 and
BENCH_AB_KEEP=DIR keeps one per run):

    tests/bench/perf_split.py DIR/new.c32.r1.perf.data SESSIONS [TOP]

Samples in the poll loop's skeleton (the SKELETON list of memif_ab.sh:
mostly empty polls) are left out; the rest, times 250 us a sample
(perf record -e cpu-clock's default 4 kHz), divided by SESSIONS (the run's
sessions, from memif_ab's table), is split into: the IFMA lanes (mxgate's
X25519, P-256 and RSA kernels), mxgate's own code, SHA-256, AES-GCM,
malloc/free (glibc's and BoringSSL's wrappers, OPENSSL_free's cleansing
included), and the rest by library; then the TOP (40) functions. Name
BoringSSL's assembly by installing its -dbgsym packages first
(docs/PERFORMANCE.md, "Where an ECDSA STARTTLS session's server time goes").
"""
import collections
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
US_PER_SAMPLE = 250.0
IFMA = re.compile(r"^(ladder_|base_|fe_|sq_|mul_|sign_|pt_|trio_|pair_|inv_|x25519_ifma|p256_ifma|p256_init|ri_)")
ALLOC = {"malloc", "_int_malloc", "_int_free", "cfree@GLIBC_2.2.5", "free", "calloc", "realloc",
         "_int_realloc", "unlink_chunk.constprop.0", "malloc_consolidate", "tcache_get",
         "OPENSSL_malloc", "OPENSSL_free", "OPENSSL_zalloc", "OPENSSL_realloc", "OPENSSL_cleanse"}


def skeleton():
    """The SKELETON regular expression of memif_ab.sh (one list for both)."""
    with open(os.path.join(HERE, "memif_ab.sh")) as f:
        for line in f:
            if line.startswith("SKELETON='"):
                return re.compile(line.split("'", 2)[1])
    sys.exit("perf_split: no SKELETON line in memif_ab.sh")


def kind(dso, sym):
    if dso == "mxgate":
        return "IFMA lanes" if IFMA.match(sym) else "mxgate"
    if "sha256" in sym.lower():
        return "SHA-256"
    if re.search(r"aes|gcm|ghash", sym, re.I):
        return "AES-GCM"
    if sym in ALLOC:
        return "malloc/free"
    return dso


def main():
    if len(sys.argv) < 3 or not sys.argv[2].isdigit() or int(sys.argv[2]) == 0:
        sys.exit("usage: perf_split.py PERF_DATA SESSIONS [TOP]")
    data, sessions = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym",
                          "--stdio", "-F", "sample,dso,sym"], capture_output=True, text=True,
                         check=True).stdout
    skel = skeleton()
    kinds, funcs = collections.Counter(), collections.Counter()
    total = 0
    for line in out.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        f = line.split(None, 3)
        if len(f) < 4 or not f[0].isdigit():
            continue
        n, dso, sym = int(f[0]), f[1], f[3].strip()
        total += n
        if skel.match(sym):
            continue
        kinds[kind(dso, sym)] += n
        funcs[(dso, sym)] += n
    us = lambda n: n * US_PER_SAMPLE / sessions
    print("%d samples, %d sessions: %.1f us of work a session outside the skeleton"
          % (total, sessions, us(sum(kinds.values()))))
    for k, n in kinds.most_common():
        print("  %-20s %7.2f us" % (k, us(n)))
    print("top functions (us a session):")
    for (dso, sym), n in funcs.most_common(top):
        print("  %7.2f  %-16s %s" % (us(n), dso, sym))


if __name__ == "__main__":
    main()
