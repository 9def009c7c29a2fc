#!/usr/bin/python3
"""half_close.py - send --bytes, shutdown(SHUT_WR), keep reading the echo
until EOF: the peer must echo everything after our FIN and then close.
(The echo is read while sending, so large sizes cannot deadlock.)
Prints one result line; exits non-zero on any mismatch.
"""
import argparse
import time

import labclient as lc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--bytes", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=60, help="hard overall limit, seconds")
    a = ap.parse_args()
    ip = lc.check_addr(a.host)
    lc.watchdog(a.timeout + 5)
    deadline = time.monotonic() + a.timeout
    t0 = time.monotonic()
    try:
        s = lc.connect(ip, a.port)
    except OSError as e:
        lc.die("connect %s port %d: %s" % (ip, a.port, e))
    c = lc.EchoConn(s, a.bytes, a.seed, 0, half_close=True)
    ok, why = lc.run_echo([c], deadline, 15)
    s.close()
    if not ok:
        lc.die(why, 1)
    print("half_close: OK %d bytes sent, FIN sent, %d bytes echoed back, then EOF (%.1f s)"
          % (c.sent, c.rcvd, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
