"""labclient.py - shared parts of the lab's Python clients (stdlib only):
the address guard (only the benchmarking ranges and loopback), a hard
overall deadline, a seeded pseudo-random byte stream, and an echo engine
that drives many connections at once with selectors, checking every byte
that comes back against what was sent.
"""
import hashlib
import ipaddress
import os
import random
import selectors
import socket
import sys
import threading
import time

ALLOWED = [ipaddress.ip_network(n) for n in
           ("198.18.0.0/15", "2001:2::/48", "127.0.0.0/8", "::1/128")]
CHUNK = 65536


def check_addr(host, what="host"):
    """Parse an address literal (never a name) and refuse anything outside the lab ranges."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        die("%s %r is not an address literal (names are never resolved)" % (what, host))
    if not any(ip in n for n in ALLOWED):
        die("%s %s is outside 198.18.0.0/15, 2001:2::/48 and loopback: refused" % (what, ip))
    return ip


def family(ip):
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def die(msg, code=2):
    sys.stdout.write("%s: FAIL %s\n" % (os.path.basename(sys.argv[0]), msg))
    sys.stdout.flush()
    os._exit(code)


def watchdog(seconds):
    """Kill the whole process after seconds, whatever it is blocked in."""
    def fire():
        die("overall timeout of %.0f s reached" % seconds, 3)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()
    return t


def connect(ip, port, timeout=10.0, src=None):
    s = socket.socket(family(ip), socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src is not None:
        s.bind((str(src), 0))
    s.connect((str(ip), port))
    return s


class Pattern:
    """Seeded pseudo-random stream: chunk k of stream (seed, idx) is fixed."""

    def __init__(self, seed, idx):
        self.seed = seed
        self.idx = idx
        self.k = 0

    def next_chunk(self):
        r = random.Random((self.seed * 1000003 + self.idx) * 1000003 + self.k)
        self.k += 1
        return r.randbytes(CHUNK)


class EchoConn:
    """One connection of the echo engine: sends total bytes, expects them back, then EOF."""

    def __init__(self, sock, total, seed, idx, half_close=True):
        self.sock = sock
        self.idx = idx
        self.total = total
        self.half_close = half_close
        self.tx_pat = Pattern(seed, idx)
        self.rx_pat = Pattern(seed, idx)
        self.txbuf = memoryview(b"")
        self.expect = bytearray()
        self.sent = 0
        self.rcvd = 0
        self.wr_closed = False
        self.eof = False
        self.error = None
        self.tx_hash = hashlib.sha256()
        self.rx_hash = hashlib.sha256()
        self.sending = True

    def want(self):
        ev = 0
        if not self.eof and not self.error:
            ev |= selectors.EVENT_READ
        if self.sending and not self.wr_closed and not self.error:
            ev |= selectors.EVENT_WRITE
        return ev

    def on_write(self):
        """Send what the socket takes; returns bytes sent."""
        n = 0
        while self.sent < self.total:
            if not self.txbuf:
                chunk = self.tx_pat.next_chunk()[: self.total - self.sent]
                self.tx_hash.update(chunk)
                self.txbuf = memoryview(chunk)
            try:
                k = self.sock.send(self.txbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                self.error = "send after %d bytes: %s" % (self.sent, e)
                return n
            self.txbuf = self.txbuf[k:]
            self.sent += k
            n += k
            if k == 0:
                break
        if self.sent >= self.total and not self.wr_closed and self.half_close:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError as e:
                self.error = "shutdown(SHUT_WR): %s" % e
            self.wr_closed = True
        return n

    def on_read(self):
        """Read and check what arrived; returns bytes read."""
        try:
            d = self.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as e:
            self.error = "recv after %d bytes: %s" % (self.rcvd, e)
            return 0
        if not d:
            self.eof = True
            if self.rcvd != self.total:
                self.error = "EOF after %d of %d bytes" % (self.rcvd, self.total)
            return 0
        if self.rcvd + len(d) > self.total:
            self.error = "got %d bytes, more than the %d sent" % (self.rcvd + len(d), self.total)
            return len(d)
        while len(self.expect) < len(d):
            self.expect += self.rx_pat.next_chunk()
        if self.expect[: len(d)] != d:
            i = next(j for j in range(len(d)) if d[j] != self.expect[j])
            self.error = "byte %d differs from what was sent" % (self.rcvd + i)
            return len(d)
        del self.expect[: len(d)]
        self.rx_hash.update(d)
        self.rcvd += len(d)
        return len(d)

    def done(self):
        return self.error is not None or (self.eof and (self.wr_closed or not self.half_close))


def run_echo(conns, deadline, io_timeout, stop=None):
    """Drive conns until every one is done; returns (ok, message)."""
    sel = selectors.DefaultSelector()
    for c in conns:
        c.sock.setblocking(False)
        sel.register(c.sock, c.want(), c)
    last = time.monotonic()
    while True:
        live = [c for c in conns if not c.done()]
        if not live:
            break
        if stop is not None and stop():
            break
        now = time.monotonic()
        if now > deadline:
            return False, "deadline reached with %d connection(s) unfinished" % len(live)
        if now - last > io_timeout:
            c = live[0]
            return False, ("no progress for %.0f s (conn %d: sent %d, echoed %d of %d)"
                           % (io_timeout, c.idx, c.sent, c.rcvd, c.total))
        for key, ev in sel.select(min(0.5, max(0.01, deadline - now))):
            c = key.data
            n = 0
            if ev & selectors.EVENT_READ:
                n += c.on_read()
            if ev & selectors.EVENT_WRITE:
                n += c.on_write()
            if n:
                last = time.monotonic()
            w = c.want()
            if c.done() or not w:
                try:
                    sel.unregister(c.sock)
                except (KeyError, ValueError):
                    pass
            elif w != key.events:
                sel.modify(c.sock, w, c)
    sel.close()
    bad = [c for c in conns if c.error]
    if bad:
        return False, "conn %d: %s" % (bad[0].idx, bad[0].error)
    for c in conns:
        if c.eof and c.half_close and c.tx_hash.digest() != c.rx_hash.digest():
            return False, "conn %d: sha256 of the echo differs" % c.idx
    return True, "ok"
