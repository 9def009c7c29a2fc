#!/usr/bin/env python3
"""smtp_auth.py - one SMTP AUTH session against mxgate with Python's smtplib.

Prints one JSON object: the EHLO keywords before and after TLS, the reply to
AUTH (code, text, seconds it took), and, with --to, the replies to the
message. Used by t_smtp_auth.sh as the second real client next to swaks
(smtplib implements AUTH PLAIN and LOGIN itself).

  smtp_auth.py --server 198.18.0.2 --port 25|587|465 --user U --password P
               [--mech PLAIN|LOGIN] [--plain-auth] [--to ADDR] [--source ADDR]
               [--tries N [--go-file PATH]]

--plain-auth tries AUTH before STARTTLS (it must be refused with 538).
--source binds the client to one of the namespace's addresses (several
client addresses or IPv6 /64s from one namespace).
--tries N sends AUTH again in the same session while it is answered 454, at
most N times ("tries": every reply; "auth": the last); with --go-file, the
last try waits until PATH exists (the test says when).
Lab only: refuses servers and sources outside 198.18.0.0/15 and 2001:2::/48.
"""
import argparse
import base64
import ipaddress
import json
import os
import smtplib
import ssl
import sys
import time


def lab_addr(a):
    ip = ipaddress.ip_address(a)
    if not any(ip in ipaddress.ip_network(n) for n in ("198.18.0.0/15", "2001:2::/48")):
        raise SystemExit("smtp_auth: %s is not a lab address" % a)
    return a


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", type=lab_addr, required=True)
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--mech", default="PLAIN", choices=("PLAIN", "LOGIN"))
    ap.add_argument("--plain-auth", action="store_true")
    ap.add_argument("--to")
    ap.add_argument("--source", type=lab_addr)
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--tries", type=int, default=1)
    ap.add_argument("--go-file")
    a = ap.parse_args()

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    out = {}
    src = (a.source, 0) if a.source else None
    if a.port == 465:
        s = smtplib.SMTP_SSL(a.server, a.port, timeout=a.timeout, context=ctx, source_address=src)
        s.ehlo("client.example")
    else:
        s = smtplib.SMTP(a.server, a.port, timeout=a.timeout, source_address=src)
        s.ehlo("client.example")
        out["ehlo_plain"] = sorted(s.esmtp_features)
        out["auth_plain"] = s.esmtp_features.get("auth")
        if a.plain_auth:
            code, text = s.docmd("AUTH", "PLAIN " + base64.b64encode(
                b"\0" + a.user.encode() + b"\0" + a.password.encode()).decode())
            out["auth_before_tls"] = [code, text.decode(errors="replace")]
        s.starttls(context=ctx)
        s.ehlo("client.example")
    out["ehlo_tls"] = sorted(s.esmtp_features)
    out["auth_tls"] = s.esmtp_features.get("auth")
    s.user, s.password = a.user, a.password      # what smtplib's auth_plain/auth_login send
    tries = []
    for k in range(max(a.tries, 1)):
        if a.go_file and k > 0 and k == a.tries - 1:
            t0 = time.monotonic()
            while not os.path.exists(a.go_file) and time.monotonic() - t0 < a.timeout:
                time.sleep(0.02)
        t0 = time.monotonic()
        try:
            if a.mech == "LOGIN":
                code, text = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
            else:
                code, text = s.auth("PLAIN", s.auth_plain)
        except smtplib.SMTPAuthenticationError as e:
            code, text = e.smtp_code, e.smtp_error
        except smtplib.SMTPException as e:
            code, text = -1, str(e).encode()
        tries.append([code, text.decode(errors="replace") if isinstance(text, bytes) else text,
                      round(time.monotonic() - t0, 3)])
        if code != 454:
            break
    out["auth"] = tries[-1]
    if a.tries > 1:
        out["tries"] = tries
    if a.to:
        try:
            refused = s.sendmail("a@client.example", [a.to],
                                 "Subject: auth test\r\n\r\nsent after AUTH %s\r\n" % a.mech)
            out["sendmail"] = [250, "ok", refused]
        except smtplib.SMTPRecipientsRefused as e:
            out["sendmail"] = [list(e.recipients.values())[0][0], "refused",
                               list(e.recipients.values())[0][1].decode(errors="replace")]
        except smtplib.SMTPException as e:
            out["sendmail"] = [-1, str(e), None]
    try:
        s.quit()
    except smtplib.SMTPException:
        pass
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
