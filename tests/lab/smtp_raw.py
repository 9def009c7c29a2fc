#!/usr/bin/python3
"""smtp_raw.py - SMTP conversations byte for byte against mxgate, one
scenario per run (see SCENARIOS): STARTTLS edge cases, SMTP smuggling,
line/size/recipient/error limits, pregreet, timeouts, and transactions
that a failing backend must turn into 4xx/5xx. Every check prints
"ok: ..." or "FAIL: ..."; the exit status is non-zero if any failed.

Usage: smtp_raw.py SCENARIO [--host 198.18.0.2] [--port N] [--timeout S]
       [--fail-at STAGE --fail-code C [--fail-enh X.Y.Z]]   (scenario txn)
"""
import argparse
import socket
import ssl
import time

import labclient as lc
import smtp_util as su
from smtp_util import expect, check, bad, ok, say

A = None


def conn(port=None, implicit_tls=False, timeout=None):
    return su.Client(A.host, port or A.port, timeout=timeout or 10.0, implicit_tls=implicit_tls)


def greet(c, what="greeting"):
    r = c.reply()
    expect(r, 220, what="%s" % what)
    return r


def ehlo(c, name="client.example"):
    r = c.cmd("EHLO " + name)
    expect(r, 250, what="EHLO " + name)
    return r


def quit_(c):
    try:
        r = c.cmd("QUIT", timeout=5)
        expect(r, 221, what="QUIT")
    except (su.Closed, socket.timeout) as e:
        bad("QUIT: no 221 (%s)" % e)
    c.close()


def starttls(c, what="STARTTLS"):
    r = c.cmd("STARTTLS")
    if not expect(r, 220, "2.0.0", what=what):
        return False
    c.start_tls()
    ok("%s: TLS handshake done (%s, %s)" % (what, c.sock.version(), c.sock.cipher()[0]))
    return True


def replies_until_close(c, secs):
    """All replies the server sends until it closes (or secs pass)."""
    out = []
    deadline = time.monotonic() + secs
    closed = False
    while time.monotonic() < deadline:
        try:
            out.append(c.reply(timeout=max(0.05, deadline - time.monotonic())))
        except su.Closed:
            closed = True
            break
        except socket.timeout:
            break
    return out, closed


# ---- STARTTLS edge cases ----

def sc_starttls_edge():
    # 1. STARTTLS with a parameter
    c = conn()
    greet(c)
    r = ehlo(c)
    check("STARTTLS" in [l.upper() for l in r.lines], "EHLO on 25 offers STARTTLS", r.text)
    expect(c.cmd("STARTTLS now"), 501, "5.5.4", what="STARTTLS with a parameter")
    # the session is still in plaintext and usable
    expect(c.cmd("NOOP"), 250, what="NOOP after the refused STARTTLS")
    quit_(c)

    # 2. plaintext pipelined after STARTTLS in the same packet is discarded
    c = conn()
    greet(c)
    ehlo(c)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<x@y>\r\n")
    r = c.reply()
    expect(r, 220, "2.0.0", what="STARTTLS + pipelined RSET, MAIL in one packet")
    if c.buf:
        bad("plaintext after the 220: %r" % c.buf)
        c.buf = b""
    try:
        c.start_tls()
        ok("TLS handshake after the injected commands (%s)" % c.sock.version())
        check(c.quiet(1.0), "no reply inside TLS to the injected RSET/MAIL (1 s)",
              "got %r" % c.buf[:200])
        c.buf = b""
        r = c.cmd("EHLO client.example")
        expect(r, 250, what="EHLO inside TLS after the injection")
        check(r.lines[0].startswith("mx.lab.example"), "that 250 is the EHLO reply", r.text)
        check("STARTTLS" not in [l.upper() for l in r.lines], "no STARTTLS offered inside TLS", r.text)
        # had MAIL FROM:<x@y> run, this MAIL would be "nested"
        expect(c.cmd("MAIL FROM:<a@example.org>"), 250, what="MAIL inside TLS (the injected MAIL did not run)")
        expect(c.cmd("RSET"), 250, what="RSET")
        # 3. STARTTLS again inside TLS
        expect(c.cmd("STARTTLS"), 503, what="second STARTTLS inside TLS")
        quit_(c)
    except (ssl.SSLError, OSError, su.Closed) as e:
        bad("TLS after STARTTLS with injected plaintext: %s" % e)
        c.close()

    # 4. submission (587): STARTTLS required, and EHLO again after it
    c = conn(port=587)
    greet(c, "greeting on 587")
    r = ehlo(c)
    check("STARTTLS" in [l.upper() for l in r.lines], "EHLO on 587 offers STARTTLS", r.text)
    expect(c.cmd("MAIL FROM:<a@example.org>"), 530, "5.7.0", "Must issue a STARTTLS command first",
           what="MAIL before STARTTLS on 587")
    if starttls(c, "STARTTLS on 587"):
        expect(c.cmd("MAIL FROM:<a@example.org>"), 503, "5.5.1", what="MAIL right after the handshake (no EHLO)")
        ehlo(c)
        expect(c.cmd("MAIL FROM:<a@example.org>"), 250, what="MAIL after EHLO inside TLS on 587")
        expect(c.cmd("RCPT TO:<b@lab.example>"), 250, what="RCPT on 587")
        expect(c.cmd("DATA"), 354, what="DATA on 587")
        r = c.cmd("Subject: submission\r\nMessage-ID: <submission-587@client.example>\r\n\r\nvia 587\r\n.")
        expect(r, 250, what="end of DATA on 587")
    quit_(c)


