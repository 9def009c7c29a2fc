#!/usr/bin/python3
"""smtp_stranger.py - what outside testers throw at mxgate, one scenario per
run (see SCENARIOS); every check prints "ok: ..." or "FAIL: ...", the exit
status is non-zero if any failed.

  halfclose  a whole transaction in one write, then the client shuts down
             its sending side (FIN) and reads on, as `nc -N` or a
             pipelining client that is done: with the final dot still at
             the (slow) backend, the client must hear the backend's 250,
             then the server's close; the same with QUIT after the dot.
  rstdot     the same transaction, then a reset (SO_LINGER 0) right after the
             final dot: the client is gone before the backend's verdict
             (the test checks what mxgate logged).
  noread     a client that pipelines EHLO after EHLO and never reads a
             reply: its receive window closes, mxgate's output backs up,
             the command deadline ends the session (421); the client
             holds the connection open, reading nothing, for --hold s.
  refacts    two messages in one session with STARTTLS between them (then
             a new EHLO), and two with only a new EHLO between them: each
             message is sent with --tag and a number; the backend must see
             each under the HELO (and TLS) of its own time (checked by
             the test from the backend's record).

Usage: smtp_stranger.py SCENARIO [--host 198.18.0.2] [--port 25] [--tag T]
"""
import argparse
import select
import socket
import time

import smtp_util as su
from smtp_util import check, ok, say

A = None


def conn():
    return su.Client(A.host, A.port, timeout=15.0)


def message(tag):
    return ("Subject: %s\r\nMessage-ID: <%s@client.example>\r\n\r\nbody\r\n.\r\n" % (tag, tag)).encode()


def replies_until_close(c, secs):
    """Every reply until the server closes, and whether it did within secs."""
    out = []
    try:
        while True:
            out.append(c.reply(timeout=secs))
    except su.Closed:
        return out, True
    except socket.timeout:
        return out, False


def halfclose_once(tag, quit_):
    c = conn()
    c.reply()
    c.send(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@lab.example>\r\nDATA\r\n" +
           message(tag) + (b"QUIT\r\n" if quit_ else b""))
    c.sock.shutdown(socket.SHUT_WR)
    reps, closed = replies_until_close(c, 15.0)
    codes = [r.code for r in reps]
    say("%s: replies %s" % (tag, codes))
    want = [250, 250, 250, 354, 250] + ([221] if quit_ else [])
    check(codes == want, "%s: every reply after the half-close, the message's 250 among them" % tag,
          "got %s, expected %s" % (codes, want))
    check(closed, "%s: the server closed once the replies were out" % tag)
    c.close()


def sc_halfclose():
    halfclose_once(A.tag + "-fin", False)
    halfclose_once(A.tag + "-quit", True)


def sc_rstdot():
    import struct
    c = conn()
    c.reply()
    c.send(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@lab.example>\r\nDATA\r\n" +
           message(A.tag))
    deadline = time.monotonic() + 10
    codes = []
    while len(codes) < 4 and time.monotonic() < deadline:
        codes.append(c.reply().code)
    check(codes == [250, 250, 250, 354], "%s: the transaction up to 354" % A.tag, str(codes))
    time.sleep(0.5)        # the dot is at the backend, whose verdict takes 2 s
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.sock.close()
    ok("%s: reset after the final dot" % A.tag)


def send_one(c, tag):
    su.expect(c.cmd("MAIL FROM:<a@example.org>"), 250, what=tag + ": MAIL")
    su.expect(c.cmd("RCPT TO:<b@lab.example>"), 250, what=tag + ": RCPT")
    su.expect(c.cmd("DATA"), 354, what=tag + ": DATA")
    c.send(message(tag))
    su.expect(c.reply(), 250, what=tag + ": the message")


def sc_refacts():
    c = conn()
    c.reply()
    su.expect(c.cmd("EHLO before-tls.example"), 250, what="EHLO before STARTTLS")
    send_one(c, A.tag + "-1")
    su.expect(c.cmd("STARTTLS"), 220, what="STARTTLS")
    c.start_tls()
    su.expect(c.cmd("EHLO after-tls.example"), 250, what="EHLO inside TLS")
    send_one(c, A.tag + "-2")
    su.expect(c.cmd("QUIT"), 221, what="QUIT")
    c.close()
    c = conn()
    c.reply()
    su.expect(c.cmd("EHLO first.example"), 250, what="EHLO first")
    send_one(c, A.tag + "-3")
    su.expect(c.cmd("EHLO second.example"), 250, what="EHLO again")
    send_one(c, A.tag + "-4")
    su.expect(c.cmd("QUIT"), 221, what="QUIT")
    c.close()


def sc_noread():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((A.host, A.port))
    s.setblocking(False)
    line = b"EHLO client.example\r\n" * 256
    sent, stall = 0, None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, w, _ = select.select([], [s], [], 0.2)
        if not w:
            if stall is None:
                stall = time.monotonic()
            elif time.monotonic() - stall > 1.0:
                break
            continue
        stall = None
        try:
            sent += s.send(line)
        except BlockingIOError:
            pass
    check(sent > 0 and stall is not None, "noread: %d bytes of EHLO sent before the server stopped reading" % sent)
    time.sleep(A.hold)     # never read: the window stays closed
    s.close()


SCENARIOS = {"halfclose": sc_halfclose, "noread": sc_noread, "refacts": sc_refacts, "rstdot": sc_rstdot}


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--tag", default="stranger")
    ap.add_argument("--hold", type=float, default=20.0)
    A = ap.parse_args()
    SCENARIOS[A.scenario]()
    su.finish("smtp_stranger " + A.scenario)


if __name__ == "__main__":
    main()
