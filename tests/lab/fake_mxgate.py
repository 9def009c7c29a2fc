#!/usr/bin/python3
"""fake_mxgate.py - a stand-in for build/mxgate that lets the lab harness
(deploy/lab.sh, tests/lab/run.sh, lib.sh, the clients) be checked before
the real binary exists. It is NOT a test of mxgate: the TCP under test is
the Linux kernel's, in a private network namespace of the fake's own.

  MXGATE=tests/lab/fake_mxgate.py tests/lab/run.sh

What it imitates: the command line (EAL options, then "-- -c CONFIG"), the
config check ("FILE:LINE: key: why", exit 1), the kernel-side interfaces
(a veth per "--vdev net_tapN,iface=NAME", whose other end goes into an
unnamed namespace that holds the appliance addresses and an echo server on
echo_port), the "mxgate: ready" line, SIGUSR1 (counters to stats_file,
Prometheus text, temp file + rename) and SIGTERM/SIGINT (counters to the
log, exit 0). Counters come from the private namespace's /proc/PID/net
files, mapped to mxgate's names as well as the kernel allows; they all
appear under the first worker lcore, so t_two_workers fails with it, as
it should.
"""
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

MAX_LIFE = 3600  # seconds: the fake ends by itself after an hour

KNOWN_KEYS = {
    "hostname", "outside_device", "outside_ipv4", "outside_gateway4", "outside_ipv6",
    "outside_gateway6", "outside_mtu", "inside_device", "inside_ipv4", "inside_gateway4",
    "inside_ipv6", "inside_gateway6", "inside_mtu", "worker_lcores", "mbuf_pool_size",
    "mbuf_cache_size", "rx_ring_size", "tx_ring_size", "max_conns", "syn_backlog",
    "reasm_limit", "reasm_total", "rcvbuf", "sndbuf", "timewait_max", "timewait_ms",
    "echo_port", "echo_idle_ms", "idle_sleep_us", "stats_file", "impair",
}
NUMERIC = {"mbuf_pool_size", "mbuf_cache_size", "rx_ring_size", "tx_ring_size", "max_conns",
           "syn_backlog", "reasm_limit", "reasm_total", "rcvbuf", "sndbuf", "timewait_max",
           "timewait_ms", "echo_port", "echo_idle_ms", "idle_sleep_us", "outside_mtu",
           "inside_mtu"}

DROP_REASONS = """eth_short eth_type multiseg arp_bad ip4_short ip4_bad_header ip4_csum
ip4_fragment ip4_not_ours ip4_proto ip6_short ip6_bad_header ip6_fragment ip6_not_ours
ip6_proto icmp_bad icmp_ignored nd_bad tcp_short tcp_csum tcp_bad_options tcp_bad_flags
tcp_no_listener tcp_conn_limit tcp_syncookie_bad tcp_paws tcp_out_of_window tcp_bad_ack
tcp_reasm_limit tcp_rcvbuf_full tcp_challenge_limit neigh_unresolved neigh_pending_full
no_route nombuf tx_full steer_full""".split()

FIELDS = """rx_packets rx_bytes tx_packets tx_bytes steered_out steered_in arp_requests_sent
arp_replies_sent nd_solicits_sent nd_adverts_sent icmp_echo_replies pmtu_updates
tcp_passive_opens tcp_active_opens tcp_active_fails tcp_closed tcp_refused tcp_resets_in
tcp_resets_out tcp_retransmits tcp_rto tcp_fast_retransmits tcp_ooo_segments
tcp_dup_segments tcp_syncookies_sent tcp_syncookies_ok tcp_challenge_acks
tcp_timewait_recycled tcp_zero_window_probes tcp_conns busy_cycles idle_cycles""".split()


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def parse_config(path):
    """Postfix main.cf style; exits 1 with FILE:LINE: key: why."""
    cfg = {}
    try:
        lines = open(path).read().split("\n")
    except OSError as e:
        log("%s: %s" % (path, e.strerror))
        sys.exit(1)
    last = None
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            if last is None:
                log("%s:%d: continuation line without a parameter" % (path, n))
                sys.exit(1)
            cfg[last] += " " + line.strip()
            continue
        m = re.match(r"^([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$", line)
        if not m:
            log("%s:%d: %s: expected 'key = value'" % (path, n, line.split()[0]))
            sys.exit(1)
        key, val = m.group(1), m.group(2)
        if key not in KNOWN_KEYS:
            log("%s:%d: %s: unknown parameter" % (path, n, key))
            sys.exit(1)
        if key in NUMERIC and not val.isdigit():
            log("%s:%d: %s: not a number: '%s'" % (path, n, key, val))
            sys.exit(1)
        cfg[key] = val
        last = key
    return cfg


