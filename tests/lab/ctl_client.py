#!/usr/bin/env python3
"""ctl_client.py - a minimal client of mxgate's control socket (control/ctl.h),
for lab tests that must not depend on mxctl:

  ctl_client.py SOCKET status|stats|sessions|drain|resume
  ctl_client.py SOCKET set-policy VERSION FILE
  ctl_client.py SOCKET set-certs NAME:CHAIN:KEY[:SNI,SNI] ...
  ctl_client.py SOCKET set-users FILE      (lines "user hash")

Prints the reply's payload; exits 0 on OK/DATA, 1 on ERR."""
import socket
import struct
import sys

TYPES = {"status": 1, "stats": 2, "sessions": 3, "set-policy": 4, "drain": 6, "resume": 7,
         "set-certs": 8, "set-users": 9}


def call(path, typ, payload=b""):
    """One request, one reply: (type, payload)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    s.sendall(struct.pack("!IBB", len(payload) + 2, 1, typ) + payload)
    buf = b""
    while len(buf) < 6:
        chunk = s.recv(6 - len(buf))
        if not chunk:
            raise SystemExit("ctl_client: connection closed")
        buf += chunk
    length, version, rtype = struct.unpack("!IBB", buf)
    data = b""
    while len(data) < length - 2:
        chunk = s.recv(length - 2 - len(data))
        if not chunk:
            raise SystemExit("ctl_client: short reply")
        data += chunk
    s.close()
    return rtype, data


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    payload = b""
    if cmd == "set-policy":
        payload = sys.argv[3].encode() + b"\n" + open(sys.argv[4], "rb").read()
    elif cmd == "set-users":
        payload = open(sys.argv[3], "rb").read()
    elif cmd == "set-certs":
        for spec in sys.argv[3:]:
            parts = spec.split(":")
            name, chain, key = parts[0], open(parts[1], "rb").read(), open(parts[2], "rb").read()
            sni = parts[3] if len(parts) > 3 else "-"
            payload += b"CERT %s %s\n%d %d\n" % (name.encode(), sni.encode(), len(chain), len(key))
            payload += chain + key
    rtype, data = call(path, TYPES[cmd], payload)
    sys.stdout.write(data.decode("utf-8", "replace"))
    if not data.endswith(b"\n"):
        sys.stdout.write("\n")
    return 1 if rtype == 65 else 0


if __name__ == "__main__":
    sys.exit(main())
