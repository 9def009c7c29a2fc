#!/usr/bin/env bash
# t_dns_dnsbl.sh - DNSBL and DNSWL scoring as postscreen_dnsbl_sites, with
# nsd in the lab namespace (tests/lab/dns_lib.sh): bl.example with a reply
# filter and weight 2, wl.example with weight -5, threshold 2. The
# lookups run at connect while the greeting delay runs. A listed client
# hears postscreen's "550 5.7.1 Service unavailable; client [ADDR]
# blocked using bl.example" instead of the banner; a client listed in both
# (allowlisted) and one whose reply is outside the filter are served;
# with dnsbl_action = drop the listed client gets 521 and the connection
# closes. An SMTPS (465) session, whose ClientHello comes while the
# lookups run, still gets its handshake and its name. Counted per site
# and outcome. Two workers: each worker's queries leave from ports whose
# replies RSS steers back to it. The access map comes first, as sendmail's
# check_relay: a listed client with Connect: OK or RELAY is served
# (postscreen's "ALLOWLISTED [addr]:port"), one without is still refused.
export LAB_WORKERS=2
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dns_lib.sh"
lab_begin
conf=("dns_servers = 198.18.1.1:$DNS_PORT" "dnsbl_sites = bl.example=127.0.0.[2..11]*2, wl.example*-5"
	"dnsbl_threshold = 2" "smtpd_greet_delay_ms = 300")
lab_up "${conf[@]}" || fail "lab did not come up"
dns_up
dns_clients

out=$(dns_mail 198.18.0.12)
echo "$out" | grep -qE '^<\*\* +550 5\.7\.1 Service unavailable; client \[198\.18\.0\.12\] blocked using bl\.example' ||
	fail "listed client: $out"
echo "$out" | grep -q '^<-  220' && fail "a listed client got the banner"
ok "listed: 550 5.7.1 Service unavailable; client [198.18.0.12] blocked using bl.example"
expect_log 'DNSBL rank 2 for \[198\.18\.0\.12\]:[0-9]+' "DNSBL rank 2 for [198.18.0.12]:port"
expect_log 'NOQUEUE: reject: CONNECT from client12\.lab\.example\[198\.18\.0\.12\]: 550 5\.7\.1 Service unavailable' \
	"NOQUEUE: reject: CONNECT ... blocked"

out=$(dns_mail 198.18.0.13)
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "allowlisted client (score 2-5): $out"
expect_log 'connect from client13\.lab\.example\[198\.18\.0\.13\]' "allowlisted client served, named"
out=$(dns_mail 198.18.0.15)
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "reply outside the filter (127.0.0.50): $out"
ok "a reply outside bl.example's filter does not count"
out=$(dns_mail 198.18.0.1)
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "unlisted client: $out"
out=$(DNS_MAIL_PORT=465 dns_mail 198.18.0.1 --tlsc)
echo "$out" | grep -qE '^<~  250 2\.0\.0' || fail "SMTPS while the lookups ran: $out"
ok "SMTPS: the handshake waited for the lookups"

v=$(lab_stat_label mxgate_dnsbl_lookups_total result listed)
[ "$v" -ge 3 ] && ok "DNSBL/DNSWL listed lookups: $v" || soft_fail "listed lookups: $v, expected >= 3 (12, 13 twice)"
v=$(lab_stat_label mxgate_dnsbl_lookups_total site wl.example)
[ "$v" -ge 4 ] && ok "wl.example asked for every client: $v" || soft_fail "wl.example lookups: $v"
v=$(lab_stat mxgate_dnsbl_blocked_total) || true
[ "${v:-0}" -eq 1 ] && ok "blocked: 1" || soft_fail "mxgate_dnsbl_blocked_total = $v, expected 1"

# dnsbl_action = drop: 521 and close
dns_down
lab_down >/dev/null 2>&1
lab_up "${conf[@]}" "dnsbl_action = drop" || fail "lab did not come up (drop)"
dns_up
dns_clients
out=$(dns_mail 198.18.0.12)
echo "$out" | grep -qE '^<\*\* +521 5\.7\.1 Service unavailable; client \[198\.18\.0\.12\] blocked using bl\.example' ||
	fail "dnsbl_action = drop: $out"
ok "dnsbl_action = drop: 521 5.7.1 and close"

# the access map before the DNSBL, as sendmail's check_relay: Connect: OK
# or RELAY lets a listed client in, a client without such an entry is still
# refused. bl.example alone, no filter: 198.18.0.12, .13 and .15 all score 2.
dns_down
lab_down >/dev/null 2>&1
acc=$LAB_DIR/access
printf 'Connect:198.18.0.12\tOK\nConnect:client13.lab.example\tRELAY\nTo:lab.example\tRELAY\n' >"$acc" ||
	fail "cannot write $acc"
lab_up "dns_servers = 198.18.1.1:$DNS_PORT" "dnsbl_sites = bl.example*2" "dnsbl_threshold = 2" \
	"smtpd_greet_delay_ms = 300" "dnsbl_action = drop" "access_file = $acc" || fail "lab did not come up (access map)"
dns_up
dns_clients
out=$(dns_mail 198.18.0.12)
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "listed client with Connect:198.18.0.12 OK: $out"
expect_log 'ALLOWLISTED \[198\.18\.0\.12\]:[0-9]+' "Connect: OK: ALLOWLISTED [198.18.0.12]:port, served"
out=$(dns_mail 198.18.0.13)
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "listed client with Connect:client13.lab.example RELAY: $out"
ok "Connect: RELAY for the verified name: served"
out=$(dns_mail 198.18.0.15)
echo "$out" | grep -qE '^<\*\* +521 5\.7\.1 Service unavailable; client \[198\.18\.0\.15\] blocked using bl\.example' ||
	fail "listed client without a Connect: entry: $out"
ok "no Connect: entry: still 521"
v=$(lab_stat mxgate_smtp_dnsbl_exempt_total) || true
[ "${v:-0}" -eq 2 ] && ok "mxgate_smtp_dnsbl_exempt_total 2" || fail "mxgate_smtp_dnsbl_exempt_total = $v, expected 2"
dns_down
expect_alive "after the DNSBL sessions"
lab_end
