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

The two builds run back to back for each operation and each tls_mem key
(one process per operation and build), stock first in odd rounds and the
rebuild first in even ones, so that the load of this shared machine hits
both alike. The figures are the sums over all rounds (operations /
seconds); rebuild/stock is their ratio, and the last column the lowest and
highest ratio of a single round, which shows the noise. Nothing is
compared to a fixed number. The lines also go to build/bench/crypto.tsv.

Time is CPU time: crypto_speed counts its operations against its own CPU
clock; tls_mem times with the wall clock, so its times are scaled by the
share of the core its process got (CPU time / wall time, from rusage). On
this shared machine other work takes the core too, and the wall-clock
rate would measure that load; the share is printed at the end.

Environment: BENCH_ROUNDS (6), BENCH_OP_SECONDS (0.5: CPU seconds per
operation, build and round), BENCH_TLS_SECONDS (1.5: wall seconds per
tls_mem server variant, build, key and round), BENCH_CPU (1: taskset
core), BENCH_KEYS ("ecdsa rsa"). About 3 minutes with the defaults.
"""
import os
import re
import resource
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(REPO, "build")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))
OP_S = float(os.environ.get("BENCH_OP_SECONDS", "0.5"))
TLS_S = float(os.environ.get("BENCH_TLS_SECONDS", "1.5"))
CPU = os.environ.get("BENCH_CPU", "1")
KEYS = os.environ.get("BENCH_KEYS", "ecdsa rsa").split()
BUILDS = (("stock", "_stock"), ("rebuild", ""))
OPS = ("ecdsa-p256-sign", "ecdsa-p256-verify", "x25519-keygen", "x25519-shared", "x25519-exchange",
       "p256-ecdh-exchange", "rsa2048-sign")
TLS_LINES = (("tls.c", "tls.c (async key door, batch):"), ("plain", "plain BoringSSL (use_PrivateKey):"))


def run(cmd, timeout):
    """Run a command pinned to BENCH_CPU; (stdout, the share of its core it got), or stop the bench."""
    full = ["taskset", "-c", CPU] + cmd    # taskset execs cmd: one process, one rusage
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"bench-crypto: {' '.join(full)} failed ({p.returncode}): {p.stderr.strip()}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return p.stdout, min(1.0, cpu / wall) if wall > 0 else 1.0


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
        out, _ = run([cs, "--seconds", "0.01", "--only", "x25519-keygen"], 60)
        libs = re.findall(r"^lib=(\S*libcrypto\S*)", out, re.M)
        tm = libcrypto_ldd(os.path.join(BUILD, "tls_mem" + suf))
        for what, lib in (("crypto_speed" + suf, libs[0] if libs else "?"), ("tls_mem" + suf, tm)):
            k = kind_of(lib) if lib != "?" else "unknown"
            print(f"  {what:20} {name:8} {lib}  ({k} build)")
            if k != want[name]:
                sys.exit(f"bench-crypto: {what} loads a {k} build, expected {want[name]}")


def parse_ops(out):
    """crypto_speed's op= lines as {op: (ops, CPU seconds)}."""
    return {m.group(1) + "/s": (int(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"^op=(\S+) ops=(\d+) cpu_seconds=([\d.]+)", out, re.M)}


def parse_tls(out, label, share):
    """tls_mem's two result lines as {row: (handshakes, CPU seconds)}: pair rate and server-only rate.

    tls_mem times with the wall clock; its process got `share` of its core
    (CPU time / wall time over its whole run, set-up included), so its
    times are scaled by that share to estimate CPU seconds, like
    crypto_speed's, on a machine where other work takes the core too."""
    rows = {}
    for var, prefix in TLS_LINES:
        line = next((ln for ln in out.splitlines() if ln.startswith(prefix)), None)
        if not line:
            sys.exit(f"bench-crypto: tls_mem printed no '{prefix}' line:\n{out}")
        f = dict(re.findall(r"(\w+)=([\d.]+)", line))
        hs = int(f["handshakes"])
        rows[f"handshake-{label} {var} pair/s"] = (hs, hs / float(f["hs_per_s"]) * share)
        rows[f"handshake-{label} {var} server-only/s"] = (hs, hs * float(f["server_us_per_hs"]) * 1e-6 * share)
    return rows


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
    # res[build][row] = [(count, seconds) of each round]; the two builds of a
    # row always run back to back, their order swapped every round
    res = {name: {} for name, _ in BUILDS}
    order_rows = []
    shares = {"crypto_speed": [], "tls_mem": []}

    def add(name, rows):
        """Keep one run's rows."""
        for row, v in rows.items():
            if row not in order_rows:
                order_rows.append(row)
            res[name].setdefault(row, []).append(v)

    for r in range(ROUNDS):
        order = BUILDS if r % 2 == 0 else BUILDS[::-1]
        print(f"  round {r + 1}/{ROUNDS}: crypto_speed, {' then '.join(n for n, _ in order)}, each operation",
              flush=True)
        for op in OPS:
            for name, suf in order:
                out, share = run([os.path.join(BUILD, "crypto_speed" + suf), "--seconds", str(OP_S),
                                  "--only", op], 600)
                shares["crypto_speed"].append(share)
                add(name, parse_ops(out))
        for key in KEYS:
            label = "ecdsa-p256" if key == "ecdsa" else "rsa2048"
            print(f"  round {r + 1}/{ROUNDS}: tls_mem --key {key}", flush=True)
            for name, suf in order:
                out, share = run([os.path.join(BUILD, "tls_mem" + suf), "--key", key, "--seconds", str(TLS_S),
                                  "--idle", "1"], 600)
                shares["tls_mem"].append(share)
                add(name, parse_tls(out, label, share))

    rows = []
    for row in order_rows:
        st, rb = res["stock"][row], res["rebuild"][row]
        s_rate = sum(c for c, _ in st) / sum(t for _, t in st)
        b_rate = sum(c for c, _ in rb) / sum(t for _, t in rb)
        per_round = sorted((b[0] / b[1]) / (a[0] / a[1]) for a, b in zip(st, rb))
        rows.append((row, s_rate, b_rate, per_round[0], per_round[-1]))
    print()
    print(f"{'operation (per second, one core)':44} {'stock':>10} {'rebuild':>10} {'rebuild/stock':>14}"
          f" {'rounds min-max':>15}")
    for name, s, b, lo, hi in rows:
        print(f"{name:44} {s:10.0f} {b:10.0f} {b / s:14.2f} {lo:7.2f}-{hi:.2f}")
    print("Per CPU-second of one core. pair/s: client and server in one thread (tls_mem); server-only/s: "
          "1 / the server's time per handshake.\nrsa2048-sign is the control: OPENSSL_SMALL does not change RSA.")
    for prog, sh in shares.items():
        print(f"{prog}: the processes got {min(sh):.0%}-{max(sh):.0%} of their core (CPU time / wall time; "
              f"mean {sum(sh) / len(sh):.0%}); the rest went to other work on this machine")
    os.makedirs(os.path.join(BUILD, "bench"), exist_ok=True)
    tsv = os.path.join(BUILD, "bench", "crypto.tsv")
    with open(tsv, "w") as f:
        f.write("operation\tstock_per_s\trebuild_per_s\tratio\tround_ratio_min\tround_ratio_max\n")
        for name, s, b, lo, hi in rows:
            f.write(f"{name}\t{s:.1f}\t{b:.1f}\t{b / s:.3f}\t{lo:.3f}\t{hi:.3f}\n")
    print(f"bench-crypto: {time.time() - t_start:.0f} s; table in {os.path.relpath(tsv, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
