#!/usr/bin/python3
"""ping.py - a minimal ICMP/ICMPv6 echo client for the lab (stdlib only),
for machines without iputils' ping: raw sockets, so it runs as root inside
the lab namespace. Exits 0 if at least one reply came back, 1 if none,
2 on a usage or socket error. Addresses only: no name is ever resolved.

  ping.py [-c COUNT] [-W WAIT] [-i INTERVAL] [-q] ADDR
"""
import argparse
import ipaddress
import os
import select
import socket
import struct
import sys
import time


def csum(data):
    """Internet checksum of data."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def main():
    ap = argparse.ArgumentParser(description="ICMP echo (lab helper)")
    ap.add_argument("addr")
    ap.add_argument("-c", type=int, default=1, help="echo requests to send (1..1000)")
    ap.add_argument("-W", type=float, default=1.0, help="seconds to wait for each reply")
    ap.add_argument("-i", type=float, default=0.2, help="seconds between requests")
    ap.add_argument("-q", action="store_true", help="print only the summary")
    ap.add_argument("-4", dest="v4", action="store_true", help="(accepted, ignored)")
    ap.add_argument("-6", dest="v6", action="store_true", help="(accepted, ignored)")
    a = ap.parse_args()
    try:
        addr = ipaddress.ip_address(a.addr)
    except ValueError:
        print("ping.py: not an address: %s" % a.addr, file=sys.stderr)
        return 2
    count = max(1, min(a.c, 1000))
    v6 = addr.version == 6
    try:
        if v6:
            s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except OSError as e:
        print("ping.py: raw socket: %s" % e, file=sys.stderr)
        return 2
    ident = os.getpid() & 0xFFFF
    req_type, rep_type = (128, 129) if v6 else (8, 0)
    got = 0
    for seq in range(1, count + 1):
        payload = struct.pack("!d", time.time()) + bytes(range(48))
        hdr = struct.pack("!BBHHH", req_type, 0, 0, ident, seq)
        pkt = hdr + payload
        if not v6:  # the kernel fills the ICMPv6 checksum itself
            pkt = struct.pack("!BBHHH", req_type, 0, csum(pkt), ident, seq) + payload
        t0 = time.monotonic()
        try:
            s.sendto(pkt, (str(addr), 0))
        except OSError as e:
            if not a.q:
                print("seq=%d send: %s" % (seq, e))
            time.sleep(a.i)
            continue
        deadline = t0 + a.W
        ok = False
        while not ok:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([s], [], [], left)
            if not r:
                break
            data, src = s.recvfrom(2048)
            if not v6:
                ihl = (data[0] & 0x0F) * 4
                if src[0] != str(addr):
                    continue
                data = data[ihl:]
            elif ipaddress.ip_address(src[0].split("%")[0]) != addr:
                continue
            if len(data) < 8:
                continue
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[:8])
            if typ == rep_type and rid == ident and rseq == seq:
                ok = True
        if ok:
            got += 1
            if not a.q:
                print("reply from %s: seq=%d time=%.3f ms"
                      % (addr, seq, (time.monotonic() - t0) * 1000))
        elif not a.q:
            print("no reply from %s: seq=%d" % (addr, seq))
        if seq < count:
            time.sleep(a.i)
    print("%s: %d transmitted, %d received" % (addr, count, got))
    return 0 if got else 1


if __name__ == "__main__":
    sys.exit(main())
