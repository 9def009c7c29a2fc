#!/usr/bin/env python3
"""smtp_hold.py - open N STARTTLS sessions to the lab's mxgate, report each
server certificate's fingerprint, wait until --go FILE exists, then send one
message on every session and report how many were accepted. Bounded by
--timeout. Lab only (198.18.0.2)."""
import argparse
import hashlib
import os
import smtplib
import ssl
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--go", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    deadline = time.time() + a.timeout
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sessions, prints = [], set()
    for i in range(a.count):
        s = smtplib.SMTP("198.18.0.2", 25, local_hostname="client.example", timeout=20)
        s.starttls(context=ctx)
        s.ehlo("client.example")
        prints.add(hashlib.sha256(s.sock.getpeercert(binary_form=True)).hexdigest()[:16])
        sessions.append(s)
    print("hold: %d sessions open, certificate %s" % (len(sessions), ",".join(sorted(prints))), flush=True)
    while not os.path.exists(a.go):
        if time.time() > deadline:
            sys.exit("hold: FAIL no go signal")
        time.sleep(0.1)
    ok = 0
    for i, s in enumerate(sessions):
        try:
            s.sendmail("a@client.example", ["b@lab.example"],
                       "Subject: held %d\r\nMessage-ID: <held-%d@client.example>\r\n\r\nheld %d\r\n" % (i, i, i))
            s.quit()
            ok += 1
        except (smtplib.SMTPException, OSError) as e:
            print("hold: session %d: %s" % (i, e))
    print("hold: %d of %d delivered after the rotation" % (ok, len(sessions)))
    return 0 if ok == len(sessions) else 1


if __name__ == "__main__":
    sys.exit(main())
