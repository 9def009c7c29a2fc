#!/usr/bin/python3
"""tls_abort.py - many implicit-TLS handshakes (465) at once against the
lab's RSA-2048 certificate, where the key door runs RSA in steps between
polls. In every round, --conns clients send their ClientHello together,
then:

  i % 3 == 0   reset (SO_LINGER 0) at once: their RSA signature waits for,
               or is in, the door's run when the session goes;
  i % 3 == 1   read the server's whole flight (the signature made and
               sent), then reset instead of sending their Finished;
  i % 3 == 2   finish, read the 220 banner over TLS, QUIT, read the 221.

The handshake runs over ssl.MemoryBIO, so the script decides what leaves.
Every completing client must get its 220 and 221.

Usage: tls_abort.py [--host 198.18.0.2] [--port 465] [--rounds 5] [--conns 24]
"""
import argparse
import socket
import ssl
import struct

import labclient as lc
import smtp_util as su
from smtp_util import check, say

TIMEOUT = 15


def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def flush(c):
    data = c["out"].read()
    if data:
        c["sock"].sendall(data)


def step(c):
    """Feed what came and go on with the handshake; True once it is done."""
    try:
        c["tls"].do_handshake()
        return True
    except ssl.SSLWantReadError:
        return False


def feed(c):
    data = c["sock"].recv(65536)
    if not data:
        raise ConnectionError("closed by the server during the handshake")
    c["inc"].write(data)


def tls_line(c):
    """One reply line over TLS (a 220 or a 221), bounded by the socket's timeout."""
    buf = b""
    while not buf.endswith(b"\r\n"):
        try:
            buf += c["tls"].read(4096)
        except ssl.SSLWantReadError:
            feed(c)
        flush(c)
    return buf.decode("ascii", "replace")


def one_round(host, port, n):
    ctx = su.tls_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    conns = []
    for i in range(n):
        s = lc.connect(host, port, timeout=TIMEOUT)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        c = {"i": i, "sock": s, "inc": inc, "out": out,
             "tls": ctx.wrap_bio(inc, out, server_hostname="mx.lab.example")}
        step(c)                 # the ClientHello, into out
        conns.append(c)
    for c in conns:             # all hellos at once
        flush(c)
    for c in conns:
        if c["i"] % 3 == 0:
            reset(c["sock"])
    done = 0
    for c in conns:
        if c["i"] % 3 == 0:
            continue
        try:
            while not step(c):
                feed(c)
            if c["i"] % 3 == 1:
                reset(c["sock"])        # the Finished stays in out
                continue
            flush(c)
            banner = tls_line(c)
            c["tls"].write(b"QUIT\r\n")
            flush(c)
            bye = tls_line(c)
            if banner.startswith("220") and bye.startswith("221"):
                done += 1
            else:
                say("client %d: banner %r, QUIT %r" % (c["i"], banner[:60], bye[:60]))
        except (OSError, ssl.SSLError, ConnectionError) as e:
            say("client %d: %s" % (c["i"], e))
        finally:
            c["sock"].close()
    return done, len([c for c in conns if c["i"] % 3 == 2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=465)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--conns", type=int, default=24)
    a = ap.parse_args()
    host = lc.check_addr(a.host)
    lc.watchdog(120)
    if not 1 <= a.rounds <= 50 or not 3 <= a.conns <= 90:
        ap.error("--rounds 1..50, --conns 3..90")
    for r in range(a.rounds):
        done, want = one_round(host, a.port, a.conns)
        check(done == want, "round %d: %d of %d completing clients got 220 and 221, %d reset after "
              "the hello, %d after the server's flight" % (r + 1, done, want, (a.conns + 2) // 3,
                                                            (a.conns + 1) // 3))
    su.finish("tls_abort")


if __name__ == "__main__":
    main()
