#!/usr/bin/python3
"""smtp_stranger.py - what outside testers throw at mxgate, one scenario per
run (see SCENARIOS); every check prints "ok: ..." or "FAIL: ...", the exit
status is non-zero if any failed.

  halfclose  a whole transaction in one write, then the client shuts down
             its sending side (FIN) and reads on, as `nc -N` or a
             pipelining client that is done: with the final dot still at
             the (slow) backend, the client must hear the backend's 250,
             then the server's close; the same with QUIT after the dot.

Usage: smtp_stranger.py SCENARIO [--host 198.18.0.2] [--port 25] [--tag T]
"""
import argparse
import socket

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


SCENARIOS = {"halfclose": sc_halfclose}


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--tag", default="stranger")
    A = ap.parse_args()
    SCENARIOS[A.scenario]()
    su.finish("smtp_stranger " + A.scenario)


if __name__ == "__main__":
    main()
