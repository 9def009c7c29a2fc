#!/usr/bin/python3
"""malformed.py - broken frames straight onto the wire: an AF_PACKET socket
on --iface (mxout) sends, to the appliance's MAC, --count frames of each
kind below, each with exactly one defect, named after the drop reason
(NET_DROP_REASONS in dataplane/net/net.h) it should be counted under:

  ip4_csum         IPv4 header checksum wrong
  tcp_csum         TCP checksum wrong
  ip4_short        IPv4 header cut short / total length past the frame
  tcp_short        TCP header cut short (segment of 12 bytes)
  tcp_bad_options  TCP option of length 0 / option running past the header
  ip4_fragment     IPv4 fragments (first with MF, later with an offset)
  icmp_bad         ICMP echo request with a wrong checksum
  ip6_short        IPv6 header cut short / payload length past the frame

The appliance's MAC comes from --mac, or from the kernel's neighbour
table after a TCP connect to --host. Prints one result line with the
counts sent; the caller checks the appliance's drop counters.
"""
import argparse
import ipaddress
import json
import random
import socket
import struct
import subprocess
import time

import labclient as lc

KINDS = ["ip4_csum", "tcp_csum", "ip4_short", "tcp_short", "tcp_bad_options",
         "ip4_fragment", "icmp_bad", "ip6_short"]


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def mac_bytes(m):
    b = bytes(int(x, 16) for x in m.split(":"))
    if len(b) != 6:
        raise ValueError(m)
    return b


def neigh_mac(iface, host):
    out = subprocess.run(["ip", "-j", "neigh", "show", "to", host, "dev", iface],
                         capture_output=True, text=True).stdout
    try:
        for e in json.loads(out or "[]"):
            if e.get("lladdr") and "FAILED" not in e.get("state", []) and \
               "INCOMPLETE" not in e.get("state", []):
                return e["lladdr"]
    except ValueError:
        pass
    return None


