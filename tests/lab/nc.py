#!/usr/bin/python3
"""nc.py - a minimal netcat for the lab (stdlib only): connect to ADDR PORT,
copy stdin to the socket and the socket to stdout; at EOF on stdin
half-close, then wait for the peer's EOF. Addresses only, no name lookups.

  deploy/lab.sh exec /usr/bin/python3 tests/lab/nc.py 198.18.0.2 7
"""
import argparse
import ipaddress
import os
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser(description="tiny netcat (lab helper)")
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("--timeout", type=float, default=600.0, help="overall limit, seconds")
    ap.add_argument("--idle", type=float, default=60.0, help="idle limit, seconds")
    a = ap.parse_args()
    ip = ipaddress.ip_address(a.addr)
    fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect((str(ip), a.port))
    except OSError as e:
        print("nc.py: connect %s port %d: %s" % (ip, a.port, e), file=sys.stderr)
        return 1
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ, "sock")
    stdin = sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer
    sel.register(stdin, selectors.EVENT_READ, "stdin")
    deadline = time.monotonic() + a.timeout
    last = time.monotonic()
    stdin_open = True
    while time.monotonic() < deadline and time.monotonic() - last < a.idle:
        for key, _ in sel.select(1.0):
            if key.data == "stdin":
                data = os.read(stdin.fileno(), 65536)
                if not data:
                    sel.unregister(stdin)
                    stdin_open = False
                    s.shutdown(socket.SHUT_WR)
                else:
                    s.setblocking(True)
                    s.settimeout(a.idle)
                    s.sendall(data)
                    s.setblocking(False)
                last = time.monotonic()
            else:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    print("nc.py: %s" % e, file=sys.stderr)
                    return 1
                if not data:
                    return 0
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
                last = time.monotonic()
    print("nc.py: timed out (%s)" % ("stdin open" if stdin_open else "no EOF from peer"),
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
