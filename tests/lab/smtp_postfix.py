#!/usr/bin/python3
"""smtp_postfix.py - a private Postfix instance as mxgate's backend, run
inside the lab namespace (this script runs there through lab_py):

  smtp_postfix.py setup --dir D      main.cf, master.cf, header_checks, queue
        [--tls-cert F --tls-key F --sasl-user U --sasl-password P]
                                     and 198.18.1.1:2527: STARTTLS with that
                                     certificate, SMTP AUTH (Cyrus sasldb in
                                     D/sasl, PLAIN and LOGIN, also without TLS)
                                     required for every recipient
        [--proxy-rate-limit N]       and on 2526 smtpd_client_connection_rate_limit
                                     = N (anvil counts the PROXY header's client)
  smtp_postfix.py start --dir D      postfix -c D check, postfix -c D start,
                                     wait until 198.18.1.1:2525 and :2526 listen
  smtp_postfix.py stop --dir D       postfix -c D stop; then SIGKILL whatever
                                     master and its children left (by pid)
  smtp_postfix.py wait-log --dir D --re REGEX [--count N] [--timeout S]
                                     wait for N lines of D/maillog matching REGEX
  smtp_postfix.py headers --dir D --match REGEX
                                     the headers (postcat -hq) of the held
                                     message whose log line matches REGEX

Everything lives under D: config_directory, queue_directory,
data_directory, maillog_file. The instance listens on 198.18.1.1 only:
2525 plain (XCLIENT allowed from mxgate's 198.18.1.2), 2526 with
smtpd_upstream_proxy_protocol = haproxy. No DNS anywhere
(smtp_dns_support_level = disabled, smtpd_peername_lookup = no). Messages
are put on hold by a header_checks rule, so postcat can show what arrived.
"""
import argparse
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time

MAIN_CF = """\
# private Postfix instance of an mxgate lab test (tests/lab/smtp_postfix.py)
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = backend.lab.example
mydomain = lab.example
myorigin = lab.example
mydestination = lab.example
inet_interfaces = 198.18.1.1
inet_protocols = ipv4, ipv6
mynetworks = 198.18.1.0/24
smtpd_authorized_xclient_hosts = 198.18.1.2
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
local_recipient_maps =
local_transport = discard:lab
alias_maps =
alias_database =
biff = no
header_checks = regexp:{d}/header_checks
"""

