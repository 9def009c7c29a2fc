#!/usr/bin/env python3
"""smtp_backend.py - a small recording SMTP backend for the lab tests.

Speaks enough ESMTP for mxgate's relay (EHLO, STARTTLS, XCLIENT, MAIL, RCPT,
DATA, RSET, NOOP, QUIT), optionally expects a PROXY v2 header first, and
writes one JSON line per session to --out: the PROXY v2 addresses and TLVs,
the XCLIENT attributes, whether TLS was used (version, cipher), and every
message (envelope and body). It checks what Postfix's smtpd does not
record, e.g. the TLS facts in PROXY v2's PP2_TYPE_SSL.

Faults for the reliability tests: --delay STAGE=SECONDS holds the reply to
MAIL, RCPT, DATA or the final dot ("dot": the message is already stored,
as a real MTA that is slow to say 250); --reject-rcpt PREFIX answers 550
to recipients that start with it. --messages FILE gets one JSON line per
stored message at once, before any delayed reply, so a test can count
deliveries even when mxgate gives up on the reply.

Random faults for the soak (tests/soak/soak.sh), each drawn per command
with --seed: --fail STAGE=CODE:PCT answers CODE (4xx or 5xx) instead of the
positive reply to PCT % of MAIL, RCPT, DATA or final dots (a refused dot
stores nothing); --drop-data PCT closes the connection in the middle of PCT
% of messages (after their first line, before the dot: nothing stored);
--slow-dot PCT=SECONDS stores PCT % of messages and holds their 250 that
long (past mxgate's backend_timeout_ms: the one case where mxgate must say
the message "may have been delivered").
--faults FILE gets one line per fault injected ("fail rcpt 451", "drop
data"), for the soak's totals.

XCLIENT as other MTAs do it: --xclient-attrs "NAME ADDR PROTO HELO"
announces that list (Haraka's) instead of Postfix's, and refuses an
XCLIENT carrying an attribute not in it (501 5.5.4, as Haraka does);
--xclient-refuse ADDR answers XCLIENT for client ADDR with 421 4.7.0
"Error: too many connections from ADDR" (Postfix's per-client connection
limits) and closes, a per-client refusal that must not rest the backend.

The same behind a PROXY v2 header (--proxy), where the backend learns the
client from the header: --proxy-refuse ADDR[=REPLY] greets client ADDR
with REPLY (default Postfix's "421 4.7.0 ... Error: too many connections
from ADDR") and closes; --helo-refuse ADDR answers its HELO/EHLO with
Postfix's "554 5.7.1 <NAME>: Helo command rejected: Access denied" (a
check_helo_access REJECT with smtpd_delay_reject = no).

Lab only: binds an address in 198.18.0.0/15 or 2001:2::/48; stops after
--sessions sessions or --timeout seconds, whichever comes first.
"""
import argparse
import ipaddress
import json
import socket
import ssl
import random
import struct
import sys
import threading
import time

PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def lab_addr(a):
    """Refuse any address outside the benchmarking ranges."""
    ip = ipaddress.ip_address(a)
    if not any(ip in ipaddress.ip_network(n) for n in ("198.18.0.0/15", "2001:2::/48")):
        raise SystemExit("smtp_backend: %s is not a lab address" % a)
    return a


def read_exact(sock, n):
    """n bytes from a socket, or ConnectionError."""
    b = b""
    while len(b) < n:
        chunk = sock.recv(n - len(b))
        if not chunk:
            raise ConnectionError("eof in PROXY header")
        b += chunk
    return b


def parse_proxy_v2(sock):
    """Read and decode a PROXY v2 header (addresses, ports, TLVs)."""
    hdr = read_exact(sock, 16)
    if hdr[:12] != PP2_SIG:
        raise ConnectionError("no PROXY v2 signature")
    ver_cmd, fam, length = hdr[12], hdr[13], struct.unpack("!H", hdr[14:16])[0]
    body = read_exact(sock, length)
    out = {"version_command": ver_cmd, "family": fam}
    if fam == 0x11:
        src, dst, sp, dp = struct.unpack("!4s4sHH", body[:12])
        out.update(src=socket.inet_ntop(socket.AF_INET, src), dst=socket.inet_ntop(socket.AF_INET, dst),
                   sport=sp, dport=dp)
        tlvs = body[12:]
    elif fam == 0x21:
        src, dst, sp, dp = struct.unpack("!16s16sHH", body[:36])
        out.update(src=socket.inet_ntop(socket.AF_INET6, src), dst=socket.inet_ntop(socket.AF_INET6, dst),
                   sport=sp, dport=dp)
        tlvs = body[36:]
    else:
        tlvs = b""
    out["tlvs"] = decode_tlvs(tlvs)
    return out


