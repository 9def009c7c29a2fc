#!/usr/bin/env bash
# t_smtp_proxy.sh - a real Postfix smtpd as the backend (a private instance
# in the lab namespace, smtp_postfix.py) on a port with
# smtpd_upstream_proxy_protocol = haproxy: mxgate's backend "/proxy" sends a
# PROXY v2 header (with its TLS TLVs), and Postfix must see the client as
# the peer: "connect from unknown[198.18.0.1]" (and [2001:2::1] over IPv6),
# never mxgate's 198.18.1.2; the client's HELO name in its hold log line
# and Received header, as with XCLIENT. Postfix is started with
# postfix -c DIR check/start inside the namespace and stopped again.
. "$(dirname "$0")/lib.sh"
lab_begin
postfix_lab_up "backends = 198.18.1.1:2526/proxy"

pf_send proxy-v4 198.18.0.2 client.example --tls
pf_send proxy-v6 2001:2::2 client6.example

pfl 'connect from unknown\[198\.18\.0\.1\]' "the PROXY header made 198.18.0.1 the peer"
pfl 'connect from unknown\[2001:2::1\]' "the PROXY header made 2001:2::1 the peer"
pf_real_client proxy

expect_log 'status=sent \(250 2\.0\.0 Ok: queued as' "status=sent (250 2.0.0 Ok: queued as ...)"
n=$(lab_py smtp_postfix.py wait-log --dir "$PFD" --re 'connect from unknown\[198\.18\.1\.2\]' --count 1 --timeout 0 |
	grep -c '^  | ')
if [ "$n" -eq 0 ]; then
	ok "Postfix never saw mxgate's own address as a client"
else
	soft_fail "Postfix logged 'connect from unknown[198.18.1.2]' $n time(s): the PROXY header was not used"
fi
grep -q 'haproxy read' "$PFD/maillog" && soft_fail "Postfix complained about the PROXY header: $(grep -m1 'haproxy read' "$PFD/maillog")"
expect_smtp 'announced{method="proxy_v2"}' -ge 2
expect_smtp 'announced{method="xclient"}' -eq 0
expect_smtp 'messages{result="accepted"}' -eq 2
expect_smtp backend_errors -eq 0
pf stop
PF_UP=
soft_wait_stat_eq mxgate_smtp_active 0 5
expect_alive "after relaying to Postfix"
lab_end
