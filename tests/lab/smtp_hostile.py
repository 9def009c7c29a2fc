#!/usr/bin/python3
"""smtp_hostile.py - clients that misbehave the way strangers do, for the
reliability tests. Each scenario checks what mxgate answered and exits
non-zero on any failed check (smtp_util's ok/FAIL lines).

  one --msgid ID --expect CODE [--final-timeout S]
      one plain message; the final reply (after the dot) must start with
      CODE (250, 451, ...). Waits --final-timeout for it, so a slow backend
      is waited for; a 421 before it shows the client timer ran while mxgate
      was waiting for the backend.
  trickle --conns N --interval S --within S [--after-data] [--line TEXT]
      N connections send a command (or, --after-data, message text) one
      byte every S seconds and never end the line; every one must be
      closed by mxgate within --within seconds, with 421 4.4.2.
  idle --within S
      EHLO, then silence: mxgate must say 421 4.4.2 and close within S.
  http
      an HTTP POST whose body is an SMTP transaction: mxgate must answer
      221 2.7.0 to the request line and hang up; nothing is delivered.
  harvest --count N --limit L
      MAIL, then N pipelined RCPTs for unknown users that the backend
      refuses with 550: mxgate must close with 421 4.7.0 after L errors,
      without relaying the rest.
  nul
      a message with a NUL byte in a line: 521 5.5.2 and close.
  noop --count N --limit L
      N pipelined NOOPs: the first L are answered 250, then mxgate closes
      with 421 4.7.0 (smtpd_junk_command_limit, then the error limit).
  forgery
      a HELO name shaped like our Received comment, and a message whose
      first line starts with white space (a forged continuation of our
      Received header), bare and behind a transparency dot: the messages
      are accepted; the shell test reads
      what the backend stored.
  close_notify
      on 465: EHLO, MAIL, then a TLS close_notify without a TCP FIN:
      mxgate must close within --within seconds, as after a FIN.
  utf8
      a UTF-8 sender, then a UTF-8 recipient, in transactions without
      SMTPUTF8: 553 5.6.7 each (RFC 6531 3.4); the same addresses in a
      transaction with SMTPUTF8 are relayed, and its message delivered;
      then MAIL and RCPT with addresses without brackets get the backend's 250.

Lab only: address literals in the benchmarking ranges (labclient), every
read with a timeout, a watchdog on the whole run.
"""
import argparse
import os
import socket
import time

import labclient as lc
import smtp_util as su
from smtp_util import check, ok, say


def session_to_rcpt(c, rcpt="b@lab.example"):
    """Banner, EHLO, MAIL, one RCPT (each must be accepted)."""
    su.expect(c.reply(), 220, what="banner")
    su.expect(c.cmd("EHLO client.example"), 250, what="EHLO")
    su.expect(c.cmd("MAIL FROM:<a@client.example>"), 250, what="MAIL")
    su.expect(c.cmd("RCPT TO:<%s>" % rcpt), 250, what="RCPT")


def one(a):
    """One message; its final reply must be a.expect."""
    c = su.Client(a.host, a.port, timeout=a.final_timeout)
    session_to_rcpt(c)
    su.expect(c.cmd("DATA"), 354, what="DATA")
    c.send("Message-ID: <%s@client.example>\r\nSubject: %s\r\n\r\nbody\r\n.\r\n" % (a.msgid, a.msgid))
    t0 = time.monotonic()
    try:
        r = c.reply(a.final_timeout)
    except (su.Closed, socket.timeout) as e:
        su.bad("no reply to the final dot: %s" % e)
        return
    say("final reply after %.1f s: %s" % (time.monotonic() - t0, r.text))
    su.expect(r, a.expect, what="end of DATA")
    if r.code < 400:
        su.expect(c.cmd("QUIT"), 221, what="QUIT")
    c.close()


def trickle(a):
    """Slowloris: a byte at a time, a line never ended; mxgate must close each in time."""
    conns = []
    for i in range(a.conns):
        c = su.Client(a.host, a.port, timeout=10)
        if a.after_data:
            session_to_rcpt(c)
            su.expect(c.cmd("DATA"), 354, what="DATA %d" % i)
        else:
            su.expect(c.reply(), 220, what="banner %d" % i)
        conns.append(c)
    text = (a.line or ("Subject: slow" if a.after_data else "NOOP")).encode() * 1000
    start = time.monotonic()
    closed_at = {}
    pos = 0
    while len(closed_at) < len(conns) and time.monotonic() - start < a.within:
        for i, c in enumerate(conns):
            if i in closed_at:
                continue
            try:
                c.send(text[pos:pos + 1])
            except OSError:
                closed_at[i] = time.monotonic() - start
                continue
            if c.closed(0.02):
                closed_at[i] = time.monotonic() - start
        pos += 1
        time.sleep(a.interval)
    check(len(closed_at) == len(conns), "all %d trickling sessions were closed within %.0f s" %
          (len(conns), a.within), "%d closed" % len(closed_at))
    if closed_at:
        say("closed after %.1f..%.1f s" % (min(closed_at.values()), max(closed_at.values())))
    for i, c in enumerate(conns):
        if i in closed_at:
            check(b"421 4.4.2" in c.buf, "session %d got 421 4.4.2 before the close" % i,
                  repr(c.buf[-200:]))
        c.close()


