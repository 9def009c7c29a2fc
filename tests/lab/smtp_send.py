#!/usr/bin/python3
"""smtp_send.py - send mail through mxgate with Python's smtplib.

  smtp_send.py big --mode starttls|smtps --bytes N --tag T --maildir D [--dot-max 997]
      one message of about N bytes: seeded random printable lines of 0..998
      characters, among them lines starting with "." (up to --dot-max long;
      998 makes 1001 octets once dot-stuffed, which RFC 5321 4.5.3.1.6 allows) and
      lines that are just "." or ".."; then the dump smtp-sink stored must
      be byte-identical to it (line ends aside) behind mxgate's Received.
  smtp_send.py many --count N --concurrency C --prefix P [--mode starttls]
      N small messages with Message-IDs <P0@client.example>..., each in its
      own session, C sessions at a time (threads); every one must be accepted.

smtplib is always given local_hostname (it would resolve the host name
otherwise) and an address literal. Exit status non-zero on any failure.
"""
import argparse
import random
import smtplib
import ssl
import threading
import time

import labclient as lc
import smtp_util as su
from smtp_util import check, bad, ok, say

A = None
PRINTABLE = bytes(range(0x20, 0x7f))


def make_big(nbytes, seed, tag, dot_max):
    """dot_max: longest line starting with "." (998: 1001 octets once stuffed)."""
    r = random.Random(seed)
    head = ("From: <a@example.org>\r\nTo: <b@lab.example>\r\nSubject: big %s\r\n"
            "Message-ID: <%s@client.example>\r\n\r\n" % (tag, tag)).encode()
    parts = [head]
    size = len(head)
    specials = [b".", b"..", b"...", b". leading dot and space", b"." + b"d" * (dot_max - 1),
                b".." + b"e" * (dot_max - 2), b"f" * 998, b"", b" .not at start"]
    i = 0
    while size < nbytes:
        k = r.random()
        if i < len(specials) * 50 and k < 0.05:
            line = specials[i % len(specials)]
        elif k < 0.10:
            line = b"." + bytes(r.choice(PRINTABLE) for _ in range(r.randint(0, dot_max - 1)))
        else:
            n = r.choice((r.randint(0, 998), r.randint(0, 120), 998))
            line = bytes(r.choice(PRINTABLE) for _ in range(n))
            if line.startswith(b"."):
                line = b"-" + line[1:]      # only the lines above start with "."
        parts.append(line + b"\r\n")
        size += len(line) + 2
        i += 1
    return b"".join(parts)


def connect(mode, timeout):
    ctx = su.tls_context()
    host = str(lc.check_addr(A.host))
    if mode == "smtps":
        s = smtplib.SMTP_SSL(host, A.port or 465, local_hostname="client.example", timeout=timeout,
                             context=ctx)
        s.ehlo()
        return s
    s = smtplib.SMTP(host, A.port or 25, local_hostname="client.example", timeout=timeout)
    s.ehlo()
    if mode == "starttls":
        code, resp = s.starttls(context=ctx)
        if code != 220:
            raise smtplib.SMTPResponseException(code, resp)
        s.ehlo()
    return s