def pdeathsig():
    """In the child: die with the parent."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


# ---------------------------------------------------------------- child side

def echo_conn(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
        c.shutdown(socket.SHUT_WR)
        c.settimeout(5)
        while c.recv(65536):
            pass
    except OSError:
        pass
    finally:
        c.close()


def have_if(name):
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def child_main(spec):
    """Runs in the private namespace: addresses, routes, echo server."""
    ports = [p.split("|") for p in spec.split(",")]  # ifname|ip4|gw4|ip6|gw6
    print("netns", flush=True)  # unshare has run: the parent may move the veths in
    run("ip", "link", "set", "lo", "up")
    deadline = time.monotonic() + 10
    for p in ports:
        while not have_if(p[0]):
            if time.monotonic() > deadline:
                log("fake child: %s never arrived" % p[0])
                sys.exit(1)
            time.sleep(0.02)
    for i, (ifn, ip4, gw4, ip6, gw6) in enumerate(ports):
        if ip4:
            run("ip", "addr", "add", ip4, "dev", ifn)
        if ip6:
            run("ip", "-6", "addr", "add", ip6, "dev", ifn, "nodad")
        run("ip", "link", "set", ifn, "up")
        if i == 0 and gw4:
            run("ip", "route", "add", "default", "via", gw4, "dev", ifn)
        if i == 0 and gw6:
            run("ip", "-6", "route", "add", "default", "via", gw6, "dev", ifn)
    port = int(os.environ.get("FAKE_ECHO_PORT", "7"))
    backlog = int(os.environ.get("FAKE_BACKLOG", "1024"))
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    # bounded buffers like mxgate's (rcvbuf, sndbuf), not the kernel's autotuning
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(os.environ.get("FAKE_RCVBUF", "262144")))
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, int(os.environ.get("FAKE_SNDBUF", "262144")))
    ls.bind(("::", port))
    ls.listen(backlog)
    ls.settimeout(1.0)
    print("ready", flush=True)
    end = time.monotonic() + MAX_LIFE
    while time.monotonic() < end:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        c.settimeout(60)
        threading.Thread(target=echo_conn, args=(c,), daemon=True).start()


# ---------------------------------------------------------------- counters

def read_pairs(path):
    out = {}
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return out
    if path.endswith("snmp6"):
        for ln in lines:
            k, v = ln.split()[:2]
            out[k] = int(v)
        return out
    for a, b in zip(lines[0::2], lines[1::2]):
        k, v = a.split(), b.split()
        for x, y in zip(k[1:], v[1:]):
            try:
                out[k[0] + x] = int(y)
            except ValueError:
                pass
    return out


def counters(pid, ifnames):
    base = "/proc/%d/net/" % pid
    s = {}
    for f in ("snmp", "netstat", "snmp6"):
        s.update(read_pairs(base + f))
    g = lambda k: s.get(k, 0)
    c = dict.fromkeys(FIELDS, 0)
    try:
        for ln in open(base + "dev").read().splitlines()[2:]:
            name, rest = ln.split(":", 1)
            if name.strip() in ifnames:
                v = [int(x) for x in rest.split()]
                c["rx_bytes"] += v[0]
                c["rx_packets"] += v[1]
                c["tx_bytes"] += v[8]
                c["tx_packets"] += v[9]
    except OSError:
        pass
    c["icmp_echo_replies"] = g("Icmp:OutEchoReps") + g("Icmp6OutEchoReplies")
    c["tcp_passive_opens"] = g("Tcp:PassiveOpens")
    c["tcp_active_opens"] = g("Tcp:ActiveOpens")
    c["tcp_active_fails"] = g("Tcp:AttemptFails")
    c["tcp_resets_in"] = g("Tcp:EstabResets")
    c["tcp_resets_out"] = g("Tcp:OutRsts")
    c["tcp_retransmits"] = g("Tcp:RetransSegs")
    c["tcp_rto"] = g("TcpExt:TCPTimeouts")
    c["tcp_fast_retransmits"] = g("TcpExt:TCPFastRetrans")
    c["tcp_ooo_segments"] = g("TcpExt:TCPOFOQueue")
    c["tcp_dup_segments"] = g("TcpExt:TCPDSACKRecv")
    c["tcp_syncookies_sent"] = g("TcpExt:SyncookiesSent")
    c["tcp_syncookies_ok"] = g("TcpExt:SyncookiesRecv")
    c["tcp_challenge_acks"] = g("TcpExt:TCPChallengeACK")
    c["tcp_zero_window_probes"] = g("TcpExt:TCPWinProbe")
    n = 0
    for f in ("tcp", "tcp6"):
        try:
            for ln in open(base + f).read().splitlines()[1:]:
                st = ln.split()[3]
                if st not in ("0A", "06"):  # LISTEN, TIME_WAIT
                    n += 1
        except OSError:
            pass
    c["tcp_conns"] = n
    d = dict.fromkeys(DROP_REASONS, 0)
    d["ip4_csum"] = g("Ip:InCsumErrors") or g("Ip:InHdrErrors")
    d["ip4_short"] = g("Ip:InTruncatedPkts")
    d["ip4_fragment"] = g("Ip:ReasmReqds")
    d["ip6_short"] = g("Ip6InTruncatedPkts")
    d["icmp_bad"] = g("Icmp:InCsumErrors") + g("Icmp6InCsumErrors")
    d["tcp_csum"] = g("Tcp:InCsumErrors")
    d["tcp_short"] = g("Tcp:InErrs")
    return c, d


def prometheus(pid, ifnames, lcores):
    c, d = counters(pid, ifnames)
    out = []
    for i, lc in enumerate(lcores):
        for f in FIELDS:
            v = c[f] if i == 0 else 0
            if f == "tcp_conns":
                out.append('mxgate_tcp_conns{lcore="%s"} %d' % (lc, v))
            else:
                out.append('mxgate_%s_total{lcore="%s"} %d' % (f, lc, v))
        for r in DROP_REASONS:
            out.append('mxgate_drops_total{lcore="%s",reason="%s"} %d'
                       % (lc, r, d[r] if i == 0 else 0))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- parent side

def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--child"]:
        pdeathsig()
        return child_main(argv[1])
    if "--" not in argv:
        log("usage: fake_mxgate.py [EAL options] -- -c CONFIG")
        return 1
    eal, app = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    if len(app) != 2 or app[0] != "-c":
        log("usage: fake_mxgate.py [EAL options] -- -c CONFIG")
        return 1
    vdev_if = {}
    lcores = []
    for i, a in enumerate(eal):
        if a == "--vdev" and i + 1 < len(eal):
            parts = eal[i + 1].split(",")
            kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
            vdev_if[parts[0]] = kv.get("iface", parts[0])
        if a == "--lcores" and i + 1 < len(eal):
            lcores = [x.split("@")[0] for x in eal[i + 1].split(",")][1:]
    lcores = lcores or ["1"]
    cfg = parse_config(app[1])
    stats_file = cfg.get("stats_file", "")
    if "outside_device" not in cfg:
        log("%s: outside_device: missing" % app[1])
        return 1
    ports = []
    for role in ("outside", "inside"):
        dev = cfg.get(role + "_device")
        if not dev:
            continue
        if dev not in vdev_if:
            log("mxgate: %s_device %s: no such DPDK device" % (role, dev))
            return 1
        ports.append((vdev_if[dev], "fx%d" % len(ports), cfg.get(role + "_ipv4", ""),
                      cfg.get(role + "_gateway4", ""), cfg.get(role + "_ipv6", ""),
                      cfg.get(role + "_gateway6", "")))
    log("mxgate: FAKE (tests/lab/fake_mxgate.py): kernel TCP in a private namespace")
    for kif, peer, *_ in ports:
        run("ip", "link", "add", kif, "type", "veth", "peer", "name", peer)
    spec = ",".join("|".join(p[1:]) for p in ports)
    env = dict(os.environ, FAKE_ECHO_PORT=cfg.get("echo_port", "7"),
               FAKE_BACKLOG=cfg.get("syn_backlog", "1024"),
               FAKE_RCVBUF=cfg.get("rcvbuf", "262144"), FAKE_SNDBUF=cfg.get("sndbuf", "262144"))
    child = subprocess.Popen(["unshare", "--net", "--", sys.executable, os.path.abspath(__file__),
                              "--child", spec], stdout=subprocess.PIPE, env=env,
                             preexec_fn=pdeathsig)
    if child.stdout.readline().strip() != b"netns":
        log("mxgate: fake child failed")
        child.kill()
        return 1
    for _, peer, *_ in ports:
        run("ip", "link", "set", peer, "netns", str(child.pid))
    line = child.stdout.readline()
    if line.strip() != b"ready":
        log("mxgate: fake child failed")
        child.kill()
        return 1
    ifnames = [p[1] for p in ports]
    stop = threading.Event()

    def on_usr1(*_):
        if not stats_file:
            log(prometheus(child.pid, ifnames, lcores))
            return
        tmp = stats_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(prometheus(child.pid, ifnames, lcores))
        os.rename(tmp, stats_file)

    def on_term(*_):
        stop.set()

    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    log("mxgate: ready")
    end = time.monotonic() + MAX_LIFE
    while not stop.is_set() and child.poll() is None and time.monotonic() < end:
        stop.wait(0.2)
    log("mxgate: exiting; counters:")
    log(prometheus(child.pid, ifnames, lcores).rstrip())
    child.kill()
    child.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
