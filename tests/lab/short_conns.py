#!/usr/bin/python3
"""short_conns.py - many short connections in a row: connect, send --bytes
(64) seeded bytes, read them back, close; --count times, sequentially.
Prints one result line; exits non-zero at the first failure.
"""
import argparse
import random
import socket
import time

import labclient as lc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--bytes", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=120, help="hard overall limit, seconds")
    ap.add_argument("--io-timeout", type=float, default=5, help="per connection, seconds")
    a = ap.parse_args()
    if not 1 <= a.count <= 100000 or not 1 <= a.bytes <= 65536:
        lc.die("bad --count/--bytes")
    ip = lc.check_addr(a.host)
    lc.watchdog(a.timeout + 5)
    deadline = time.monotonic() + a.timeout
    rnd = random.Random(a.seed)
    t0 = time.monotonic()
    worst = 0.0
    for i in range(a.count):
        if time.monotonic() > deadline:
            lc.die("deadline reached after %d of %d connections" % (i, a.count), 1)
        t1 = time.monotonic()
        payload = rnd.randbytes(a.bytes)
        try:
            s = lc.connect(ip, a.port, timeout=a.io_timeout)
            s.sendall(payload)
            got = b""
            while len(got) < len(payload):
                d = s.recv(len(payload) - len(got))
                if not d:
                    lc.die("conn %d: EOF after %d of %d bytes" % (i + 1, len(got), len(payload)), 1)
                got += d
            s.close()
        except (OSError, socket.timeout) as e:
            lc.die("conn %d of %d: %s" % (i + 1, a.count, e), 1)
        if got != payload:
            lc.die("conn %d: echo differs from what was sent" % (i + 1), 1)
        worst = max(worst, time.monotonic() - t1)
    dt = time.monotonic() - t0
    print("short_conns: OK %d connections to %s port %d in %.1f s (%.0f/s, slowest %.0f ms)"
          % (a.count, ip, a.port, dt, a.count / dt, worst * 1000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
