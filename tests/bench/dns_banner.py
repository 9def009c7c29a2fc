#!/usr/bin/python3
"""dns_banner.py DST PORT SRC... - one SMTP session from each source address
in turn (connect, read the 220, QUIT, read the 221), one at a time; prints one
line: the banner latencies (connect done -> 220 read) in microseconds, space
separated, in the order of the sources. Exit 1 if a session does not get its
220 and 221."""
import socket
import sys
import time


def read_reply(s):
    buf = b""
    while not buf.endswith(b"\r\n") or (len(buf) >= 4 and buf.split(b"\r\n")[-2][3:4] == b"-"):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def main():
    dst, port, srcs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    out = []
    for src in srcs:
        fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(20)
        s.bind((src, 0))
        t0 = time.perf_counter()
        s.connect((dst, port))
        banner = read_reply(s)
        t1 = time.perf_counter()
        s.sendall(b"QUIT\r\n")
        bye = read_reply(s)
        s.close()
        if not banner.startswith(b"220") or not bye.startswith(b"221"):
            print("session from %s: banner %r, quit %r" % (src, banner[:60], bye[:60]), file=sys.stderr)
            sys.exit(1)
        out.append(str(int((t1 - t0) * 1e6)))
    print(" ".join(out))


main()
