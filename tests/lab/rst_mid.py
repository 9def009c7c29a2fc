#!/usr/bin/python3
"""rst_mid.py - abort a connection in the middle of a big transfer: once
--rst-after bytes have come back, close with SO_LINGER {1, 0}, which sends
a RST with data still in flight both ways. Then a fresh connection must
still echo correctly. Repeated --rounds times. Prints one result line.
"""
import argparse
import socket
import struct
import time

import labclient as lc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--bytes", type=int, default=20_000_000, help="size of the aborted transfer")
    ap.add_argument("--rst-after", type=int, default=1_000_000, help="echoed bytes before the RST")
    ap.add_argument("--check-bytes", type=int, default=65536, help="echo on the fresh connection")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=60, help="hard overall limit, seconds")
    a = ap.parse_args()
    if a.rst_after >= a.bytes or not 1 <= a.rounds <= 100:
        lc.die("--rst-after must be below --bytes; 1..100 rounds")
    ip = lc.check_addr(a.host)
    lc.watchdog(a.timeout + 5)
    deadline = time.monotonic() + a.timeout
    t0 = time.monotonic()
    at = []
    for r in range(a.rounds):
        try:
            s = lc.connect(ip, a.port)
        except OSError as e:
            lc.die("round %d: connect: %s" % (r + 1, e))
        c = lc.EchoConn(s, a.bytes, 10 + r, 0)
        ok, why = lc.run_echo([c], deadline, 15, stop=lambda: c.rcvd >= a.rst_after)
        if not ok or c.error:
            lc.die("round %d, before the RST: %s" % (r + 1, c.error or why), 1)
        if c.done():
            lc.die("round %d: transfer finished before the RST" % (r + 1), 1)
        at.append(c.rcvd)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
        try:
            s2 = lc.connect(ip, a.port)
        except OSError as e:
            lc.die("round %d: connect after the RST: %s" % (r + 1, e), 1)
        c2 = lc.EchoConn(s2, a.check_bytes, 100 + r, 1)
        ok, why = lc.run_echo([c2], deadline, 15)
        s2.close()
        if not ok:
            lc.die("round %d: fresh connection after the RST: %s" % (r + 1, why), 1)
    print("rst_mid: OK %d rounds: RST after %s bytes echoed (of %d); a fresh connection "
          "echoed %d bytes each time (%.1f s)"
          % (a.rounds, "/".join(map(str, at)), a.bytes, a.check_bytes, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
