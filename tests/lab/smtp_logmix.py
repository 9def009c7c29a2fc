#!/usr/bin/env python3
"""smtp_logmix.py - a known mix of SMTP sessions for t_log_tools.sh, whose
log stock pflogsumm and fail2ban-regex then read:

  A  one session, two messages (the second to two recipients)
  B  one message after STARTTLS
  C  two recipients outside the RELAY domains: 554 Relay access denied
  D  unknown commands up to the hard error limit: "too many errors"
  E  EHLO and NOOP in one write (improper command pipelining after EHLO),
     then the client goes away: "lost connection after NOOP"
  F  a client that says nothing: "timeout after CONNECT"
  G  AUTH PLAIN with a wrong password after STARTTLS: "SASL PLAIN
     authentication failed"

  smtp_logmix.py --server ADDR --errors N --out FILE.json

Writes what it sent (messages, recipients, bytes, rejects, ...) as JSON.
stdlib only; every read has a timeout; addresses are literals in the lab
ranges (labclient.check_addr)."""
import argparse
import base64
import json
import smtplib
import socket
import ssl
import sys
import time

import labclient as lc

DOMAIN = "lab.example"


def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def message(n, size_pad):
    """A message of exactly known bytes (CRLF lines, no leading dot)."""
    body = "x" * size_pad
    return ("From: s%d@client.example\r\nTo: r@%s\r\nSubject: log mix %d\r\n\r\n%s\r\n"
            % (n, DOMAIN, n, body)).encode()


def raw(server, port=25, timeout=10):
    s = socket.create_connection((server, port), timeout=timeout)
    f = s.makefile("rb")
    return s, f


def reply(f):
    """One (possibly multi-line) reply: its code."""
    while True:
        line = f.readline()
        if not line:
            return None
        if line[3:4] != b"-":
            return int(line[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--errors", type=int, required=True, help="smtpd_hard_error_limit")
    ap.add_argument("--user", default="carol")
    ap.add_argument("--out", required=True)
    ap.add_argument("--idle", type=float, default=30, help="F: wait this long for the timeout")
    a = ap.parse_args()
    lc.check_addr(a.server)
    lc.watchdog(120)
    sent = {"messages": [], "rejects": [], "errors": 0, "lost": 0, "timeouts": 0, "auth_failed": 0,
            "pipelining": 0}

    # A: two messages in one session
    m1, m2 = message(1, 100), message(2, 250)
    with smtplib.SMTP(a.server, 25, local_hostname="client.example", timeout=20) as s:
        r = s.sendmail("s1@client.example", ["a1@" + DOMAIN], m1)
        assert r == {}, r
        sent["messages"].append({"from": "s1@client.example", "to": ["a1@" + DOMAIN], "size": len(m1)})
        r = s.sendmail("s1@client.example", ["a2@" + DOMAIN, "a3@" + DOMAIN], m2)
        assert r == {}, r
        sent["messages"].append({"from": "s1@client.example", "to": ["a2@" + DOMAIN, "a3@" + DOMAIN],
                                 "size": len(m2)})
    # B: one message after STARTTLS
    m3 = message(3, 400)
    with smtplib.SMTP(a.server, 25, local_hostname="client.example", timeout=20) as s:
        s.starttls(context=tls_ctx())
        s.ehlo("client.example")
        r = s.sendmail("s2@client.example", ["b1@" + DOMAIN], m3)
        assert r == {}, r
        sent["messages"].append({"from": "s2@client.example", "to": ["b1@" + DOMAIN], "size": len(m3)})
    # C: relaying denied, twice
    with smtplib.SMTP(a.server, 25, local_hostname="client.example", timeout=20) as s:
        s.ehlo("client.example")
        code, _ = s.mail("s3@client.example")
        assert code == 250, code
        for rcpt in ("x1@other.example", "x2@other.example"):
            code, text = s.rcpt(rcpt)
            assert code == 554 and b"Relay access denied" in text, (code, text)
            sent["rejects"].append(rcpt)
    # D: too many errors
    s, f = raw(a.server)
    assert reply(f) == 220
    s.sendall(b"EHLO client.example\r\n")
    assert reply(f) == 250
    for _ in range(a.errors):
        s.sendall(b"FOO\r\n")
        code = reply(f)
        assert code == 500, code
    code = reply(f)
    assert code == 421, code           # after the last 500: 421 4.7.0 ... too many errors
    f.close()
    s.close()
    sent["errors"] += 1
    # E: EHLO pipelined with NOOP (EHLO ends a pipelining group), then lost connection after NOOP
    s, f = raw(a.server)
    assert reply(f) == 220
    s.sendall(b"EHLO client.example\r\nNOOP\r\n")
    assert reply(f) == 250
    assert reply(f) == 250
    f.close()
    s.close()
    sent["pipelining"] += 1
    sent["lost"] += 1
    # G: a failed AUTH
    with smtplib.SMTP(a.server, 25, local_hostname="client.example", timeout=20) as s:
        s.starttls(context=tls_ctx())
        s.ehlo("client.example")
        assert s.has_extn("auth"), "AUTH not offered after STARTTLS"
        code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(
            b"\0" + a.user.encode() + b"\0wrong-password").decode())
        assert code == 535, code
        sent["auth_failed"] += 1
    # F: silence until the server's timeout (421), then it closes
    s, f = raw(a.server, timeout=a.idle)
    assert reply(f) == 220
    t0 = time.monotonic()
    code = reply(f)
    assert code == 421, code
    sent["timeouts"] += 1
    sent["timeout_after_s"] = round(time.monotonic() - t0, 1)
    f.close()
    s.close()
    with open(a.out, "w") as o:
        json.dump(sent, o)
    print("smtp_logmix: sent %d messages, %d rejects, errors, lost, auth, timeout" %
          (len(sent["messages"]), len(sent["rejects"])))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        sys.stdout.write("smtp_logmix: FAILED: %r\n" % (e,))
        sys.exit(1)
