#!/usr/bin/env python3
"""mxctl_json_check.py DIR - check the --json outputs that t_mxctl_json.sh
wrote to DIR (one file per command: status.json, policy_list.json, ...)
against the state the test made: users alice and bob, certificate "lab"
with SNI mx2.lab.example, the lab certificate as CA bundle, no CRL, policy
version 1 with To:lab.example RELAY, one SMTP session from 198.18.0.1
(helo client.example), one worker, two ports. Types matter: a number must
be a number, a flag a boolean. Prints every mismatch; exit 1 if any."""
import json
import os
import sys

bad = []


def load(d, name):
    with open(os.path.join(d, name + ".json")) as f:
        return json.load(f)


def want(what, got, expected):
    """got must equal expected, type included (True is not 1)."""
    if type(got) is not type(expected) or got != expected:
        bad.append("%s: %r, expected %r" % (what, got, expected))


def is_type(what, got, t):
    if type(got) is not t:
        bad.append("%s: %r is not a %s" % (what, got, t.__name__))


def main():
    d = sys.argv[1]
    st = load(d, "status")
    g = st["mxgate"]["status"]
    want("mxgate.reachable", st["mxgate"]["reachable"], True)
    want("status.hostname", g["hostname"], "mx.lab.example")
    want("status.workers", g["workers"], 1)
    is_type("status.pid", g["pid"], int)
    is_type("status.started", g["started"], int)
    want("status.sessions", g["sessions"], 1)
    want("status.draining", g["draining"], False)
    want("status.auth_users", g["auth_users"], 2)
    want("status.policy_version", g["policy_version"], 1)
    want("status.policy_entries", g["policy_entries"], 1)
    want("status.policy_layers", g["policy_layers"], {"access_file": 0, "pushed": 1, "replaced": 0})
    want("status.port roles", [p["role"] for p in g["port"]], ["outside", "inside"])
    want("status.port devices", [p["device"] for p in g["port"]], ["net_tap0", "net_tap1"])
    for p in g["port"]:
        want("status.port.mtu", p["mtu"], 1500)
    want("status.lcore", [(l["lcore"], l["worker"]) for l in g["lcore"]], [(1, 0)])
    is_type("status.lcore.tcp_conns", g["lcore"][0]["tcp_conns"], int)
    certs = g["certificate"]
    want("status.certificate names", [c["name"] for c in certs], ["lab"])
    want("status.certificate source", certs[0].get("source"), "control")
    want("status.certificate default", certs[0].get("default"), True)
    is_type("status.certificate not_after", certs[0].get("not_after"), str)
    want("status.tls_ca", g["tls_ca"], {"source": "control", "certificates": 1})
    want("status.tls_crl.source", g["tls_crl"]["source"], "none")
    want("status.tickets", g["tickets"], "from control plane")
    r = st["redis"]
    want("redis.reachable", r["reachable"], True)
    want("redis.policy_version", r["policy_version"], 1)
    want("redis.policy_entries", r["policy_entries"], 1)
    want("redis.certificates", r["certificates"], 1)
    want("redis.ticket_keys.current", r["ticket_keys"]["current"], True)

    stats = load(d, "stats")
    is_type("stats total.smtp_messages_total.accepted",
            stats["total"]["smtp_messages_total"]["accepted"], int)
    ses = load(d, "sessions")
    want("sessions count", len(ses), 1)
    if ses:
        want("sessions.0.client", ses[0]["client"], "198.18.0.1")
        want("sessions.0.helo", ses[0]["helo"], "client.example")

    pol = load(d, "policy_list")
    want("policy list", pol, {"version": 1, "entries": [{"key": "To:lab.example", "value": "RELAY"}]})
    want("user list", load(d, "user_list"), [{"name": "alice"}, {"name": "bob"}])
    want("user list --check", load(d, "user_list_check"),
         [{"name": "alice", "valid": True}, {"name": "bob", "valid": True}])
    cl = load(d, "cert_list")
    want("cert list names", [c["name"] for c in cl], ["lab"])
    if cl:
        want("cert list sni", cl[0]["sni"], ["mx2.lab.example"])
        want("cert list chain", cl[0]["chain"], 1)
        want("cert list ocsp_bytes", cl[0]["ocsp_bytes"], None)
        if "mx.lab.example" not in cl[0]["subject"]:
            bad.append("cert list subject: %r" % cl[0]["subject"])
    ca = load(d, "ca_show")
    want("ca show count", len(ca), 1)
    if ca:
        want("ca show valid_now", ca[0]["valid_now"], True)
        is_type("ca show ca", ca[0]["ca"], bool)
        if "mx.lab.example" not in ca[0]["subject"]:
            bad.append("ca show subject: %r" % ca[0]["subject"])
    want("crl show", load(d, "crl_show"), [])
    for b in bad:
        print("mismatch: " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
