#!/usr/bin/env python3
"""soak_client.py - the soak's SMTP clients: one message per session, each
with its own Message-ID, over plain SMTP or STARTTLS, and one JSON line per
attempt to --out saying how it ended.

  soak_client.py --out FILE --prefix P [--threads N] [--rate R] [--duration S]
                 [--starttls PCT] [--blocked PCT] [--pause-file F] [--stop-file F]

A record: {"id": "<P-n@soak.example>", "tls": bool, "code": the reply to
the final dot (None if the session ended before one), "stage": the last
command sent (connect, ehlo, starttls, mail, rcpt, data, dot, quit),
"reply": that stage's reply line, "err": why the session ended early}.
A message counts as accepted only with a 250 to its final dot.

--rate R caps the whole process at R sessions/s (0: as fast as the threads
go, which is how the soak measures the lab's capacity). While --pause-file
exists, threads finish their session and wait (the soak's idle baselines);
once --stop-file exists or --duration has passed, they stop. --blocked PCT
sends that share from blocked.soak.example, which the soak's policy swaps
between REJECT and OK. Prints a one-line summary at the end.

Lab only: connects to addresses in 198.18.0.0/15 or 2001:2::/48.
"""
import argparse
import ipaddress
import json
import os
import random
import socket
import ssl
import sys
import threading
import time


def lab_addr(a):
    """Refuse any address outside the benchmarking ranges."""
    ip = ipaddress.ip_address(a)
    if not any(ip in ipaddress.ip_network(n) for n in ("198.18.0.0/15", "2001:2::/48")):
        raise SystemExit("soak_client: %s is not a lab address" % a)
    return a


class Ended(Exception):
    """The session ended before the message was through."""


class Conn:
    """One SMTP client connection with a reply reader."""

    def __init__(self, host, port, timeout):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """One whole (multi-line) reply: (code, last line)."""
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise Ended("connection closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            if len(line) < 3 or not line[:3].isdigit():
                raise Ended("bad reply line %r" % line[:60])
            if len(line) == 3 or line[3:4] == b" ":
                return int(line[:3]), line.decode("latin-1")

    def starttls(self, ctx):
        self.sock = ctx.wrap_socket(self.sock, server_hostname="mx.lab.example")
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def session(a, n, tls, blocked, ctx):
    """Send message n in a session of its own; the record of how it ended."""
    mid = "<%s-%d@soak.example>" % (a.prefix, n)
    rec = {"id": mid, "tls": tls, "code": None, "stage": "connect", "reply": "", "err": ""}
    c = None

    def step(stage, line, want, why=None):
        """Send line (None: only read) at stage; end the session unless the reply is want."""
        rec["stage"] = stage
        if line is not None:
            c.send(line)
        code, text = c.reply()
        rec["reply"] = text
        if code != want:
            raise Ended(why or stage)
        return code

    try:
        c = Conn(a.host, a.port, a.timeout)
        step("connect", None, 220, "greeting")
        step("ehlo", b"EHLO client.soak.example\r\n", 250)
        if tls:
            step("starttls", b"STARTTLS\r\n", 220)
            c.starttls(ctx)
            step("ehlo", b"EHLO client.soak.example\r\n", 250, "ehlo after starttls")
        sender = "s%d@%s" % (n, "blocked.soak.example" if blocked else "client.soak.example")
        step("mail", ("MAIL FROM:<%s>\r\n" % sender).encode(), 250)
        step("rcpt", b"RCPT TO:<r@lab.example>\r\n", 250)
        step("data", b"DATA\r\n", 354)
        body = ("From: <%s>\r\nTo: <r@lab.example>\r\nSubject: soak %d\r\nMessage-ID: %s\r\n\r\n"
                % (sender, n, mid)).encode() + a.filler + b".\r\n"
        rec["stage"] = "dot"
        c.send(body)
        code, line = c.reply()
        rec["reply"] = line
        rec["code"] = code
        rec["stage"] = "quit"
        c.send(b"QUIT\r\n")
        c.reply()
    except Ended as e:
        rec["err"] = rec["err"] or str(e)
    except (OSError, ssl.SSLError) as e:
        rec["err"] = "%s: %s" % (type(e).__name__, e)
    finally:
        if c is not None:
            c.close()
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--out", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--rate", type=float, default=0.0, help="sessions/s for the whole process, 0: no cap")
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--starttls", type=float, default=50.0, help="%% of sessions with STARTTLS")
    ap.add_argument("--blocked", type=float, default=0.0, help="%% of senders at blocked.soak.example")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per reply")
    ap.add_argument("--body", type=int, default=2000, help="bytes of filler per message")
    ap.add_argument("--pause-file")
    ap.add_argument("--stop-file")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    lab_addr(a.host)
    if a.threads < 1 or a.threads > 512 or a.duration <= 0 or a.duration > 7 * 86400:
        raise SystemExit("soak_client: --threads 1..512, --duration up to a week")
    line = b"soak filler " + b"x" * 62 + b"\r\n"
    a.filler = line * max(1, a.body // len(line))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE   # the soak swaps the certificate all the time
    lock = threading.Lock()
    out = open(a.out, "a")
    rng = random.Random(a.seed)
    state = {"n": 0, "next": time.monotonic()}
    end = time.monotonic() + a.duration
    totals = {"sent": 0, "accepted": 0}

    def stopping():
        return time.monotonic() >= end or (a.stop_file and os.path.exists(a.stop_file))

    def take():
        """The next message number and its draws, paced by --rate; None to stop."""
        while True:
            if stopping():
                return None
            if a.pause_file and os.path.exists(a.pause_file):
                time.sleep(0.2)
                continue
            with lock:
                now = time.monotonic()
                if a.rate > 0:
                    # no burst after a pause: the schedule never lags by more than a second
                    state["next"] = max(state["next"], now - 1.0)
                    wait = state["next"] - now
                    state["next"] += 1.0 / a.rate
                else:
                    wait = 0
                n = state["n"]
                state["n"] += 1
                tls = rng.random() * 100 < a.starttls
                blocked = rng.random() * 100 < a.blocked
            if wait > 0:
                time.sleep(wait)
            return n, tls, blocked

    def worker():
        while True:
            t = take()
            if t is None:
                return
            rec = session(a, t[0], t[1], t[2], ctx)
            with lock:
                out.write(json.dumps(rec) + "\n")
                out.flush()
                totals["sent"] += 1
                totals["accepted"] += rec["code"] == 250

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(a.duration + a.timeout * 10 + 30)
    print("soak_client %s: %d sessions, %d accepted" % (a.prefix, totals["sent"], totals["accepted"]),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
