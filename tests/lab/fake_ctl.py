#!/usr/bin/env python3
"""fake_ctl.py - a stand-in for mxgate's control socket (control/ctl.h), so
that mxgate-control can be tested alone (tests/lab/t_control_fake.sh):

  fake_ctl.py SOCKET DIR [--lcores N] [--refuse-policy]

Answers STATUS ("policy_version V", "tickets ..."), STATS (Prometheus text
with N lcores whose values grow by one per request), SET_POLICY (checks the
"version\\n" line, writes the payload to DIR/policy.VERSION and
DIR/policy.last, OK "N entries"; --refuse-policy: ERR) and
SET_TICKET_KEYS (96 bytes, hex into DIR/tickets) and SET_CERTS (payload
into DIR/certs). Every request is
appended to DIR/requests.log. Ends after an hour, or on SIGTERM."""
import os
import signal
import socket
import struct
import sys
import threading
import time

TYPES = {1: "STATUS", 2: "STATS", 3: "SESSIONS", 4: "SET_POLICY", 5: "SET_TICKET_KEYS",
         8: "SET_CERTS"}
OK, ERR, DATA = 64, 65, 66


class Fake:
    def __init__(self, path, out, lcores, refuse):
        self.path, self.out, self.lcores, self.refuse = path, out, lcores, refuse
        self.polver = "-"
        self.tickets = "local rotation"
        self.nstats = 0
        self.lock = threading.Lock()

    def log(self, line):
        with open(os.path.join(self.out, "requests.log"), "a") as f:
            f.write(line + "\n")

    def stats(self):
        self.nstats += 1
        lines = []
        for lc in range(1, self.lcores + 1):
            lines.append('mxgate_rx_packets_total{lcore="%d"} %d' % (lc, 100 * lc + self.nstats))
            lines.append('mxgate_drops_total{lcore="%d",reason="tcp_csum"} %d' % (lc, lc))
            lines.append('mxgate_smtp_sessions_total{lcore="%d"} %d' % (lc, 7 * lc))
            lines.append('mxgate_tcp_conns{lcore="%d"} %d' % (lc, lc))
        lines.append("mxgate_tsc_hz 2000000000")
        return ("\n".join(lines) + "\n").encode()

    def answer(self, typ, payload):
        name = TYPES.get(typ, str(typ))
        self.log("%s %d" % (name, len(payload)))
        if typ == 1:
            return DATA, ("hostname fake\npolicy_version %s\ntickets %s\n"
                          % (self.polver, self.tickets)).encode()
        if typ == 2:
            return DATA, self.stats()
        if typ == 4:
            nl = payload.find(b"\n")
            if nl < 0:
                return ERR, b"payload: version line expected"
            if self.refuse:
                return ERR, b"refused by --refuse-policy"
            ver = payload[:nl].decode()
            body = payload[nl + 1:]
            n = sum(1 for l in body.split(b"\n") if l.strip() and not l.startswith(b"#"))
            for fn in ("policy." + ver, "policy.last"):
                self.put(fn, payload)
            self.polver = ver
            return OK, b"policy version %s: %d entries" % (ver.encode(), n)
        if typ == 8:
            self.put("certs", payload)
            return OK, b"%d certificate(s) in force" % payload.count(b"CERT ")
        if typ == 5:
            if len(payload) != 96:
                return ERR, b"expected two 48-byte keys"
            self.put("tickets", (payload.hex() + "\n").encode())
            self.tickets = "from control plane"
            return OK, b"ticket keys set"
        return ERR, b"unknown request"

    def put(self, fn, data):
        """Write DIR/fn whole (renamed into place): a test polling for it never reads half."""
        with open(os.path.join(self.out, fn + ".tmp"), "wb") as f:
            f.write(data)
        os.rename(os.path.join(self.out, fn + ".tmp"), os.path.join(self.out, fn))

    def client(self, c):
        c.settimeout(10)
        try:
            while True:
                h = b""
                while len(h) < 6:
                    chunk = c.recv(6 - len(h))
                    if not chunk:
                        return
                    h += chunk
                length, ver, typ = struct.unpack("!IBB", h)
                data = b""
                while len(data) < length - 2:
                    chunk = c.recv(min(1 << 20, length - 2 - len(data)))
                    if not chunk:
                        return
                    data += chunk
                with self.lock:
                    rtype, reply = self.answer(typ, data)
                c.sendall(struct.pack("!IBB", len(reply) + 2, 1, rtype) + reply)
        except OSError:
            pass
        finally:
            c.close()

    def serve(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX)
        s.bind(self.path)
        s.listen(16)
        while True:
            c, _ = s.accept()
            threading.Thread(target=self.client, args=(c,), daemon=True).start()


def main():
    args = sys.argv[1:]
    lcores = 2
    if "--lcores" in args:
        i = args.index("--lcores")
        lcores = int(args[i + 1])
        del args[i:i + 2]
    refuse = "--refuse-policy" in args
    args = [a for a in args if a != "--refuse-policy"]
    path, out = args[0], args[1]
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    t = threading.Timer(3600, lambda: os._exit(0))
    t.daemon = True
    t.start()
    Fake(path, out, lcores, refuse).serve()


if __name__ == "__main__":
    main()