def idle(a):
    """A client that says EHLO and nothing more is timed out."""
    c = su.Client(a.host, a.port, timeout=10)
    su.expect(c.reply(), 220, what="banner")
    su.expect(c.cmd("EHLO client.example"), 250, what="EHLO")
    t0 = time.monotonic()
    try:
        r = c.reply(a.within)
    except (su.Closed, socket.timeout) as e:
        su.bad("no 421 within %.0f s: %s" % (a.within, e))
        return
    say("reply after %.1f s of silence: %s" % (time.monotonic() - t0, r.text))
    su.expect(r, 421, "4.4.2", what="idle")
    check(c.closed(5.0), "mxgate hung up")
    c.close()


def http(a):
    """An HTTP POST carrying an SMTP transaction in its body."""
    body = ("MAIL FROM:<spam@client.example>\r\nRCPT TO:<b@lab.example>\r\nDATA\r\n"
            "Subject: via http\r\n\r\nhttp body\r\n.\r\nQUIT\r\n")
    req = ("POST /submit HTTP/1.1\r\nHost: 198.18.0.2:25\r\nUser-Agent: hostile/1.0\r\n"
           "Accept: */*\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n"
           "Content-Length: %d\r\n\r\n%s" % (len(body), body))
    c = su.Client(a.host, a.port, timeout=10)
    su.expect(c.reply(), 220, what="banner")
    c.send("EHLO client.example\r\n" + req)
    su.expect(c.reply(), 250, what="EHLO")
    su.expect(c.reply(), 221, "2.7.0", what="POST line")
    check(c.closed(5.0), "mxgate hung up after the POST line")
    check(b"354" not in c.buf and b"250 2.1" not in c.buf, "no SMTP command of the body ran",
          repr(c.buf[:300]))
    c.close()


def harvest(a):
    """Pipelined RCPTs for unknown users: the backend's 550s count as errors."""
    c = su.Client(a.host, a.port, timeout=15)
    su.expect(c.reply(), 220, what="banner")
    su.expect(c.cmd("EHLO client.example"), 250, what="EHLO")
    su.expect(c.cmd("MAIL FROM:<a@client.example>"), 250, what="MAIL")
    c.send("".join("RCPT TO:<unknown%d@lab.example>\r\n" % i for i in range(a.count)))
    n550 = 0
    last = None
    try:
        while True:
            r = c.reply(15)
            last = r
            if r.code == 550:
                n550 += 1
            elif r.code == 421:
                break
            else:
                su.bad("unexpected reply %s" % r.text)
                break
    except (su.Closed, socket.timeout) as e:
        su.bad("no 421 before the end: %s (after %d refusals)" % (e, n550))
    say("%d recipients refused before the close" % n550)
    check(last is not None and last.code == 421 and "too many errors" in last.text.lower(),
          "421 too many errors", last.text if last else "")
    check(n550 == a.limit, "closed after exactly %d refusals (smtpd_hard_error_limit)" % a.limit,
          "%d" % n550)
    check(c.closed(5.0), "mxgate hung up")
    c.close()


def nul(a):
    """A NUL byte inside DATA: refused like a bare CR or LF."""
    c = su.Client(a.host, a.port, timeout=10)
    session_to_rcpt(c)
    su.expect(c.cmd("DATA"), 354, what="DATA")
    c.send(b"Subject: nul\r\n\r\nbefore\x00after\r\n.\r\n")
    su.expect(c.reply(), 521, "5.5.2", text="NUL", what="NUL line")
    check(c.closed(5.0), "mxgate hung up")
    c.close()


def noop(a):
    """A client that only idles with NOOP uses up its errors."""
    c = su.Client(a.host, a.port, timeout=15)
    su.expect(c.reply(), 220, what="banner")
    su.expect(c.cmd("EHLO client.example"), 250, what="EHLO")
    c.send("NOOP\r\n" * a.count)
    n = 0
    last = None
    try:
        while True:
            last = c.reply(15)
            if last.code != 250:
                break
            n += 1
    except (su.Closed, socket.timeout) as e:
        su.bad("no 421 after %d NOOPs: %s" % (n, e))
    check(last is not None and last.code == 421, "421 after the NOOPs", last.text if last else "")
    check(n == a.limit, "%d NOOPs answered before the close" % a.limit, "%d" % n)
    check(c.closed(5.0), "mxgate hung up")
    c.close()