class Frames:
    def __init__(self, dmac, smac, src4, dst4, src6, dst6, port, rnd):
        self.eth4 = dmac + smac + b"\x08\x00"
        self.eth6 = dmac + smac + b"\x86\xdd"
        self.s4, self.d4, self.s6, self.d6 = src4.packed, dst4.packed, src6.packed, dst6.packed
        self.port = port
        self.rnd = rnd

    def ip4(self, proto, payload, frag=0, bad_csum=False, tot_len=None):
        tl = tot_len if tot_len is not None else 20 + len(payload)
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tl, self.rnd.getrandbits(16), frag, 64,
                        proto, 0, self.s4, self.d4)
        c = csum(h)
        if bad_csum:
            c ^= 0x5A5A
        return h[:10] + struct.pack("!H", c) + h[12:] + payload

    def tcp(self, flags, opts=b"", payload=b"", bad_csum=False, six=False):
        doff = (20 + len(opts)) // 4
        t = struct.pack("!HHIIBBHHH", self.rnd.randrange(1024, 65536), self.port,
                        self.rnd.getrandbits(32), self.rnd.getrandbits(32) if flags & 0x10 else 0,
                        doff << 4, flags, 64240, 0, 0) + opts + payload
        if six:
            ph = self.s6 + self.d6 + struct.pack("!I3xB", len(t), 6)
        else:
            ph = self.s4 + self.d4 + struct.pack("!BBH", 0, 6, len(t))
        c = csum(ph + t)
        if bad_csum:
            c ^= 0x5A5A
        return t[:16] + struct.pack("!H", c) + t[18:]

    def make(self, kind, i):
        alt = i % 2
        if kind == "ip4_csum":
            return self.eth4 + self.ip4(6, self.tcp(0x02), bad_csum=True)
        if kind == "tcp_csum":
            return self.eth4 + self.ip4(6, self.tcp(0x18, payload=b"x" * 32, bad_csum=True))
        if kind == "ip4_short":
            if alt:
                return self.eth4 + self.ip4(6, self.tcp(0x02))[:12]
            return self.eth4 + self.ip4(6, self.tcp(0x02), tot_len=1000)
        if kind == "tcp_short":
            return self.eth4 + self.ip4(6, self.tcp(0x10)[:12])
        if kind == "tcp_bad_options":
            flags = 0x02 if i % 4 < 2 else 0x10
            opts = bytes([2, 0, 5, 0xB4]) if alt else bytes([8, 10, 0, 0])
            return self.eth4 + self.ip4(6, self.tcp(flags, opts=opts))
        if kind == "ip4_fragment":
            seg = self.tcp(0x02) + b"f" * 16
            if alt:
                return self.eth4 + self.ip4(6, seg, frag=0x2000)       # MF, offset 0
            return self.eth4 + self.ip4(6, seg, frag=100)              # offset 800, last
        if kind == "icmp_bad":
            body = struct.pack("!HH", self.rnd.getrandbits(16), i) + b"p" * 32
            h = struct.pack("!BBH", 8, 0, 0) + body
            c = csum(h) ^ 0x5A5A
            return self.eth4 + self.ip4(1, struct.pack("!BBH", 8, 0, c) + body)
        if kind == "ip6_short":
            t = self.tcp(0x02, six=True)
            plen = 200 if alt else len(t)
            h = struct.pack("!IHBB16s16s", 6 << 28, plen, 6, 64, self.s6, self.d6) + t
            return self.eth6 + (h if alt else h[:30])
        raise ValueError(kind)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iface", default="mxout")
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--host6", default="2001:2::2")
    ap.add_argument("--src", default="198.18.0.1")
    ap.add_argument("--src6", default="2001:2::1")
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--mac", help="appliance MAC (default: learn it from the neighbour table)")
    ap.add_argument("--count", type=int, default=300, help="frames of each kind")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--rate", type=int, default=4000, help="frames per second, at most")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--timeout", type=float, default=60, help="hard overall limit, seconds")
    a = ap.parse_args()
    dst4, src4 = lc.check_addr(a.host), lc.check_addr(a.src, "--src")
    dst6, src6 = lc.check_addr(a.host6, "--host6"), lc.check_addr(a.src6, "--src6")
    kinds = [k for k in a.kinds.split(",") if k]
    for k in kinds:
        if k not in KINDS:
            lc.die("unknown kind %s (known: %s)" % (k, " ".join(KINDS)))
    if not 1 <= a.count <= 100000 or not 1 <= a.rate <= 100000:
        lc.die("bad --count/--rate")
    lc.watchdog(a.timeout + 5)
    deadline = time.monotonic() + a.timeout
    mac = a.mac
    if not mac:
        mac = neigh_mac(a.iface, str(dst4))
        if not mac:
            try:
                lc.connect(dst4, a.port, timeout=3).close()
            except OSError:
                pass
            for _ in range(30):
                mac = neigh_mac(a.iface, str(dst4))
                if mac:
                    break
                time.sleep(0.1)
        if not mac:
            lc.die("no neighbour entry for %s on %s (pass --mac)" % (dst4, a.iface))
    try:
        dmac = mac_bytes(mac)
        smac = mac_bytes(open("/sys/class/net/%s/address" % a.iface).read().strip())
    except (OSError, ValueError) as e:
        lc.die("MAC addresses: %s" % e)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    f = Frames(dmac, smac, src4, dst4, src6, dst6, a.port, random.Random(a.seed))
    t0 = time.monotonic()
    sent = dict.fromkeys(kinds, 0)
    n = 0
    for i in range(a.count):
        for k in kinds:
            if time.monotonic() > deadline:
                lc.die("deadline reached while sending", 1)
            try:
                s.send(f.make(k, i))
                sent[k] += 1
            except OSError as e:
                lc.die("send %s: %s" % (k, e), 1)
            n += 1
            ahead = n / a.rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    s.close()
    print("malformed: OK sent to %s on %s: %s (%.1f s)"
          % (mac, a.iface, " ".join("%s=%d" % kv for kv in sent.items()),
             time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