def decode_tlvs(b):
    """TLVs as a dict; PP2_TYPE_SSL (0x20) decoded with its sub-TLVs."""
    res = {}
    while len(b) >= 3:
        t, ln = b[0], struct.unpack("!H", b[1:3])[0]
        v, b = b[3:3 + ln], b[3 + ln:]
        if t == 0x20 and len(v) >= 5:
            ssl_info = {"client": v[0], "verify": struct.unpack("!I", v[1:5])[0]}
            names = {0x21: "version", 0x22: "cn", 0x23: "cipher", 0x24: "sig_alg", 0x25: "key_alg"}
            for k, sv in decode_tlvs(v[5:]).items():
                ssl_info[names.get(int(k, 16), k)] = sv
            res["ssl"] = ssl_info
        else:
            res["%02x" % t] = v.decode("latin-1")
    return res


class Session:
    """One SMTP session of the backend."""

    def __init__(self, sock, args):
        self.sock, self.args = sock, args
        self.f = sock.makefile("rb")
        self.rec = {"messages": [], "xclient": None, "proxy": None, "tls": None, "ehlo": []}

    def fault(self, stage):
        """The code to answer at STAGE instead of the positive reply, or 0 (--fail)."""
        code, pct = self.args.fails.get(stage, (0, 0.0))
        if code and self.args.rng_pct() < pct:
            self.args.note("fail %s %d" % (stage, code))
            return code
        return 0

    def delay(self, stage):
        """Hold the reply to STAGE as --delay says."""
        t = self.args.delays.get(stage, 0)
        if t > 0:
            time.sleep(t)

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def line(self):
        data = self.f.readline(4096)
        if not data:
            raise ConnectionError("eof")
        return data

    def ehlo_reply(self, name):
        caps = ["backend.lab.example", "PIPELINING", "8BITMIME"]
        if self.args.tls_cert and self.rec["tls"] is None:
            caps.append("STARTTLS")
        if self.args.xclient:
            caps.append("XCLIENT " + self.args.xclient_attrs)
        self.rec["ehlo"].append(name)
        for c in caps[:-1]:
            self.send("250-" + c)
        self.send("250 " + caps[-1])

    def run(self):
        client = None
        if self.args.proxy:
            self.rec["proxy"] = parse_proxy_v2(self.sock)
            client = self.rec["proxy"].get("src")
            refuse = self.args.proxy_refuse.get(client)
            if refuse is not None:
                self.rec["greeting"] = refuse
                self.send(refuse)
                return
        self.send("220 backend.lab.example ESMTP")
        mail, rcpts = None, []
        while True:
            cmd = self.line().rstrip(b"\r\n").decode("utf-8", "replace")
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO") and client is not None and client in self.args.helo_refuse:
                self.rec["ehlo"].append(cmd[5:])
                self.rec["helo_refused"] = "554"
                self.send("554 5.7.1 <%s>: Helo command rejected: Access denied" % cmd[5:])
            elif verb in ("EHLO", "HELO"):
                self.ehlo_reply(cmd[5:])
            elif verb == "STARTTLS" and self.args.tls_cert and self.rec["tls"] is None:
                # --inject-after-starttls: plaintext in the same write as the 220 (a response injection)
                self.sock.sendall(b"220 2.0.0 Ready to start TLS\r\n" +
                                  self.args.inject_after_starttls.encode().decode("unicode_escape").encode("latin-1"))
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(self.args.tls_cert, self.args.tls_key)
                self.sock = ctx.wrap_socket(self.sock, server_side=True)
                self.f = self.sock.makefile("rb")
                self.rec["tls"] = {"version": self.sock.version(), "cipher": self.sock.cipher()[0]}
            elif verb == "XCLIENT" and self.args.xclient:
                self.rec["xclient"] = dict(kv.split("=", 1) for kv in cmd.split()[1:] if "=" in kv)
                announced = self.args.xclient_attrs.upper().split()
                bad = [k for k in self.rec["xclient"] if k.upper() not in announced]
                if bad:
                    self.rec["xclient_refused"] = "501 " + " ".join(bad)
                    self.send("501 5.5.4 Bad XCLIENT attribute name: %s" % bad[0])
                    continue
                if self.rec["xclient"].get("ADDR") in self.args.xclient_refuse:
                    self.rec["xclient_refused"] = "421"
                    self.send("421 4.7.0 backend.lab.example Error: too many connections from %s"
                              % self.rec["xclient"]["ADDR"])
                    return
                self.send("220 backend.lab.example ESMTP")
            elif verb == "MAIL":
                mail, rcpts = cmd[10:].strip(), []
                self.delay("mail")
                code = self.fault("mail")
                if code:
                    mail = None
                    self.send("%d %s.1.0 Sender refused by the test backend (fault)" % (code, str(code)[0]))
                    continue
                self.send("250 2.1.0 Ok")
            elif verb == "RCPT":
                rcpt = cmd[8:].strip()
                self.delay("rcpt")
                if self.args.reject_rcpt and rcpt.lstrip("<").startswith(self.args.reject_rcpt):
                    self.send("550 5.1.1 <%s>: Recipient address rejected: User unknown" % rcpt.strip("<>"))
                    continue
                code = self.fault("rcpt")
                if code:
                    self.send("%d %s.1.1 Recipient refused by the test backend (fault)" % (code, str(code)[0]))
                    continue
                rcpts.append(rcpt)
                self.send("250 2.1.5 Ok")
            elif verb == "DATA":
                self.delay("data")
                code = self.fault("data")
                if code:
                    self.send("%d %s.3.0 DATA refused by the test backend (fault)" % (code, str(code)[0]))
                    continue
                self.send("354 End data with <CR><LF>.<CR><LF>")
                drop = self.args.drop_data > 0 and self.args.rng_pct() < self.args.drop_data
                body = b""
                while True:
                    ln = self.line()
                    if ln == b".\r\n":
                        break
                    if drop:
                        self.args.note("drop data")
                        self.sock.shutdown(socket.SHUT_RDWR)
                        raise ConnectionError("dropped mid-DATA (fault)")
                    body += ln[1:] if ln.startswith(b".") else ln
                    if len(body) > 64 << 20:
                        raise ConnectionError("message too big for the test backend")
                code = self.fault("dot")
                if code:
                    self.send("%d %s.3.0 Message refused by the test backend (fault)" % (code, str(code)[0]))
                    continue
                msg = {"from": mail, "to": rcpts, "body": body.decode("latin-1")}
                self.rec["messages"].append(msg)
                if self.args.store is not None:
                    self.args.store(msg)
                self.delay("dot")
                if self.args.slow_dot[0] > 0 and self.args.rng_pct() < self.args.slow_dot[0]:
                    self.args.note("slow dot")
                    time.sleep(self.args.slow_dot[1])
                self.send("250 2.0.0 Ok: queued")
            elif verb == "RSET":
                mail, rcpts = None, []
                self.send("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.send("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 Bye")
                return
            else:
                self.rec.setdefault("unknown", []).append(verb)
                self.send("502 5.5.2 Error: command not recognized")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="198.18.1.1")
    ap.add_argument("--port", type=int, default=2525)
    ap.add_argument("--out", required=True, help="JSON lines, one per session")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--inject-after-starttls", default="", metavar="TEXT",
                    help="plaintext sent with the 220 to STARTTLS (\\r\\n escapes): a response injection")
    ap.add_argument("--xclient", action="store_true")
    ap.add_argument("--xclient-attrs", default="NAME ADDR PORT PROTO HELO LOGIN", metavar="LIST",
                    help="the XCLIENT attributes announced (others refused with 501)")
    ap.add_argument("--xclient-refuse", action="append", default=[], metavar="ADDR",
                    help="answer XCLIENT for client ADDR with 421 4.7.0 (a per-client limit) and close")
    ap.add_argument("--proxy", action="store_true", help="expect a PROXY v2 header")
    ap.add_argument("--proxy-refuse", action="append", default=[], metavar="ADDR[=REPLY]",
                    help="with --proxy: greet client ADDR with REPLY (default 421 4.7.0 too many connections)"
                    " and close")
    ap.add_argument("--helo-refuse", action="append", default=[], metavar="ADDR",
                    help="with --proxy: answer client ADDR's HELO/EHLO with 554 5.7.1 Helo command rejected")
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--delay", action="append", default=[], metavar="STAGE=SECONDS",
                    help="hold the reply to mail, rcpt, data or dot")
    ap.add_argument("--reject-rcpt", metavar="PREFIX", help="550 to recipients starting with it")
    ap.add_argument("--messages", help="one JSON line per stored message, written at once")
    ap.add_argument("--fail", action="append", default=[], metavar="STAGE=CODE:PCT",
                    help="answer CODE to PCT %% of mail, rcpt, data or dot (fault)")
    ap.add_argument("--drop-data", type=float, default=0.0, metavar="PCT",
                    help="close the connection in the middle of PCT %% of messages (fault)")
    ap.add_argument("--slow-dot", default="0=0", metavar="PCT=SECONDS",
                    help="store PCT %% of messages, then hold their 250 SECONDS (fault)")
    ap.add_argument("--faults", help="one line per fault injected")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    refuse = {}
    for f in args.proxy_refuse:
        addr, eq, reply = f.partition("=")
        if eq and not (len(reply) >= 3 and reply[:3].isdigit() and reply[0] in "45"):
            raise SystemExit("smtp_backend: --proxy-refuse %s: REPLY must be a 4xx or 5xx line" % f)
        refuse[addr] = reply if eq else \
            "421 4.7.0 backend.lab.example Error: too many connections from %s" % addr
    args.proxy_refuse = refuse
    args.fails = {}
    for f in args.fail:
        stage, _, rest = f.partition("=")
        code, _, pct = rest.partition(":")
        if stage not in ("mail", "rcpt", "data", "dot") or not code.isdigit() or not 400 <= int(code) < 600:
            raise SystemExit("smtp_backend: --fail %s: expected mail|rcpt|data|dot=4xx|5xx:PCT" % f)
        args.fails[stage] = (int(code), float(pct or 0))
    pct, _, secs = args.slow_dot.partition("=")
    try:
        args.slow_dot = (float(pct), float(secs or 0))
    except ValueError:
        raise SystemExit("smtp_backend: --slow-dot %s: expected PCT=SECONDS" % args.slow_dot)
    rng = random.Random(args.seed)
    rng_lock = threading.Lock()

    def rng_pct():
        with rng_lock:
            return rng.random() * 100
    args.rng_pct = rng_pct
    ffile = open(args.faults, "a") if args.faults else None

    def note(what):
        if ffile is not None:
            with rng_lock:
                ffile.write(what + "\n")
                ffile.flush()
    args.note = note
    args.delays = {}
    for d in args.delay:
        stage, _, secs = d.partition("=")
        if stage not in ("mail", "rcpt", "data", "dot"):
            raise SystemExit("smtp_backend: --delay %s: stage must be mail, rcpt, data or dot" % d)
        args.delays[stage] = float(secs)
    args.store = None
    fam = socket.AF_INET6 if ":" in lab_addr(args.listen) else socket.AF_INET
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.listen, args.port))
    srv.listen(64)
    deadline = time.time() + args.timeout
    lock = threading.Lock()
    out = open(args.out, "a")
    if args.messages:
        mfile = open(args.messages, "a")

        def store(msg):
            with lock:
                mfile.write(json.dumps(msg) + "\n")
                mfile.flush()
        args.store = store

    def serve(conn):
        sess = Session(conn, args)
        conn.settimeout(30)
        try:
            sess.run()
        except (ConnectionError, OSError, ssl.SSLError) as e:
            sess.rec["error"] = str(e)
        with lock:
            out.write(json.dumps(sess.rec) + "\n")
            out.flush()
        conn.close()

    print("smtp_backend: listening on %s:%d" % (args.listen, args.port), flush=True)
    threads = []
    for _ in range(args.sessions):
        left = deadline - time.time()
        if left <= 0:
            break
        srv.settimeout(left)
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            break
        t = threading.Thread(target=serve, args=(conn,), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(max(0.0, deadline - time.time()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
