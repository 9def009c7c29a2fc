#!/usr/bin/python3
"""zero_window.py - make the peer face a closed window: a small SO_RCVBUF,
send --bytes without reading until sending stalls (the echo backs up into
our tiny receive buffer, the peer stops reading, its window to us closes),
hold still --hold seconds (the peer must probe, not give up), then read
everything and check it is byte-identical, within --recover seconds.
Prints one result line.
"""
import argparse
import selectors
import socket
import time

import labclient as lc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--bytes", type=int, default=4_000_000)
    ap.add_argument("--rcvbuf", type=int, default=4096)
    ap.add_argument("--sndbuf", type=int, default=65536)
    ap.add_argument("--stall", type=float, default=1.0, help="no send progress this long = stalled")
    ap.add_argument("--hold", type=float, default=2.0, help="seconds to keep not reading once stalled")
    ap.add_argument("--recover", type=float, default=10.0,
                    help="seconds allowed to drain everything once we read again")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=90, help="hard overall limit, seconds")
    a = ap.parse_args()
    ip = lc.check_addr(a.host)
    lc.watchdog(a.timeout + 5)
    deadline = time.monotonic() + a.timeout
    t0 = time.monotonic()
    s = socket.socket(lc.family(ip), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)  # before connect: sets the window scale
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, a.sndbuf)
    s.settimeout(10)
    try:
        s.connect((str(ip), a.port))
    except OSError as e:
        lc.die("connect %s port %d: %s" % (ip, a.port, e))
    c = lc.EchoConn(s, a.bytes, a.seed, 0)
    s.setblocking(False)
    # phase 1: write only, until no progress for --stall seconds
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_WRITE)
    last = time.monotonic()
    while c.sent < c.total:
        if time.monotonic() > deadline:
            lc.die("deadline in the write-only phase", 1)
        if sel.select(0.1) and c.on_write():
            last = time.monotonic()
        if c.error:
            lc.die(c.error, 1)
        if time.monotonic() - last >= a.stall:
            break
    sel.close()
    if c.sent >= c.total:
        lc.die("sent all %d bytes without reading and never stalled: the peer's window "
               "never closed (raise --bytes?)" % c.total, 1)
    stalled_at = c.sent
    time.sleep(a.hold)
    # phase 2: read everything (and send the rest), check identity, EOF
    t1 = time.monotonic()
    ok, why = lc.run_echo([c], deadline, 20)
    t2 = time.monotonic()
    s.close()
    if not ok:
        lc.die("after the stall at %d bytes: %s" % (stalled_at, why), 1)
    if t2 - t1 > a.recover:
        lc.die("all %d bytes came back identical, but draining them after the window "
               "reopened took %.1f s (limit %.0f s): the sender is slow to notice the "
               "window opening" % (c.total, t2 - t1, a.recover), 1)
    print("zero_window: OK sending stalled after %d of %d bytes (window closed), held %.0f s, "
          "then all %d bytes came back identical in %.1f s, EOF (%.1f s in all)"
          % (stalled_at, c.total, a.hold, c.rcvd, t2 - t1, t2 - t0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