def forgery(a):
    """A forged Received comment in the HELO name and in a folded first line."""
    c = su.Client(a.host, a.port, timeout=15)
    su.expect(c.reply(), 220, what="banner")
    su.expect(c.cmd("EHLO x (forged.example [10.0.0.1])"), 250, what="EHLO")
    su.expect(c.cmd("MAIL FROM:<a@client.example>"), 250, what="MAIL")
    su.expect(c.cmd("RCPT TO:<b@lab.example>"), 250, what="RCPT")
    su.expect(c.cmd("DATA"), 354, what="DATA")
    c.send(" (Authenticated sender: ceo@lab.example)\r\n\tby trusted.lab.example with ESMTPSA\r\n"
           "Message-ID: <%s@client.example>\r\nSubject: forgery\r\n\r\nbody\r\n.\r\n" % a.msgid)
    su.expect(c.reply(), 250, what="the message")
    # the same behind a transparency dot: the backend takes the dot off
    su.expect(c.cmd("MAIL FROM:<a@client.example>"), 250, what="MAIL (dot)")
    su.expect(c.cmd("RCPT TO:<b@lab.example>"), 250, what="RCPT (dot)")
    su.expect(c.cmd("DATA"), 354, what="DATA (dot)")
    c.send(". (Authenticated sender: cfo@lab.example)\r\n"
           "Message-ID: <%s-dot@client.example>\r\nSubject: forgery\r\n\r\nbody\r\n.\r\n" % a.msgid)
    su.expect(c.reply(), 250, what="the message (dot)")
    su.expect(c.cmd("QUIT"), 221, what="QUIT")
    c.close()


def close_notify(a):
    """TLS close_notify without a FIN ends the session like a FIN."""
    c = su.Client(a.host, 465, timeout=15, implicit_tls=True)
    su.expect(c.reply(), 220, what="banner")
    su.expect(c.cmd("EHLO client.example"), 250, what="EHLO")
    su.expect(c.cmd("MAIL FROM:<a@client.example>"), 250, what="MAIL")
    raw = socket.socket(fileno=os.dup(c.sock.fileno()))
    c.sock.settimeout(0.5)
    try:
        c.sock.unwrap()          # close_notify; mxgate's own may or may not come in time
    except (OSError, ValueError):
        pass
    t0 = time.monotonic()
    raw.settimeout(a.within)
    gone = False
    try:
        while raw.recv(4096):
            pass
        gone = True
    except ConnectionResetError:
        gone = True
    except socket.timeout:
        pass
    check(gone, "mxgate closed after the close_notify", "still open after %.0f s" % a.within)
    ok("closed %.1f s after the close_notify" % (time.monotonic() - t0))
    raw.close()


def utf8(a):
    """UTF-8 addresses: refused unless the transaction declared SMTPUTF8."""
    c = su.Client(a.host, a.port, timeout=15)
    su.expect(c.reply(), 220, what="banner")
    r = c.cmd("EHLO client.example")
    su.expect(r, 250, what="EHLO")
    check("SMTPUTF8" in r.text, "SMTPUTF8 offered", r.text)
    su.expect(c.cmd("MAIL FROM:<j\u00f6rg@client.example>"), 553, "5.6.7", what="undeclared UTF-8 sender")
    su.expect(c.cmd("MAIL FROM:<a@client.example> BODY=8BITMIME"), 250, what="MAIL")
    su.expect(c.cmd("RCPT TO:<\u00e9@lab.example>"), 553, "5.6.7", what="undeclared UTF-8 recipient")
    su.expect(c.cmd("RSET"), 250, what="RSET")
    su.expect(c.cmd("MAIL FROM:<j\u00f6rg@client.example> SMTPUTF8"), 250, what="declared UTF-8 sender")
    su.expect(c.cmd("RCPT TO:<\u00e9@lab.example>"), 250, what="declared UTF-8 recipient")
    su.expect(c.cmd("DATA"), 354, what="DATA")
    c.send("Message-ID: <%s@client.example>\r\nSubject: caf\u00e9\r\n\r\nbody\r\n.\r\n" % a.msgid)
    su.expect(c.reply(), 250, what="the message")
    # addresses without brackets, as broken clients send them (Postfix takes them)
    su.expect(c.cmd("MAIL FROM:a@client.example"), 250, what="MAIL without brackets")
    su.expect(c.cmd("RCPT TO: b@lab.example"), 250, what="RCPT without brackets")
    su.expect(c.cmd("RSET"), 250, what="RSET")
    su.expect(c.cmd("QUIT"), 221, what="QUIT")
    c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", choices=["one", "idle", "trickle", "http", "harvest", "nul", "noop", "utf8", "forgery", "close_notify"])
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--msgid", default="hostile")
    ap.add_argument("--expect", default="250")
    ap.add_argument("--final-timeout", type=float, default=30)
    ap.add_argument("--conns", type=int, default=5)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--within", type=float, default=20)
    ap.add_argument("--after-data", action="store_true")
    ap.add_argument("--line")
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--deadline", type=float, default=120)
    a = ap.parse_args()
    lc.watchdog(a.deadline)
    try:
        globals()[a.scenario](a)
    except (su.Closed, socket.timeout, OSError) as e:
        su.bad("%s: %s" % (a.scenario, e))
    su.finish("smtp_hostile " + a.scenario)


if __name__ == "__main__":
    main()
