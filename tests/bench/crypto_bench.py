#!/usr/bin/env python3
"""crypto_bench.py - make bench-crypto: Debian's BoringSSL (built with
OPENSSL_SMALL) and mxgate's rebuild of the same source without it, side by
side in one run on one pinned core.

Binaries (the Makefile builds each twice, once per library):
  build/crypto_speed[_stock]  ECDSA P-256 sign/verify, X25519 key pair,
                              shared secret and exchange, P-256 ECDH, and
                              RSA-2048 PSS sign (the control: OPENSSL_SMALL
                              does not touch RSA, its ratio shows the noise)
  build/tls_mem[_stock]       full in-memory TLS 1.3 handshakes, client and
                              server in one thread, through crypto/tls.c and
                              through a plain BoringSSL server, ECDSA P-256
                              and RSA-2048 certificates

Before measuring, every binary's libcrypto is named (crypto_speed prints
what it has loaded; ldd for tls_mem) and classified by
deploy/bssl_build_kind.py: the run stops unless the stock binaries load
Debian's SMALL build and the others the rebuild.

The two builds alternate in rounds (stock first in even rounds, the rebuild
first in odd ones), so that the load of this shared machine hits both
alike; the figures are the sums over all rounds (operations / seconds).
The table ends with rebuild / stock for every line; nothing is compared to
a fixed number. The lines also go to build/bench/crypto.tsv.

Environment: BENCH_ROUNDS (4), BENCH_OP_SECONDS (1: per operation, build
and round), BENCH_TLS_SECONDS (1.5: per tls_mem server variant, build, key
and round), BENCH_CPU (1: taskset core), BENCH_KEYS ("ecdsa rsa").
"""
import os
import re
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(REPO, "build")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
OP_S = float(os.environ.get("BENCH_OP_SECONDS", "1"))
TLS_S = float(os.environ.get("BENCH_TLS_SECONDS", "1.5"))
CPU = os.environ.get("BENCH_CPU", "1")
KEYS = os.environ.get("BENCH_KEYS", "ecdsa rsa").split()
BUILDS = (("stock", "_stock"), ("rebuild", ""))
TLS_LINES = (("tls.c", "tls.c (async key door, batch):"), ("plain", "plain BoringSSL (use_PrivateKey):"))


