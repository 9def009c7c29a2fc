#!/usr/bin/env python3
"""soak_check.py - the soak's ledger: what the clients were told against what
the backends stored, by Message-ID; prints the totals; exit 1 on a breach.

  soak_check.py --clients FILE... --messages FILE --logs FILE...
                [--backend-faults FILE] [--events FILE]

Rules:
  - every message a client saw accepted (250 to its final dot) is stored
    at a backend exactly once (lost: 0 times; duplicated: more than once);
  - a message stored without a 250 to the client is allowed only if an
    mxgate log says "may have been delivered" for the session that carried
    it (the session id from the Received header mxgate added). Session ids
    start again at each start of mxgate: --logs come in the order of the
    processes, and the "restart mxgate" times of --events, against the date
    of the Received header, say which log speaks for a message;
  - no message is stored twice, whatever the client was told.
Refusals are counted by class (4xx, 5xx) and by the stage that got them;
sessions that ended without a reply (connection refused or reset, timeout)
are counted as errors by reason.
"""
import argparse
import collections
import email.utils
import json
import re
import sys

MID_RE = re.compile(r"^Message-ID: (<[^>]+>)", re.M | re.I)
RCVD_RE = re.compile(r"\(mxgate\) with \S+ id ([0-9A-F]+)[^;]*;\r?\n\t([^\r\n]+)")
MAYBE_RE = re.compile(r"\b([0-9A-F]{10}): .* the message may have been delivered")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", nargs="+", required=True)
    ap.add_argument("--messages", required=True)
    ap.add_argument("--logs", nargs="+", required=True)
    ap.add_argument("--backend-faults")
    ap.add_argument("--events")
    a = ap.parse_args()

    sent = {}
    for f in a.clients:
        with open(f) as fh:
            for ln in fh:
                ln = ln.strip()
                if ln:
                    r = json.loads(ln)
                    sent[r["id"]] = r
    stored = collections.defaultdict(list)   # Message-ID -> [session id]
    unknown = 0
    try:
        with open(a.messages) as fh:
            for ln in fh:
                ln = ln.strip()
                if not ln:
                    continue
                m = json.loads(ln)
                mid = MID_RE.search(m["body"])
                sid = RCVD_RE.search(m["body"])
                if mid is None:
                    unknown += 1
                    continue
                when = None
                if sid:
                    try:
                        when = email.utils.parsedate_to_datetime(sid.group(2)).timestamp()
                    except (TypeError, ValueError):
                        pass
                stored[mid.group(1)].append((sid.group(1), when) if sid else (None, None))
    except FileNotFoundError:
        pass
    maybe = []     # per mxgate process, in order: its sessions that "may have been delivered"
    for f in a.logs:
        ids = set()
        with open(f, errors="replace") as fh:
            for ln in fh:
                m = MAYBE_RE.search(ln)
                if m:
                    ids.add(m.group(1))
        maybe.append(ids)
    restarts = []
    if a.events:
        with open(a.events) as fh:
            restarts = [int(ln.split()[0]) for ln in fh if ln.split()[1:3] == ["restart", "mxgate"]]

    def said_so(sid, when):
        """Did the log of the process that carried session sid say it may have been delivered?"""
        if sid is None:
            return False
        if when is None:
            return any(sid in ids for ids in maybe)
        lo = sum(1 for r in restarts if r < when - 1)   # a second either way: the clocks' resolution
        hi = sum(1 for r in restarts if r <= when + 1)
        return any(sid in maybe[k] for k in range(lo, min(hi, len(maybe) - 1) + 1))

    accepted = [i for i, r in sent.items() if r["code"] == 250]
    lost = [i for i in accepted if i not in stored]
    dups = [i for i, s in stored.items() if len(s) > 1]
    said = []      # stored without a 250, and mxgate said it may have been delivered
    breach = []    # stored without a 250, and nothing said so
    stray = []     # stored, never sent by these clients
    for i, sids in stored.items():
        r = sent.get(i)
        if r is None:
            stray.append(i)
        elif r["code"] != 250:
            (said if all(said_so(*s) for s in sids) else breach).append(i)

    refused = collections.Counter()
    errors = collections.Counter()
    for r in sent.values():
        if r["code"] == 250:
            continue
        code = r["code"]
        if code is None and r["reply"][:3].isdigit() and r["err"] in (
                "greeting", "ehlo", "starttls", "ehlo after starttls", "mail", "rcpt", "data"):
            code = int(r["reply"][:3])
        if r["code"] is not None:
            refused["%dxx dot" % (code // 100)] += 1     # the reply to the final dot
        elif code is not None:
            refused["%dxx %s" % (code // 100, r["stage"])] += 1
        else:
            why = r["err"].split(":")[0] or "no reply"
            errors["%s at %s" % (why, r["stage"])] += 1

    faults = collections.Counter()
    if a.backend_faults:
        try:
            with open(a.backend_faults) as fh:
                for ln in fh:
                    if ln.strip():
                        faults["backend " + ln.strip()] += 1
        except FileNotFoundError:
            pass
    if a.events:
        with open(a.events) as fh:
            for ln in fh:
                ev = ln.strip().split(" ", 1)[-1]
                if ev.startswith(("kill", "restart", "drain", "swap")):
                    failed = ev.endswith(" failed")
                    ev = re.sub(r" (REJECT|OK|\S+\.crt)$", "", re.sub(r" failed$", "", ev))
                    faults[ev + (" (the command failed)" if failed else "")] += 1

    n4 = sum(v for k, v in refused.items() if k.startswith("4"))
    n5 = sum(v for k, v in refused.items() if k.startswith("5"))
    print("soak totals:")
    print("  sent %d, accepted (250) %d, refused 4xx %d, refused 5xx %d, ended without a reply %d"
          % (len(sent), len(accepted), n4, n5, sum(errors.values())))
    for k in sorted(refused):
        print("    refused %-22s %d" % (k, refused[k]))
    for k in sorted(errors):
        print("    error   %-40s %d" % (k, errors[k]))
    print("  stored at the backends %d (%d messages without a Message-ID)"
          % (sum(len(s) for s in stored.values()), unknown))
    print("  lost (250 to the client, not at a backend) %d" % len(lost))
    print("  duplicates (at a backend more than once) %d" % len(dups))
    print("  at a backend without a 250, mxgate said 'may have been delivered' %d" % len(said))
    print("  at a backend without a 250, nothing said %d" % len(breach))
    print("  at a backend, never sent by the clients %d" % len(stray))
    print("  faults injected %d:" % sum(faults.values()))
    for k in sorted(faults):
        print("    %-28s %d" % (k, faults[k]))
    ok = True
    for what, ids in (("lost", lost), ("duplicated", dups), ("stored without a 250 and unsaid", breach),
                      ("stray", stray)):
        if ids:
            ok = False
            print("FAIL: soak: %d message(s) %s, e.g. %s" % (len(ids), what, " ".join(sorted(ids)[:5])))
            for i in sorted(ids)[:3]:
                print("    client: %s; stored with session ids %s" % (json.dumps(sent.get(i)), stored.get(i)))
    if unknown:
        ok = False
        print("FAIL: soak: %d stored message(s) without a Message-ID" % unknown)
    if not accepted:
        ok = False
        print("FAIL: soak: no message accepted at all")
    if ok:
        print("ok: every accepted message stored exactly once; nothing stored unsaid")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