def cmd_big():
    msg = make_big(A.bytes, A.seed, A.tag, A.dot_max)
    ndot = sum(1 for l in msg.split(b"\r\n") if l.startswith(b"."))
    longest = max(len(l) for l in msg.split(b"\r\n"))
    say("message: %d bytes, %d lines, %d start with '.', longest line %d" %
        (len(msg), msg.count(b"\r\n"), ndot, longest))
    t0 = time.monotonic()
    try:
        s = connect(A.mode, A.io_timeout)
        check(s.sock is not None and isinstance(s.sock, ssl.SSLSocket),
              "%s: TLS is up (%s)" % (A.mode, s.sock.version() if isinstance(s.sock, ssl.SSLSocket) else "-"))
        refused = s.sendmail("a@example.org", ["b@lab.example"], msg)
        check(refused == {}, "%s: %d-byte message accepted (250) in %.1f s"
              % (A.mode, len(msg), time.monotonic() - t0),
              str(refused))
        s.quit()
    except (smtplib.SMTPException, OSError) as e:
        bad("%s: sending %d bytes failed: %s: %s" % (A.mode, len(msg), type(e).__name__, e))
        return
    files = su.wait_dumps(A.maildir, 1, 10)
    mine = []
    for p in files:
        with open(p, "rb") as f:
            if ("<%s@client.example>" % A.tag).encode() in f.read(2048):
                mine.append(p)
    if not check(len(mine) == 1, "exactly one stored copy of %s" % A.tag, "%d copies" % len(mine)):
        return
    d = su.Dump(mine[0])
    if d.error:
        bad("%s: %s" % (mine[0], d.error))
        return
    f = d.fields
    check(f["with"] == "ESMTPS" and f["version"] in ("TLSv1.3", "TLSv1.2") and f["verify"] == "NOT"
          and f["rcpt"] == "b@lab.example" and f["helo"] == "client.example" and f["addr"] == "198.18.0.1",
          "mxgate Received header: with ESMTPS, TLS clause, for <b@lab.example>", d.received)
    want = su.sent_as_stored(msg)
    if d.message == want:
        ok("stored message is byte-identical to the one sent (%d bytes, LF line ends)" % len(want))
    else:
        i = su.first_diff(d.message, want)
        bad("stored message differs at byte %d (stored %d bytes, sent %d): stored %r / sent %r"
            % (i, len(d.message), len(want), d.message[max(0, i - 60):i + 60], want[max(0, i - 60):i + 60]))


def cmd_many():
    ids = list(range(A.count))
    lock = threading.Lock()
    errors = []
    done = [0]

    def one(i):
        msg = ("From: <a@example.org>\r\nTo: <b@lab.example>\r\nSubject: many %d\r\n"
               "Message-ID: <%s%d@client.example>\r\n\r\nmessage %d of %d\r\n.\r\n..\r\n"
               % (i, A.prefix, i, i, A.count)).encode()
        try:
            s = connect(A.mode, 30)
            refused = s.sendmail("a@example.org", ["b@lab.example"], msg)
            s.quit()
            if refused:
                raise smtplib.SMTPException("refused %r" % refused)
            with lock:
                done[0] += 1
        except Exception as e:  # noqa: BLE001 - every failure is reported
            with lock:
                errors.append("%d: %s: %s" % (i, type(e).__name__, e))

    t0 = time.monotonic()
    if A.concurrency <= 1:
        for i in ids:
            one(i)
    else:
        for start in range(0, A.count, A.concurrency):
            ths = [threading.Thread(target=one, args=(i,)) for i in ids[start:start + A.concurrency]]
            for t in ths:
                t.start()
            for t in ths:
                t.join(60)
            if any(t.is_alive() for t in ths):
                bad("round at %d: sessions still running after 60 s" % start)
                break
    dt = time.monotonic() - t0
    for e in errors[:10]:
        say("  error: " + e)
    check(not errors and done[0] == A.count,
          "%d %s sessions (%s at a time) delivered in %.1f s" % (A.count, A.mode, A.concurrency, dt),
          "%d delivered, %d failed" % (done[0], len(errors)))


def main():
    global A
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cmd", choices=["big", "many"])
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", choices=["plain", "starttls", "smtps"], default="starttls")
    ap.add_argument("--bytes", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tag", default="big")
    ap.add_argument("--dot-max", type=int, default=998,
                    help="longest line starting with '.' (998 = 1001 octets dot-stuffed)")
    ap.add_argument("--maildir")
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--prefix", default="many-")
    ap.add_argument("--deadline", type=float, default=150)
    ap.add_argument("--io-timeout", type=float, default=60, help="big: smtplib's socket timeout")
    A = ap.parse_args()
    lc.check_addr(A.host)
    lc.watchdog(A.deadline)
    if A.cmd == "big":
        if not A.maildir:
            ap.error("big needs --maildir")
        cmd_big()
    else:
        cmd_many()
    su.finish("smtp_send %s" % A.cmd)


if __name__ == "__main__":
    main()