def run(cmd, timeout):
    """Run a command pinned to BENCH_CPU; its stdout, or stop the bench."""
    full = ["taskset", "-c", CPU] + cmd
    p = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        sys.exit(f"bench-crypto: {' '.join(full)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def kind_of(lib):
    """full / small / unknown, from deploy/bssl_build_kind.py."""
    out = subprocess.run([sys.executable, os.path.join(REPO, "deploy", "bssl_build_kind.py"), lib],
                         capture_output=True, text=True).stdout
    m = re.search(r"kind=(\w+)", out)
    return m.group(1) if m else "unknown"


def libcrypto_ldd(binary):
    """The libcrypto that the loader resolves for binary (ldd)."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    m = re.search(r"libcrypto\S*\s+=>\s+(\S+)", out)
    return m.group(1) if m else "?"


def check_libs():
    """Name and classify the library of every binary; stop on a mix-up."""
    want = {"stock": "small", "rebuild": "full"}
    for name, suf in BUILDS:
        cs = os.path.join(BUILD, "crypto_speed" + suf)
        out = run([cs, "--seconds", "0.01", "--only", "x25519-keygen"], 60)
        libs = re.findall(r"^lib=(\S*libcrypto\S*)", out, re.M)
        tm = libcrypto_ldd(os.path.join(BUILD, "tls_mem" + suf))
        for what, lib in (("crypto_speed" + suf, libs[0] if libs else "?"), ("tls_mem" + suf, tm)):
            k = kind_of(lib) if lib != "?" else "unknown"
            print(f"  {what:20} {name:8} {lib}  ({k} build)")
            if k != want[name]:
                sys.exit(f"bench-crypto: {what} loads a {k} build, expected {want[name]}")


def parse_ops(out, acc):
    """Add crypto_speed's op= lines into acc[op] = [ops, seconds]."""
    for m in re.finditer(r"^op=(\S+) ops=(\d+) seconds=([\d.]+)", out, re.M):
        a = acc.setdefault(m.group(1), [0, 0.0])
        a[0] += int(m.group(2))
        a[1] += float(m.group(3))


def parse_tls(out, acc):
    """Add tls_mem's two result lines into acc[variant] = [hs, wall_s, server_s]."""
    for var, prefix in TLS_LINES:
        line = next((ln for ln in out.splitlines() if ln.startswith(prefix)), None)
        if not line:
            sys.exit(f"bench-crypto: tls_mem printed no '{prefix}' line:\n{out}")
        f = dict(re.findall(r"(\w+)=([\d.]+)", line))
        hs = int(f["handshakes"])
        a = acc.setdefault(var, [0, 0.0, 0.0])
        a[0] += hs
        a[1] += hs / float(f["hs_per_s"])
        a[2] += hs * float(f["server_us_per_hs"]) * 1e-6


def machine():
    """CPU model and count, for the header."""
    model, flags = "?", set()
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("model name") and model == "?":
                model = ln.split(":", 1)[1].strip()
            elif ln.startswith("flags") and not flags:
                flags = set(ln.split(":", 1)[1].split())
    have = [x for x in ("avx2", "bmi2", "adx", "avx512f", "avx512ifma") if x in flags]
    return f"{model}, {os.cpu_count()} CPUs ({' '.join(have)})"


def commit():
    """The commit of the tree being measured."""
    p = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return p.stdout.strip() + ("+dirty" if dirty else "")


def main():
    """Check the libraries, run the rounds, print and save the table."""
    t_start = time.time()
    print(f"bench-crypto: commit {commit()}, {machine()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"bench-crypto: {ROUNDS} rounds, {OP_S:g} s per operation, {TLS_S:g} s per handshake variant, "
          f"pinned to CPU {CPU}; libraries:")
    check_libs()
    ops = {name: {} for name, _ in BUILDS}
    tls = {name: {k: {} for k in KEYS} for name, _ in BUILDS}
    for r in range(ROUNDS):
        order = BUILDS if r % 2 == 0 else BUILDS[::-1]
        for name, suf in order:
            print(f"  round {r + 1}/{ROUNDS}: {name} crypto_speed", flush=True)
            parse_ops(run([os.path.join(BUILD, "crypto_speed" + suf), "--seconds", str(OP_S)], 600), ops[name])
        for key in KEYS:
            for name, suf in order:
                print(f"  round {r + 1}/{ROUNDS}: {name} tls_mem --key {key}", flush=True)
                out = run([os.path.join(BUILD, "tls_mem" + suf), "--key", key, "--seconds", str(TLS_S),
                           "--idle", "1"], 600)
                parse_tls(out, tls[name][key])

    rows = []
    for op in ops["stock"]:
        s, b = (ops[n][op][0] / ops[n][op][1] for n in ("stock", "rebuild"))
        rows.append((op + "/s", s, b))
    for key in KEYS:
        label = "ecdsa-p256" if key == "ecdsa" else "rsa2048"
        for var, _ in TLS_LINES:
            st, rb = tls["stock"][key][var], tls["rebuild"][key][var]
            rows.append((f"handshake-{label} {var} pair/s", st[0] / st[1], rb[0] / rb[1]))
            rows.append((f"handshake-{label} {var} server-only/s", st[0] / st[2], rb[0] / rb[2]))
    print()
    print(f"{'operation (per second, one core)':44} {'stock':>10} {'rebuild':>10} {'rebuild/stock':>14}")
    for name, s, b in rows:
        print(f"{name:44} {s:10.0f} {b:10.0f} {b / s:14.2f}")
    print("pair/s: client and server in one thread (tls_mem); server-only/s: 1 / the server's time per "
          "handshake.\nrsa2048-sign is the control: OPENSSL_SMALL does not change RSA.")
    os.makedirs(os.path.join(BUILD, "bench"), exist_ok=True)
    tsv = os.path.join(BUILD, "bench", "crypto.tsv")
    with open(tsv, "w") as f:
        f.write("operation\tstock_per_s\trebuild_per_s\tratio\n")
        for name, s, b in rows:
            f.write(f"{name}\t{s:.1f}\t{b:.1f}\t{b / s:.3f}\n")
    print(f"bench-crypto: {time.time() - t_start:.0f} s; table in {os.path.relpath(tsv, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
