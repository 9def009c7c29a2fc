#!/usr/bin/python3
"""tls_hs_time.py - two STARTTLS sessions whose handshakes take a known
time as mxgate should measure it (from the ClientHello's first bytes to
the client's Finished read):

  slow-hello    after the 220 to STARTTLS, waits --pause s before sending
                the ClientHello, then finishes at once: a fast handshake;
  slow-finish   sends the ClientHello at once, reads the server's flight,
                waits --pause s, then sends its Finished: a slow one.

Each then says EHLO over TLS and QUIT. The handshake runs over
ssl.MemoryBIO, so this script decides when each flight leaves.

Usage: tls_hs_time.py [--host 198.18.0.2] [--port 25] [--pause 1.2]
"""
import argparse
import socket
import ssl
import time

import labclient as lc
import smtp_util as su
from smtp_util import check, expect, say


def pump_out(sock, out):
    data = out.read()
    if data:
        sock.sendall(data)


def session(host, port, pause, slow_finish):
    c = su.Client(host, port)
    expect(c.reply(), 220, what="banner")
    expect(c.cmd("EHLO client.example"), 250, what="EHLO")
    expect(c.cmd("STARTTLS"), 220, what="STARTTLS")
    if not slow_finish:
        time.sleep(pause)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = su.tls_context().wrap_bio(inc, out, server_hostname="mx.lab.example")
    flights = 0
    t0 = time.monotonic()
    deadline = t0 + 20
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            if out.pending:
                if slow_finish and flights == 1:
                    time.sleep(pause)       # the server's flight is in: hold our Finished
                pump_out(c.sock, out)
                flights += 1
            c.sock.settimeout(max(0.1, deadline - time.monotonic()))
            d = c.sock.recv(65536)
            if not d:
                raise su.Closed("EOF during the handshake")
            inc.write(d)
    if slow_finish and flights == 1:
        time.sleep(pause)
    pump_out(c.sock, out)
    took = time.monotonic() - t0
    # EHLO over TLS, then QUIT
    tls.write(b"EHLO client.example\r\n")
    pump_out(c.sock, out)
    got = b""
    while not got.endswith(b"\r\n") or b"250 " not in got:
        try:
            got += tls.read(65536)
        except ssl.SSLWantReadError:
            c.sock.settimeout(10)
            d = c.sock.recv(65536)
            if not d:
                break
            inc.write(d)
    check(b"250 " in got, "%s: EHLO over TLS answered 250" % ("slow-finish" if slow_finish else "slow-hello"),
          repr(got[:200]))
    tls.write(b"QUIT\r\n")
    pump_out(c.sock, out)
    c.close()
    say("%s: %s, handshake %.3f s on the client's clock" %
        ("slow-finish" if slow_finish else "slow-hello", tls.version(), took))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--pause", type=float, default=1.2)
    a = ap.parse_args()
    lc.check_addr(a.host)
    lc.watchdog(60)
    session(a.host, a.port, a.pause, slow_finish=False)
    session(a.host, a.port, a.pause, slow_finish=True)
    su.finish("tls_hs_time")


if __name__ == "__main__":
    main()
