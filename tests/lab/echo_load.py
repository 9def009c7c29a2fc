#!/usr/bin/python3
"""echo_load.py - bulk echo load: splits --bytes over --conns parallel
connections to the echo service, sends a seeded pseudo-random stream on
each while reading the echo at the same time, checks every byte (and the
sha256 of each stream), half-closes at the end and expects EOF.
Prints one result line; exits 0 only if every connection came back whole.
"""
import argparse
import time

import labclient as lc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--bytes", type=int, default=20_000_000, help="total, split over the connections")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=180, help="hard overall limit, seconds")
    ap.add_argument("--io-timeout", type=float, default=30, help="limit without any progress, seconds")
    a = ap.parse_args()
    if not 1 <= a.conns <= 1024 or a.bytes < a.conns or a.bytes > 2_000_000_000:
        lc.die("bad --conns/--bytes")
    ip = lc.check_addr(a.host)
    lc.watchdog(a.timeout + 5)
    deadline = time.monotonic() + a.timeout
    t0 = time.monotonic()
    conns = []
    per, extra = divmod(a.bytes, a.conns)
    for i in range(a.conns):
        try:
            s = lc.connect(ip, a.port, timeout=10)
        except OSError as e:
            lc.die("connect %d of %d to %s port %d: %s" % (i + 1, a.conns, ip, a.port, e))
        conns.append(lc.EchoConn(s, per + (extra if i == 0 else 0), a.seed, i))
    ok, why = lc.run_echo(conns, deadline, a.io_timeout)
    dt = time.monotonic() - t0
    for c in conns:
        c.sock.close()
    if not ok:
        lc.die("%s (after %.1f s)" % (why, dt), 1)
    print("echo_load: OK %d conns to %s port %d, %d bytes each way in %.1f s (%.1f Mbit/s), "
          "every stream identical, EOF seen"
          % (a.conns, ip, a.port, a.bytes, dt, a.bytes * 8 / dt / 1e6))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
