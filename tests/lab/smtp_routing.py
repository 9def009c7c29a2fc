#!/usr/bin/env python3
"""smtp_routing.py - one SMTP session for t_policy_routing.sh: quoted local
parts and sender-specified routing (u%evil@ours, "u@evil"@ours, evil!u@ours)
against the access map (To:lab.example RELAY, To:victim@lab.example REJECT,
From:bad@good.example REJECT).

--relay no:  a client not allowed to relay: quoted forms of the rejected
             users are rejected as the plain ones, routed recipients get
             554 5.7.1 Relay access denied, the rest is accepted and one
             message goes to the backend.
--relay yes: a client with Connect: RELAY: the routed recipients are
             accepted (relayed verbatim), the To:/From: rejections stay.

Prints ok:/FAIL: lines; exits 1 if any check failed.
"""
import argparse

import smtp_util as su

ROUTED = [
    "<u%evil.example@lab.example>",
    '<"v@evil.example"@lab.example>',
    "<evil.example!w@lab.example>",
    '<"u%evil.example"@lab.example>',
    "<U%EVIL.EXAMPLE@LAB.EXAMPLE>",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--relay", choices=("yes", "no"), required=True)
    ap.add_argument("--tag", default="routing")
    a = ap.parse_args()
    relay = a.relay == "yes"

    c = su.Client(a.host, a.port, timeout=15)
    su.expect(c.reply(), 220, what="banner")
    su.expect(c.cmd("EHLO client.example"), 250, what="EHLO")
    # From: bad@good.example REJECT, in every spelling of that mailbox
    for f in ("<bad@good.example>", '<"bad"@good.example>', '<"b\\ad"@good.example>',
              '<"BAD"@Good.Example>'):
        su.expect(c.cmd("MAIL FROM:%s" % f), 550, "5.7.1", "Access denied", what="MAIL FROM:%s" % f)
    su.expect(c.cmd("MAIL FROM:<a@client.example>"), 250, what="MAIL FROM:<a@client.example>")
    # To: victim@lab.example REJECT, quoted or not
    for t in ("<victim@lab.example>", '<"victim"@lab.example>', '<"Vic\\tim"@lab.example>'):
        su.expect(c.cmd("RCPT TO:%s" % t), 550, "5.2.1", what="RCPT TO:%s" % t)
    if not relay:
        su.expect(c.cmd("RCPT TO:<u@evil.example>"), 554, "5.7.1", "Relay access denied",
                  what="RCPT TO:<u@evil.example>")
    for t in ROUTED:
        r = c.cmd("RCPT TO:%s" % t)
        if relay:
            su.expect(r, 250, what="RCPT TO:%s (Connect: RELAY)" % t)
        else:
            su.expect(r, 554, "5.7.1", "%s: Relay access denied" % t, what="RCPT TO:%s" % t)
    su.expect(c.cmd("RCPT TO:<good@lab.example>"), 250, what="RCPT TO:<good@lab.example>")
    su.expect(c.cmd('RCPT TO:<"quoted.ok"@lab.example>'), 250, what='RCPT TO:<"quoted.ok"@lab.example>')
    su.expect(c.cmd("DATA"), 354, what="DATA")
    su.expect(c.cmd("Subject: %s\r\n\r\npolicy routing %s\r\n." % (a.tag, a.tag), timeout=30), 250,
              what="end of DATA")
    su.expect(c.cmd("QUIT"), 221, what="QUIT")
    c.close()
    su.finish("smtp_routing --relay %s" % a.relay)


if __name__ == "__main__":
    main()
