#!/usr/bin/env python3
"""ctl_oversize.py - a raw client of mxgate's control socket for
t_ctl_bounds.sh: sends one frame whose header declares PAYLOAD bytes of
type TYPE (only the first SEND bytes of the payload are sent; "all" sends
them all), prints the reply as "TYPE_NUMBER text", then whether the server
closed the connection ("closed" or "open").

  ctl_oversize.py SOCKET TYPE PAYLOAD SEND|all"""
import socket
import struct
import sys


def main():
    path, typ, plen, send = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    nsend = plen if send == "all" else int(send)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    s.sendall(struct.pack("!IBB", plen + 2, 1, typ))
    chunk = b"x" * 65536
    left = nsend
    try:
        while left > 0:
            n = s.send(chunk[:min(left, len(chunk))])
            left -= n
    except OSError as e:        # the server may close before we are done
        print("send stopped: %s" % e.strerror)
    buf = b""
    while len(buf) < 6:
        c = s.recv(6 - len(buf))
        if not c:
            print("no reply")
            return 1
        buf += c
    length, _, rtype = struct.unpack("!IBB", buf)
    data = b""
    while len(data) < length - 2:
        c = s.recv(length - 2 - len(data))
        if not c:
            break
        data += c
    print("%d %s" % (rtype, data.decode("utf-8", "replace")))
    s.settimeout(3)
    try:
        print("closed" if s.recv(1) == b"" else "open")
    except (socket.timeout, ConnectionResetError):
        print("open" if sys.exc_info()[0] is socket.timeout else "closed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
