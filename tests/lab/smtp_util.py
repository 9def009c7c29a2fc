"""smtp_util.py - shared parts of the lab's SMTP clients (stdlib only): a
raw SMTP client on a socket (byte-exact sends, reply parsing, STARTTLS and
implicit TLS with verification off, "nothing more came" and "closed"
checks), and readers for smtp-sink's dump files (the sink's own headers,
mxgate's Received header, the message as stored).

Addresses go through labclient.check_addr: only 198.18.0.0/15, 2001:2::/48
and loopback, never a name. Every read has a timeout.
"""
import os
import re
import socket
import ssl
import sys
import time

import labclient as lc

FAILS = []


def say(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def ok(msg):
    say("ok: " + msg)


def bad(msg):
    """A failed check: noted, the script goes on; finish() exits non-zero."""
    FAILS.append(msg)
    say("FAIL: " + msg)


def check(cond, msg, detail=""):
    if cond:
        ok(msg)
    else:
        bad(msg + (": " + detail if detail else ""))
    return cond


def finish(name):
    if FAILS:
        say("%s: %d check(s) failed" % (name, len(FAILS)))
        sys.exit(1)
    say("%s: all checks passed" % name)
    sys.exit(0)


def tls_context():
    """A client context that does not verify (the lab cert is self-signed)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Reply:
    def __init__(self, code, lines, raw):
        self.code = code        # int
        self.lines = lines      # text after "ddd-"/"ddd "
        self.raw = raw          # bytes as received

    @property
    def text(self):
        return " | ".join("%d %s" % (self.code, l) for l in self.lines)

    def __repr__(self):
        return repr(self.raw)


class Closed(Exception):
    pass


class Client:
    """A raw SMTP client: what is sent is exactly the bytes given."""

    def __init__(self, host, port, timeout=10.0, implicit_tls=False, sni="mx.lab.example",
                 ctx=None):
        self.ip = lc.check_addr(host)
        self.timeout = timeout
        self.sock = socket.socket(lc.family(self.ip), socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((str(self.ip), port))
        self.buf = b""
        self.tls = False
        self.sni = sni
        self.ctx = ctx or tls_context()
        if implicit_tls:
            self.start_tls()

    def start_tls(self):
        """Wrap the socket in TLS (after a 220 to STARTTLS, or at once on 465)."""
        if self.buf:
            raise AssertionError("server sent %r before the TLS handshake" % self.buf[:200])
        self.sock = self.ctx.wrap_socket(self.sock, server_hostname=self.sni)
        self.tls = True

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(65536)
        except ssl.SSLZeroReturnError:
            d = b""
        except (ConnectionResetError, ssl.SSLError) as e:
            raise Closed(str(e))
        if not d:
            raise Closed("EOF")
        self.buf += d

    def reply(self, timeout=None):
        """One complete reply (all its lines); raises Closed or socket.timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        lines = []
        raw = b""
        while True:
            while b"\n" not in self.buf:
                self._fill(deadline)
            line, self.buf = self.buf.split(b"\n", 1)
            line += b"\n"
            raw += line
            txt = line.decode("latin-1").rstrip("\r\n")
            if len(txt) < 3 or not txt[:3].isdigit():
                raise AssertionError("malformed reply line %r" % line)
            lines.append(txt[4:])
            if len(txt) == 3 or txt[3] == " ":
                return Reply(int(txt[:3]), lines, raw)
            if txt[3] != "-":
                raise AssertionError("malformed reply line %r" % line)

    def cmd(self, line, timeout=None):
        self.send(line if line.endswith("\r\n") else line + "\r\n")
        return self.reply(timeout)

    def quiet(self, secs):
        """True if nothing at all arrives within secs (and the connection stays open)."""
        deadline = time.monotonic() + secs
        if self.buf:
            return False
        try:
            self._fill(deadline)
        except socket.timeout:
            return True
        except Closed:
            return False
        return False

    def closed(self, secs=5.0):
        """True if the server closes within secs (anything it sends first is kept in buf)."""
        deadline = time.monotonic() + secs
        try:
            while True:
                self._fill(deadline)
        except Closed:
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def expect(r, code, enh=None, text=None, what=""):
    """Check a reply's code (int or 'd' prefix string), enhanced code and text."""
    if r is None:
        return bad("%s: no reply" % what)
    good = str(r.code).startswith(str(code))
    if good and enh is not None:
        # "4.4.1" must be the whole enhanced code, "4.4." a prefix of it
        good = (r.lines[-1].startswith(enh) if enh.endswith(".") else
                r.lines[-1].startswith(enh + " ") or r.lines[-1] == enh)
    if good and text is not None:
        good = text.lower() in " ".join(r.lines).lower()
    want = "%s%s%s" % (code, " " + enh if enh else "", " ..." + text if text else "")
    return check(good, "%s -> %s" % (what, r.text), "expected %s" % want)


# ---- smtp-sink dump files ----

def list_dumps(maildir):
    try:
        return sorted(os.path.join(maildir, f) for f in os.listdir(maildir)
                      if not f.startswith("."))
    except FileNotFoundError:
        return []


def wait_dumps(maildir, n, secs):
    """Wait until at least n dump files exist (smtp-sink writes them at '.')."""
    deadline = time.monotonic() + secs
    while True:
        files = list_dumps(maildir)
        if len(files) >= n or time.monotonic() > deadline:
            return files
        time.sleep(0.1)


RECEIVED_RE = re.compile(
    r"Received: from (?P<helo>\S+) \((?P<name>\S+) \[(?P<addr>[^\]]+)\]\)\n"
    r"\tby (?P<by>\S+) \(mxgate\) with (?P<with>\S+) id (?P<id>\S+?)"
    r"(?:\n\t\(version=(?P<version>\S+) cipher=(?P<cipher>\S+) bits=(?P<bits>\d+)"
    r" verify=(?P<verify>\S+)\))?"
    r"(?:\n\tfor <(?P<rcpt>[^>]*)>)?;\n"
    r"\t(?P<date>[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4})\n")


class Dump:
    """One smtp-sink dump file: its X-* records, its own Received, mxgate's
    Received (text and fields), and the message as stored (LF line ends)."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = f.read()
        self.sink = {}
        self.received = None
        self.fields = None
        self.message = None
        self.error = None
        self._parse()

    def _parse(self):
        d = self.data
        pos = 0
        # X-* records, one per line
        while d.startswith(b"X-", pos):
            e = d.index(b"\n", pos)
            k, _, v = d[pos:e].decode("latin-1").partition(": ")
            self.sink.setdefault(k, []).append(v)
            pos = e + 1
        # smtp-sink's own Received: three lines
        if not d.startswith(b"Received: from ", pos):
            self.error = "no smtp-sink Received header"
            return
        for _ in range(3):
            pos = d.index(b"\n", pos) + 1
        # mxgate's Received: a first line, then continuation lines (TAB)
        start = pos
        if not d.startswith(b"Received: from ", pos):
            self.error = "no mxgate Received header after smtp-sink's"
            return
        pos = d.index(b"\n", pos) + 1
        while d.startswith(b"\t", pos):
            pos = d.index(b"\n", pos) + 1
        self.received = d[start:pos].decode("latin-1")
        m = RECEIVED_RE.fullmatch(self.received)
        if m is None:
            self.error = "mxgate Received header does not parse: %r" % self.received
        else:
            self.fields = m.groupdict()
        # the rest: the message, then the empty line smtp-sink adds
        rest = d[pos:]
        if not rest.endswith(b"\n\n") and rest != b"\n":
            self.error = "dump does not end with the sink's empty line"
            return
        self.message = rest[:-1]


def sent_as_stored(msg):
    """What smtp-sink stores for a message sent as msg (CRLF lines, not dot-stuffed):
    the same lines with LF line ends."""
    if isinstance(msg, str):
        msg = msg.encode()
    if not msg.endswith(b"\r\n"):
        msg += b"\r\n"
    return msg.replace(b"\r\n", b"\n")


def dot_stuff(msg):
    """RFC 5321 4.5.2 transparency for a CRLF message."""
    lines = msg.split(b"\r\n")
    return b"\r\n".join((b"." + l) if l.startswith(b".") else l for l in lines)


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