# ---- SMTP smuggling ----

SMUGGLE = {
    "lf.lf": b"\n.\n",
    "cr.cr": b"\r.\r",
    "crlf.lf": b"\r\n.\n",
    "lf.crlf": b"\n.\r\n",
}


def smuggle_once(name, seq, tls=False):
    c = conn()
    greet(c)
    ehlo(c)
    if tls and not starttls(c):
        c.close()
        return
    if tls:
        ehlo(c)
    what = "smuggling %s%s" % (name, " (TLS)" if tls else "")
    expect(c.cmd("MAIL FROM:<a@example.org>"), 250, what=what + ": MAIL")
    expect(c.cmd("RCPT TO:<b@lab.example>"), 250, what=what + ": RCPT")
    expect(c.cmd("DATA"), 354, what=what + ": DATA")
    body = (b"Subject: smuggle carrier " + name.encode() + b"\r\n"
            b"Message-ID: <carrier-" + name.encode() + b"@client.example>\r\n\r\nhello" + seq +
            b"MAIL FROM:<admin@lab.example>\r\nRCPT TO:<b@lab.example>\r\nDATA\r\n"
            b"Subject: smuggled " + name.encode() + b"\r\n"
            b"Message-ID: <smuggled-" + name.encode() + b"@client.example>\r\n\r\nevil\r\n.\r\n")
    c.send(body)
    reps, closed = replies_until_close(c, 5.0)
    codes = [r.code for r in reps]
    check(any(r.code == 521 and r.lines[-1].startswith("5.5.2") for r in reps),
          what + ": 521 5.5.2", " ".join(r.text for r in reps) or "no reply")
    check(not any(200 <= r.code < 400 for r in reps), what + ": no 2xx/3xx after the smuggling attempt",
          str(codes))
    check(closed, what + ": connection closed")
    c.close()


def sc_smuggling():
    for name, seq in SMUGGLE.items():
        smuggle_once(name, seq)
    smuggle_once("lf.lf", SMUGGLE["lf.lf"], tls=True)
    # bare LF ending a command line
    c = conn()
    greet(c)
    ehlo(c)
    c.send(b"MAIL FROM:<a@example.org>\nRCPT TO:<b@lab.example>\r\n")
    reps, closed = replies_until_close(c, 5.0)
    check(any(r.code == 521 and r.lines[-1].startswith("5.5.2") for r in reps),
          "bare LF after MAIL: 521 5.5.2", " ".join(r.text for r in reps) or "no reply")
    check(not any(200 <= r.code < 400 for r in reps), "bare LF after MAIL: the command was not executed",
          str([r.code for r in reps]))
    check(closed, "bare LF after MAIL: connection closed")
    c.close()
    # bare LF in the very first command
    c = conn()
    greet(c)
    c.send(b"EHLO client.example\n")
    reps, closed = replies_until_close(c, 5.0)
    check(any(r.code == 521 for r in reps) and not any(r.code == 250 for r in reps),
          "bare LF after EHLO: 521 and no 250", " ".join(r.text for r in reps) or "no reply")
    check(closed, "bare LF after EHLO: connection closed")
    c.close()


# ---- limits (lab: message_size_limit = 100000, smtpd_timeout_ms = 2000) ----

def tx(c, what, rcpt="b@lab.example"):
    expect(c.cmd("MAIL FROM:<a@example.org>"), 250, what=what + ": MAIL")
    expect(c.cmd("RCPT TO:<%s>" % rcpt), 250, what=what + ": RCPT")
    return expect(c.cmd("DATA"), 354, what=what + ": DATA")


