#!/usr/bin/python3
"""smtp_openssl.py - drive `openssl s_client` against mxgate like a person
at a terminal: wait for the handshake summary (-brief, on stderr), then
type EHLO, MAIL, RCPT, DATA, the message and QUIT one at a time, each
only after the previous reply arrived on stdout. Checks the protocol
version, the certificate subject (CN=mx.lab.example) and every reply.

Usage: smtp_openssl.py [--host 198.18.0.2] [--port 25] [--starttls]
       [--tls1_2] --msgid ID [--timeout S]
"""
import argparse
import queue
import subprocess
import threading
import time

import labclient as lc
import smtp_util as su
from smtp_util import check, bad, say


def reader(stream, q, tag):
    for line in iter(stream.readline, b""):
        q.put((tag, line.decode("latin-1").rstrip("\r\n")))
    q.put((tag, None))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="198.18.0.2")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--starttls", action="store_true")
    ap.add_argument("--tls1_2", action="store_true")
    ap.add_argument("--msgid", required=True)
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    ip = lc.check_addr(a.host)
    lc.watchdog(a.timeout + 10)
    target = "[%s]:%d" % (ip, a.port) if ip.version == 6 else "%s:%d" % (ip, a.port)
    argv = ["timeout", str(int(a.timeout)), "openssl", "s_client", "-connect", target,
            "-servername", "mx.lab.example", "-brief", "-ign_eof", "-crlf", "-nocommands"]
    if a.starttls:
        argv += ["-starttls", "smtp", "-name", "client.example"]
    if a.tls1_2:
        argv += ["-tls1_2"]
    say("running: " + " ".join(argv))
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    q = queue.Queue()
    for s, tag in ((p.stdout, "out"), (p.stderr, "err")):
        threading.Thread(target=reader, args=(s, q, tag), daemon=True).start()
    err = []
    early_out = []          # server lines that came while we waited for stderr
    deadline = time.monotonic() + a.timeout

    def next_line(tag_wanted, secs=10.0):
        end = min(deadline, time.monotonic() + secs)
        if tag_wanted == "out" and early_out:
            return early_out.pop(0)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                tag, line = q.get(timeout=left)
            except queue.Empty:
                return None
            if tag == "err":
                if line is not None:
                    err.append(line)
                    say("  stderr: " + line)
                if tag_wanted == "err":
                    return line
                continue
            if line is not None:
                say("  S: " + line)
            if tag_wanted == "err":
                # the greeting can beat s_client's summary: keep it for reply()
                if line is not None:
                    early_out.append(line)
                continue
            return line

    def reply(secs=10.0):
        """One SMTP reply from stdout: (code, [lines]) or (None, [])."""
        lines = []
        while True:
            line = next_line("out", secs)
            if line is None:
                return None, lines
            lines.append(line)
            if len(line) >= 4 and line[:3].isdigit() and line[3] == " ":
                return int(line[:3]), lines
            if len(line) == 3 and line.isdigit():
                return int(line), lines

    def send(text):
        for l in text.split("\n"):
            say("  C: " + l)
        p.stdin.write(text.encode() + b"\n")
        p.stdin.flush()

    # the handshake summary ends with a "Verification..." line (or "Server Temp Key")
    while True:
        line = next_line("err", 15)
        if line is None:
            break
        if line.startswith("Verification") or line.startswith("Verify return code"):
            # give the rest of the summary a moment
            time.sleep(0.2)
            while not q.empty():
                tag, l = q.get()
                if tag == "err" and l is not None:
                    err.append(l)
                    say("  stderr: " + l)
                elif tag == "out" and l is not None:
                    q.put((tag, l))
                    break
            break
    text = "\n".join(err)
    check("CONNECTION ESTABLISHED" in text, "s_client: connection established", text[-300:])
    want = "TLSv1.2" if a.tls1_2 else "TLSv1.3"
    check("Protocol version: %s" % want in text, "s_client: protocol %s" % want, text[-300:])
    check("Peer certificate: CN = mx.lab.example" in text or "Peer certificate: CN=mx.lab.example" in text,
          "s_client: peer certificate subject CN=mx.lab.example", text[-300:])

    if not a.starttls:
        code, _ = reply()
        check(code == 220, "greeting inside TLS on %d" % a.port, str(code))
    send("EHLO client.example")
    code, lines = reply()
    check(code == 250, "EHLO inside TLS -> 250", str(lines))
    check(not any("STARTTLS" in l for l in lines), "no STARTTLS offered inside TLS", str(lines))
    steps = [("MAIL FROM:<a@example.org>", 250), ("RCPT TO:<b@lab.example>", 250), ("DATA", 354),
             ("Subject: openssl\nMessage-ID: <%s@client.example>\n\nsent by openssl s_client\n.line with a dot\n."
              % a.msgid, 250),
             ("QUIT", 221)]
    for cmd, want_code in steps:
        send(cmd)
        code, lines = reply()
        if not check(code == want_code, "%s -> %s" % (cmd.split("\n")[0][:40], want_code),
                     "got %s %s" % (code, lines)):
            break
    try:
        p.stdin.close()
    except OSError:
        pass
    try:
        rc = p.wait(timeout=10)
        check(rc == 0, "s_client exited 0 after QUIT", "exit %s" % rc)
    except subprocess.TimeoutExpired:
        bad("s_client still running 10 s after QUIT")
        p.kill()
        p.wait()
    su.finish("smtp_openssl %s" % target)


if __name__ == "__main__":
    main()
