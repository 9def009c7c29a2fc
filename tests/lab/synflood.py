#!/usr/bin/python3
"""synflood.py - a bounded SYN flood: --count raw IPv4 SYNs (IP_HDRINCL) to
--host port --port from spoofed off-link sources in 198.19.0.0/16 with
random ports, at most --rate per second. Once --legit-after SYNs are out,
a legitimate connection from --legit-src, running alongside the flood,
must connect and echo within --legit-timeout seconds (through SYN
cookies, if the listener's backlog is full). Prints one result line.
"""
import argparse
import ipaddress
import random
import socket
import struct
import threading
import time

import labclient as lc

SPOOF_NET = ipaddress.ip_network("198.19.0.0/16")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def syn(src, dst, sport, dport, seq, ipid):
    """An IPv4 SYN with MSS, SACK-permitted and window scale options (12 bytes)."""
    opts = struct.pack("!BBH", 2, 4, 1460) + bytes([1, 1, 4, 2, 1, 3, 3, 7])
    doff = (20 + len(opts)) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, doff << 4, 0x02, 64240, 0, 0) + opts
    ph = src.packed + dst.packed + struct.pack("!BBH", 0, 6, len(tcp))
    c = csum(ph + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ipid, 0, 64, 6, 0,
                     src.packed, dst.packed)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--rate", type=int, default=5000, help="SYNs per second, at most")
    ap.add_argument("--legit-after", type=int, default=2000)
    ap.add_argument("--legit-src", default="198.18.0.1")
    ap.add_argument("--legit-bytes", type=int, default=4096)
    ap.add_argument("--legit-timeout", type=float, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=60, help="hard overall limit, seconds")
    a = ap.parse_args()
    dst = lc.check_addr(a.host)
    src_ok = lc.check_addr(a.legit_src, "--legit-src")
    if dst.version != 4:
        lc.die("IPv4 only")
    if not 1 <= a.count <= 1_000_000 or not 1 <= a.rate <= 100_000:
        lc.die("bad --count/--rate")
    lc.watchdog(a.timeout + 5)
    deadline = time.monotonic() + a.timeout
    rnd = random.Random(a.seed)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    legit = {}

    def legit_conn():
        t1 = time.monotonic()
        end = t1 + a.legit_timeout
        try:
            s = lc.connect(dst, a.port, timeout=a.legit_timeout, src=src_ok)
            legit["connect_ms"] = (time.monotonic() - t1) * 1000
            c = lc.EchoConn(s, a.legit_bytes, a.seed, 99)
            ok, why = lc.run_echo([c], end, a.legit_timeout)
            s.close()
            legit["ok"], legit["why"] = ok, why
        except OSError as e:
            legit["ok"], legit["why"] = False, "connect: %s" % e
        legit["ms"] = (time.monotonic() - t1) * 1000

    th = None
    t0 = time.monotonic()
    sent = 0
    errors = 0
    batch = max(1, a.rate // 100)
    nsrc = SPOOF_NET.num_addresses
    while sent < a.count:
        if time.monotonic() > deadline:
            lc.die("deadline reached after %d SYNs" % sent, 1)
        for _ in range(min(batch, a.count - sent)):
            src = SPOOF_NET[rnd.randrange(1, nsrc - 1)]
            pkt = syn(src, dst, rnd.randrange(1024, 65536), a.port, rnd.getrandbits(32),
                      rnd.getrandbits(16))
            try:
                raw.sendto(pkt, (str(dst), 0))
            except OSError:
                errors += 1
            sent += 1
            if sent == a.legit_after and th is None:
                th = threading.Thread(target=legit_conn, daemon=True)
                th.start()
        # pace: sent SYNs may not run ahead of rate * elapsed
        ahead = sent / a.rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    flood_s = time.monotonic() - t0
    if th is None:
        th = threading.Thread(target=legit_conn, daemon=True)
        th.start()
    th.join(max(0.1, min(a.legit_timeout + 1, deadline - time.monotonic())))
    raw.close()
    if th.is_alive() or "ok" not in legit:
        lc.die("legitimate connection did not finish within %.0f s" % a.legit_timeout, 1)
    if not legit["ok"]:
        lc.die("legitimate connection failed during the flood: %s" % legit["why"], 1)
    if legit["ms"] > a.legit_timeout * 1000:
        lc.die("legitimate connection took %.0f ms" % legit["ms"], 1)
    print("synflood: OK %d SYNs from 198.19.0.0/16 in %.1f s (%.0f/s, %d send errors); "
          "legitimate connection from %s connected in %.0f ms and echoed %d bytes in %.0f ms"
          % (sent, flood_s, sent / flood_s, errors, src_ok, legit["connect_ms"],
             a.legit_bytes, legit["ms"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