def sc_limits():
    # command line over 512 octets
    c = conn()
    greet(c)
    ehlo(c)
    expect(c.cmd("NOOP " + "x" * 600), 500, "5.5.2", what="command line of 607 octets")
    expect(c.cmd("MAIL FROM:<" + "a" * 520 + "@example.org>"), 500, "5.5.2", what="MAIL line of 545 octets")
    expect(c.cmd("NOOP"), 250, what="NOOP after the long lines (session goes on)")
    # exactly 512 octets is fine (RFC 5321 4.5.3.1.4): "NOOP " + 505 + CRLF
    r = c.cmd("NOOP " + "y" * 505)
    check(r.code != 500, "command line of exactly 512 octets is not 'too long'", r.text)

    # DATA text lines over 1000 octets: taken whole and passed on as Postfix's
    # smtpd takes them (the backend has its say): one of 1202 octets, one of
    # 41,001 with a "." where mxgate's line buffer fills (octet 999), one of
    # 1,503 starting with a dot (stuffed on the wire). --long-body FILE: the
    # message as sent, for smtp_dump.py one --body.
    msg = (b"Subject: long lines\r\nMessage-ID: <longline@client.example>\r\n\r\nshort\r\n" +
           b"L" * 1200 + b"\r\n" + b"M" * 998 + b"." + b"N" * 40000 + b"\r\n" +
           b"." + b"P" * 1500 + b"\r\nafter\r\n")
    if A.long_body:
        with open(A.long_body, "wb") as f:
            f.write(msg)
    tx(c, "long text lines")
    c.send(msg.replace(b"\r\n.", b"\r\n.."))
    check(c.quiet(0.5), "no reply before the end of DATA despite the long lines", repr(c.buf[:100]))
    expect(c.cmd("."), 250, what="end of DATA with lines of 1202, 41001 and 1503 octets")
    # the same session delivers the next message too (exactly once)
    tx(c, "good message after the long one")
    expect(c.cmd("Subject: after long\r\nMessage-ID: <afterlong@client.example>\r\n\r\nfine\r\n."), 250,
           what="end of DATA of the good message")

    # SIZE= over the limit
    expect(c.cmd("MAIL FROM:<a@example.org> SIZE=150000"), 552, "5.3.4", what="MAIL SIZE=150000 (limit 100000)")
    r = c.cmd("MAIL FROM:<a@example.org> SIZE=50000")
    expect(r, 250, what="MAIL SIZE=50000")
    c.cmd("RSET")

    # a 150 KB body without SIZE: 552 at the end of DATA, nothing delivered
    tx(c, "150 KB body")
    line = b"B" * 98 + b"\r\n"
    c.send(b"Subject: big\r\nMessage-ID: <toobig@client.example>\r\n\r\n" + line * 1500)
    r = c.cmd(".", timeout=20)
    expect(r, 552, "5.3.4", what="end of DATA of a 150 KB message (limit 100000)")
    expect(c.cmd("NOOP"), 250, what="NOOP after the 552 (session goes on)")
    quit_(c)

    # 101 recipients: the 101st gets 452 4.5.3
    c = conn()
    greet(c)
    ehlo(c)
    expect(c.cmd("MAIL FROM:<a@example.org>"), 250, what="MAIL for 101 recipients")
    codes = []
    last = None
    for i in range(101):
        last = c.cmd("RCPT TO:<r%d@lab.example>" % i)
        codes.append(last.code)
    check(codes[:100] == [250] * 100, "recipients 1..100 accepted", str(sorted(set(codes[:100]))))
    expect(last, 452, "4.5.3", what="recipient 101")
    expect(c.cmd("RSET"), 250, what="RSET after 101 recipients")
    quit_(c)

    # 20 bad commands (smtpd_hard_error_limit, as Postfix): 421 4.7.0 and close
    c = conn()
    greet(c)
    ehlo(c)
    got421 = None
    n = 0
    for n in range(1, 22):
        try:
            c.send("BOGUS%d\r\n" % n)
            r = c.reply(timeout=5)
            if r.code == 421:
                got421 = r
                break
            if r.code == 500:
                # the 421 may follow the 20th 500 at once
                if n >= 20:
                    r2 = c.reply(timeout=2)
                    if r2.code == 421:
                        got421 = r2
                        break
                continue
            bad("bad command %d: unexpected %s" % (n, r.text))
        except (su.Closed, socket.timeout) as e:
            bad("bad command %d: %s" % (n, e))
            break
    if got421 is not None:
        expect(got421, 421, "4.7.0", "too many errors", what="after %d bad commands" % n)
        check(n <= 21, "421 after at most 20 bad commands (+1)", "after %d" % n)
    else:
        bad("no 421 after %d bad commands" % n)
    check(c.closed(5.0), "connection closed after the 421")
    c.close()

    # command timeout: smtpd_timeout_ms = 2000, client silent for 3 s
    c = conn()
    greet(c)
    t0 = time.monotonic()
    try:
        r = c.reply(timeout=4.0)
        dt = time.monotonic() - t0
        expect(r, 421, "4.4.2", what="silent client after %.1f s" % dt)
        check(1.5 <= dt <= 3.5, "the 421 came after about 2 s", "%.2f s" % dt)
    except (su.Closed, socket.timeout) as e:
        bad("silent client: no 421 within 4 s (%s)" % e)
    check(c.closed(3.0), "connection closed after the timeout")
    c.close()