MASTER_CF = """\
198.18.1.1:2525 inet n - n - - smtpd
198.18.1.1:2526 inet n - n - - smtpd -o smtpd_upstream_proxy_protocol=haproxy
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def say(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def die(msg):
    say("smtp_postfix.py: FAIL " + msg)
    sys.exit(1)


def run(argv, timeout=30):
    say("$ " + " ".join(argv))
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    out = p.stdout.decode("latin-1")
    if out.strip():
        say(out.rstrip())
    return p.returncode, out


# 2527: STARTTLS offered, AUTH required (the relay's AuthInfo, issue 13)
MASTER_TLS_SASL = (
    "198.18.1.1:2527 inet n - n - - smtpd -o smtpd_tls_security_level=may"
    " -o smtpd_tls_cert_file={d}/tls.crt -o smtpd_tls_key_file={d}/tls.key -o smtpd_tls_loglevel=1"
    " -o smtpd_sasl_auth_enable=yes -o smtpd_tls_auth_only=no -o smtpd_sasl_path=smtpd"
    " -o cyrus_sasl_config_path={d}/sasl"
    " -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"
    " -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject\n"
    "tlsmgr    unix  - - n 1000? 1 tlsmgr\n")

SASL_CONF = """\
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: {d}/sasl/sasldb2
mech_list: PLAIN LOGIN
"""


def setup_tls_sasl(d, a):
    """The 2527 listener: its certificate, and one user in a Cyrus sasldb."""
    pw = pwd.getpwnam("postfix")
    for src, dst in ((a.tls_cert, "tls.crt"), (a.tls_key, "tls.key")):
        with open(src) as f, open(os.path.join(d, dst), "w") as g:
            g.write(f.read())
    os.makedirs(os.path.join(d, "sasl"), exist_ok=True)
    with open(os.path.join(d, "sasl", "smtpd.conf"), "w") as f:
        f.write(SASL_CONF.format(d=d))
    db = os.path.join(d, "sasl", "sasldb2")
    p = subprocess.run(["saslpasswd2", "-f", db, "-c", "-p", "-u", "backend.lab.example", a.sasl_user],
                       input=a.sasl_password.encode(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    if p.returncode != 0:
        die("saslpasswd2 failed: %s" % p.stdout.decode("latin-1").strip())
    os.chown(db, pw.pw_uid, pw.pw_gid)
    os.chmod(db, 0o600)
    with open(os.path.join(d, "master.cf"), "a") as f:
        f.write(MASTER_TLS_SASL.format(d=d))
    say("198.18.1.1:2527: STARTTLS and SMTP AUTH (user %s)" % a.sasl_user)


def setup(d, a=None):
    d = os.path.abspath(d)
    os.makedirs(os.path.join(d, "queue"), exist_ok=True)
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    pw = pwd.getpwnam("postfix")
    os.chown(os.path.join(d, "data"), pw.pw_uid, pw.pw_gid)
    with open(os.path.join(d, "main.cf"), "w") as f:
        f.write(MAIN_CF.format(d=d))
    with open(os.path.join(d, "master.cf"), "w") as f:
        master = MASTER_CF
        if a is not None and a.proxy_rate_limit:
            master = master.replace("smtpd_upstream_proxy_protocol=haproxy\n",
                                    "smtpd_upstream_proxy_protocol=haproxy"
                                    " -o smtpd_client_connection_rate_limit=%d\n" % a.proxy_rate_limit)
        f.write(master)
    with open(os.path.join(d, "header_checks"), "w") as f:
        f.write("/^Subject:/ HOLD held by the lab test\n")
    open(os.path.join(d, "maillog"), "a").close()
    if a is not None and a.tls_cert:
        setup_tls_sasl(d, a)
    say("Postfix instance set up in %s" % d)


def master_pid(d):
    try:
        with open(os.path.join(d, "queue", "pid", "master.pid")) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
        return st not in ("Z", "X")
    except OSError:
        return False


def children(pid):
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % e) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(e))
    return out


def listening(port):
    """A listener on 198.18.1.1:port (from /proc/net/tcp: a test connection to
    the PROXY port would make Postfix log a broken PROXY header)."""
    want = "%08X:%04X" % (int.from_bytes(socket.inet_aton("198.18.1.1"), "little"), port)
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1] == want and fields[3] == "0A":   # TCP_LISTEN
                    return True
    except OSError:
        pass
    return False


def start(d):
    rc, out = run(["postfix", "-c", d, "check"])
    if rc != 0:
        die("postfix -c %s check failed (exit %d)" % (d, rc))
    rc, out = run(["postfix", "-c", d, "start"], timeout=60)
    if rc != 0:
        try:
            with open(os.path.join(d, "maillog")) as f:
                say("".join(f.readlines()[-15:]))
        except OSError:
            pass
        die("postfix -c %s start failed (exit %d)" % (d, rc))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if listening(2525) and listening(2526) and (
                "2527" not in open(os.path.join(d, "master.cf")).read() or listening(2527)):
            say("Postfix master pid %s listens on 198.18.1.1:2525 and :2526" % master_pid(d))
            return
        time.sleep(0.2)
    die("Postfix does not listen on 198.18.1.1:2525/2526 within 15 s")


def stop(d):
    pid = master_pid(d)
    kids = children(pid) if pid and alive(pid) else []
    rc, out = run(["postfix", "-c", d, "stop"], timeout=30)
    deadline = time.monotonic() + 5
    while pid and alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in ([pid] if pid else []) + kids if alive(p)]
    for p in left:
        say("killing left-over Postfix process %d" % p)
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    say("Postfix stopped (master pid %s)" % pid)


def read_log(d):
    try:
        with open(os.path.join(d, "maillog"), encoding="latin-1") as f:
            return f.read().splitlines()
    except OSError:
        return []


def wait_log(d, regex, count, timeout):
    r = re.compile(regex)
    deadline = time.monotonic() + timeout
    while True:
        hits = [l for l in read_log(d) if r.search(l)]
        if len(hits) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for l in hits[:5]:
        say("  | " + l)
    if len(hits) >= count:
        say("ok: Postfix log has %d line(s) matching /%s/" % (len(hits), regex))
        return 0
    say("FAIL: Postfix log has %d line(s) matching /%s/, expected %d" % (len(hits), regex, count))
    return 1


def headers(d, regex):
    r = re.compile(regex)
    deadline = time.monotonic() + 10
    qid = None
    while qid is None and time.monotonic() < deadline:
        for l in read_log(d):
            m = re.search(r"\]: ([0-9A-F]{6,}): ", l)
            if m and r.search(l):
                qid = m.group(1)
                break
        else:
            time.sleep(0.2)
    if qid is None:
        die("no Postfix log line matching /%s/ with a queue id" % regex)
    rc, out = run(["postcat", "-c", d, "-hq", qid])
    if rc != 0:
        die("postcat -c %s -hq %s failed" % (d, qid))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cmd", choices=["setup", "start", "stop", "wait-log", "headers"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--re")
    ap.add_argument("--match")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--sasl-user")
    ap.add_argument("--sasl-password")
    ap.add_argument("--proxy-rate-limit", type=int, default=0)
    a = ap.parse_args()
    d = os.path.abspath(a.dir)
    if a.cmd == "setup":
        setup(d, a)
    elif a.cmd == "start":
        start(d)
    elif a.cmd == "stop":
        stop(d)
    elif a.cmd == "wait-log":
        return wait_log(d, a.re, a.count, a.timeout)
    elif a.cmd == "headers":
        return headers(d, a.match)
    return 0


if __name__ == "__main__":
    sys.exit(main())
