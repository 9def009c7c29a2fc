#!/usr/bin/env bash
# t_smtp_xclient.sh - a real Postfix smtpd as the backend (a private
# instance in the lab namespace, smtp_postfix.py; smtpd_authorized_xclient_hosts
# = mxgate's 198.18.1.2): mxgate announces each client with XCLIENT, and
# Postfix must attribute the mail to the real client: "client=unknown[198.18.0.1]"
# (and [2001:2::1] over IPv6), the client's HELO name in its hold log line
# and in its Received header ("from client.example (unknown [198.18.0.1])"),
# while the TCP connection itself came from 198.18.1.2. Postfix is started
# with postfix -c DIR check/start inside the namespace and stopped again.
. "$(dirname "$0")/lib.sh"
lab_begin
postfix_lab_up "backends = 198.18.1.1:2525"

pf_send xclient-v4 198.18.0.2 client.example --tls
pf_send xclient-v6 2001:2::2 client6.example

pfl 'connect from unknown\[198\.18\.1\.2\]' "mxgate's own connection came from 198.18.1.2"
pf_real_client xclient

expect_log 'status=sent \(250 2\.0\.0 Ok: queued as' "status=sent (250 2.0.0 Ok: queued as ...)"
expect_smtp 'announced{method="xclient"}' -ge 2
expect_smtp 'announced{method="proxy_v2"}' -eq 0
expect_smtp 'messages{result="accepted"}' -eq 2
expect_smtp backend_errors -eq 0
pf stop
PF_UP=
soft_wait_stat_eq mxgate_smtp_active 0 5
expect_alive "after relaying to Postfix"
lab_end
