#!/usr/bin/env python3
"""smtp_garbage.py - STARTTLS, then bytes that are no TLS record: the
appliance must end the session (reset or close), never answer in
plaintext. Lab only (198.18.0.2), bounded by a 10 s timeout."""
import socket
import sys

HOST, PORT = "198.18.0.2", 25


def reply(f):
    """Read one (possibly multi-line) SMTP reply; return its last line."""
    while True:
        line = f.readline(1024)
        if not line:
            raise SystemExit("smtp_garbage: FAIL connection closed early")
        if line[3:4] != b"-":
            return line


def main():
    s = socket.create_connection((HOST, PORT), timeout=10)
    f = s.makefile("rb")
    reply(f)
    s.sendall(b"EHLO client.example\r\n")
    reply(f)
    s.sendall(b"STARTTLS\r\n")
    r = reply(f)
    if not r.startswith(b"220"):
        raise SystemExit("smtp_garbage: FAIL STARTTLS got %r" % r)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)) * 4)
    try:
        rest = s.recv(4096)
    except ConnectionResetError:
        rest = b""
    if rest.startswith(b"2") or rest.startswith(b"5"):
        raise SystemExit("smtp_garbage: FAIL plaintext reply inside TLS: %r" % rest[:80])
    print("smtp_garbage: OK session ended after garbage (%d bytes back, an alert at most)" % len(rest))


if __name__ == "__main__":
    try:
        main()
    except socket.timeout:
        sys.exit("smtp_garbage: FAIL timeout: the session stayed open after garbage")