def sc_pregreet():
    # lab: smtpd_greet_delay_ms = 1500; the client talks at once
    c = conn()
    c.send(b"EHLO client.example\r\n")
    reps, closed = replies_until_close(c, 5.0)
    check(any(r.code == 554 and r.lines[-1].startswith("5.5.1") for r in reps),
          "EHLO before the greeting: 554 5.5.1", " ".join(r.text for r in reps) or "no reply")
    check(not any(r.code in (220, 250) for r in reps), "no greeting and no EHLO reply for the pregreeter",
          " ".join(r.text for r in reps))
    check(closed, "pregreeter disconnected")
    c.close()
    # a patient client gets the greeting after the delay and is served
    t0 = time.monotonic()
    c = conn()
    r = c.reply(timeout=5)
    dt = time.monotonic() - t0
    expect(r, 220, what="greeting for a patient client")
    check(dt >= 1.3, "the greeting waited for smtpd_greet_delay_ms", "%.2f s" % dt)
    ehlo(c)
    quit_(c)


# ---- one transaction against a failing backend ----

STAGES = ["mail", "rcpt", "data", "dot"]


def sc_txn():
    """MAIL, RCPT, DATA, message, '.'; A.fail_at names the stage that must get
    A.fail_code (a prefix: 4, 5, 451...), every stage before it 250/354; no
    stage may get 250 from fail_at on. With --fail-at none all must succeed."""
    c = conn()
    greet(c)
    ehlo(c)
    if A.tls:
        starttls(c)
        ehlo(c)
    mid = "<%s@client.example>" % (A.msgid or "txn")
    cmds = {
        "mail": ("MAIL FROM:<a@example.org>", 250),
        "rcpt": ("RCPT TO:<b@lab.example>", 250),
        "data": ("DATA", 354),
        "dot": ("Subject: txn\r\nMessage-ID: %s\r\n\r\nbody line\r\n." % mid, 250),
    }
    for st in STAGES:
        line, good = cmds[st]
        try:
            r = c.cmd(line, timeout=A.timeout)
        except su.Closed:
            bad("%s: connection closed without a reply" % st)
            return
        except socket.timeout:
            bad("%s: no reply within %.0f s" % (st, A.timeout))
            return
        say("  %s -> %s" % (st.upper(), r.text))
        if st == A.fail_at:
            expect(r, A.fail_code, A.fail_enh, what="%s with the failing backend" % st.upper())
            check(r.code >= 400, "%s: not accepted" % st.upper(), r.text)
            break
        expect(r, good, what=st.upper())
        if r.code >= 400:
            break
    # after mxgate's own 421 (4.4.2: backend lost mid-transaction) the
    # session must end; otherwise it goes on (RSET, QUIT)
    if r.code == 421 and r.lines[-1].startswith("4.4.2"):
        check(c.closed(5.0), "connection closed after mxgate's 421 4.4.2")
        c.close()
        return
    try:
        r2 = c.cmd("RSET", timeout=10)
        say("  RSET -> %s" % r2.text)
        if r.code == 421:
            say("  note: the session stayed open after the backend's own 421 was relayed")
        expect(r2, 250, what="RSET after the failure")
        expect(c.cmd("QUIT"), 221, what="QUIT")
    except su.Closed as e:
        if r.code == 421:
            ok("closed after the 421 (%s)" % e)
        else:
            bad("session closed after a %d: %s" % (r.code, e))
    except socket.timeout as e:
        bad("no reply to RSET after the backend failure: %s" % e)
    c.close()


SCENARIOS = {
    "starttls_edge": sc_starttls_edge,
    "smuggling": sc_smuggling,
    "limits": sc_limits,
    "pregreet": sc_pregreet,
    "txn": sc_txn,
}


def main():
    global A
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--timeout", type=float, default=15.0, help="per reply, seconds")
    ap.add_argument("--deadline", type=float, default=90.0, help="whole run, seconds")
    ap.add_argument("--fail-at", choices=STAGES + ["none"], default="none")
    ap.add_argument("--fail-code", default="4")
    ap.add_argument("--fail-enh", default=None)
    ap.add_argument("--msgid", default=None)
    ap.add_argument("--tls", action="store_true", help="txn: STARTTLS first")
    ap.add_argument("--long-body", help="limits: write the long-line message as sent here")
    A = ap.parse_args()
    lc.check_addr(A.host)
    lc.watchdog(A.deadline)
    try:
        SCENARIOS[A.scenario]()
    except (su.Closed, socket.timeout, OSError, AssertionError) as e:
        bad("%s: aborted: %s: %s" % (A.scenario, type(e).__name__, e))
    su.finish("smtp_raw %s" % A.scenario)


if __name__ == "__main__":
    main()
