#!/usr/bin/python3
"""smtp_dump.py - check what smtp-sink stored (its -d dump files) for
messages sent through mxgate.

  smtp_dump.py one --maildir D --match TEXT [--body FILE] [--swaks]
               [--with ESMTPS] [--version TLSv1.3] [--cipher C] [--bits N]
               [--verify NOT] [--rcpt ADDR] [--no-rcpt] [--helo NAME] [--addr IP]
      exactly one dump contains TEXT; mxgate's Received header in it has
      these fields; the stored message equals FILE (the message as sent, CRLF
      lines, before dot-stuffing; --swaks: swaks adds one CRLF at the end).
  smtp_dump.py ids --maildir D --prefix P --count N
      the dumps whose Message-ID starts with P are exactly <P0@client.example>
      .. <P(N-1)@client.example>, each stored once (other dumps are ignored).
  smtp_dump.py count --maildir D [--match TEXT]
      print how many dumps (containing TEXT) there are.
"""
import argparse
import re
import sys

import smtp_util as su
from smtp_util import check, ok, bad


def find(maildir, text):
    t = text.encode()
    out = []
    for p in su.list_dumps(maildir):
        with open(p, "rb") as f:
            if t in f.read():
                out.append(p)
    return out


def cmd_one(a):
    files = su.wait_dumps(a.maildir, 1, a.wait)
    files = find(a.maildir, a.match)
    if not check(len(files) == 1, "exactly one dump holds %r" % a.match,
                 "%d of %d dumps do" % (len(files), len(su.list_dumps(a.maildir)))):
        return
    d = su.Dump(files[0])
    if d.error:
        bad("%s: %s" % (files[0], d.error))
        return
    f = d.fields
    ok("mxgate Received header parses: %s" % d.received.replace("\n", "\\n").replace("\t", "\\t"))
    exp = {"with": a.with_, "version": a.version, "cipher": a.cipher, "bits": a.bits,
           "verify": a.verify, "helo": a.helo, "addr": a.addr, "by": "mx.lab.example", "name": "unknown"}
    if a.rcpt:
        exp["rcpt"] = a.rcpt
    for k, v in exp.items():
        if v is not None:
            check(f.get(k) == v, "Received %s = %s" % (k, v), "got %r" % f.get(k))
    if a.no_rcpt:
        check(f.get("rcpt") is None, "Received has no 'for <...>' clause", "got %r" % f.get("rcpt"))
    if a.with_ in ("ESMTP", "SMTP"):
        check(f.get("version") is None, "no TLS clause without TLS", d.received)
    if a.body:
        with open(a.body, "rb") as fh:
            sent = fh.read()
        if a.swaks:
            sent += b"\r\n"
        want = su.sent_as_stored(sent)
        got = d.message
        if got == want:
            ok("stored message is byte-identical to what was sent (%d bytes)" % len(got))
        else:
            i = su.first_diff(got, want)
            bad("stored message differs at byte %d (stored %d bytes, sent %d): stored %r, sent %r"
                % (i, len(got), len(want), got[max(0, i - 40):i + 40], want[max(0, i - 40):i + 40]))


MSGID_RE = re.compile(rb"^Message-ID: <([^>]*)>$", re.M | re.I)


def cmd_ids(a):
    """The dumps whose Message-ID starts with the prefix (others are ignored)."""
    su.wait_dumps(a.maildir, a.count, a.wait)
    seen = {}
    errors = 0
    pre = a.prefix.encode()
    for p in su.list_dumps(a.maildir):
        d = su.Dump(p)
        if d.error:
            errors += 1
            if errors <= 5:
                bad("%s: %s" % (p, d.error))
            continue
        ids = MSGID_RE.findall(d.message)
        if not any(i.startswith(pre) for i in ids):
            continue
        if len(ids) != 1:
            errors += 1
            if errors <= 5:
                bad("%s: %d Message-ID headers" % (p, len(ids)))
            continue
        seen.setdefault(ids[0].decode(), []).append(p)
    want = {"%s%d@client.example" % (a.prefix, i) for i in range(a.count)}
    got = set(seen)
    dup = sorted(k for k, v in seen.items() if len(v) > 1)
    missing = sorted(want - got)
    extra = sorted(got - want)
    nfiles = sum(len(v) for v in seen.values())
    check(nfiles == a.count, "%d dumps with Message-ID <%s...>" % (a.count, a.prefix), "found %d" % nfiles)
    check(not dup, "no message stored twice", "%d duplicates, e.g. %s" % (len(dup), dup[:5]))
    check(not missing, "every message stored (%d Message-IDs)" % len(want),
          "%d missing, e.g. %s" % (len(missing), missing[:5]))
    check(not extra, "no unexpected message", "%d extra, e.g. %s" % (len(extra), extra[:5]))
    check(errors == 0, "every dump parses", "%d do not" % errors)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cmd", choices=["one", "ids", "count"])
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--match")
    ap.add_argument("--body")
    ap.add_argument("--swaks", action="store_true")
    ap.add_argument("--with", dest="with_")
    ap.add_argument("--version")
    ap.add_argument("--cipher")
    ap.add_argument("--bits")
    ap.add_argument("--verify")
    ap.add_argument("--rcpt")
    ap.add_argument("--no-rcpt", action="store_true")
    ap.add_argument("--helo")
    ap.add_argument("--addr")
    ap.add_argument("--prefix")
    ap.add_argument("--count", type=int)
    ap.add_argument("--wait", type=float, default=5.0, help="seconds to wait for dumps to appear")
    a = ap.parse_args()
    if a.cmd == "count":
        n = len(find(a.maildir, a.match)) if a.match else len(su.list_dumps(a.maildir))
        print(n)
        return 0
    if a.cmd == "one":
        if not a.match:
            ap.error("one needs --match")
        cmd_one(a)
    else:
        if a.prefix is None or a.count is None:
            ap.error("ids needs --prefix and --count")
        cmd_ids(a)
    su.finish("smtp_dump %s" % a.cmd)


if __name__ == "__main__":
    sys.exit(main())
