#!/usr/bin/env bash
# t_dns_names.sh - client names from a real DNS server (nsd in the lab
# namespace, tests/lab/dns_lib.sh), Postfix's client_name: PTR, then the
# forward lookup must contain the address. Verified names appear in
# "connect from NAME[ADDR]" and in the Received header "(NAME [ADDR])",
# over IPv4 and IPv6 (AAAA); a PTR whose forward lookup does not give the
# address back (forged) leaves the client "unknown", and a Connect: entry
# for that name does not match it, while a Connect: host entry for a
# verified name refuses that client. A PTR reply too big for UDP is asked
# again over TCP. A second session from the same client is answered from
# the worker's cache (one worker: the cache is per worker, and a second
# worker would see the repeated client cold).
export LAB_WORKERS=1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dns_lib.sh"
lab_begin
acc=$LAB_DIR/access
cat >"$acc" <<'MAP' || fail "cannot write $acc"
To:lab.example			RELAY
Connect:forged.lab.example	REJECT
Connect:client12.lab.example	REJECT
MAP
lab_up "access_file = $acc" "dns_servers = 198.18.1.1:$DNS_PORT [2001:2:0:1::1]:$DNS_PORT" \
	"dns_timeout_ms = 2000" || fail "lab did not come up"
dns_up
dns_clients

received() { grep -rh -A1 '^Received: from helo.example' "$LAB_MAIL" 2>/dev/null | head -50; }

out=$(dns_mail 198.18.0.1)
echo "$out" | grep -qE '^<-  220 ' || fail "no banner for 198.18.0.1: $out"
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "198.18.0.1: message not accepted: $out"
expect_log 'connect from client1\.lab\.example\[198\.18\.0\.1\]' "connect from client1.lab.example[198.18.0.1]"
received | grep -q '^Received: from helo\.example (client1\.lab\.example \[198\.18\.0\.1\])' ||
	soft_fail "no Received header with (client1.lab.example [198.18.0.1]): $(received)"
ok "Received: from helo.example (client1.lab.example [198.18.0.1])"

out=$(dns_mail 2001:2::1)
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "2001:2::1: message not accepted: $out"
expect_log 'connect from client6\.lab\.example\[2001:2::1\]' "connect from client6.lab.example[2001:2::1] (PTR, AAAA)"
received | grep -q '(client6\.lab\.example \[IPv6:2001:2::1\])' ||
	soft_fail "no Received header with (client6.lab.example [IPv6:2001:2::1])"

out=$(dns_mail 198.18.0.11)
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "forged PTR: the client must still be served (as unknown): $out"
expect_log 'connect from unknown\[198\.18\.0\.11\]' "forged PTR (forward lookup without the address): unknown[198.18.0.11]"
received | grep -q '(unknown \[198\.18\.0\.11\])' || soft_fail "no Received header with (unknown [198.18.0.11])"
ok "Connect:forged.lab.example REJECT did not match the unverified name"

out=$(dns_mail 198.18.0.12)
echo "$out" | grep -qE '^<\*\* +550 5\.7\.1 Access denied' || fail "Connect:client12.lab.example REJECT: $out"
echo "$out" | grep -q '^<-  220' && fail "a client refused by name got the banner"
expect_log 'NOQUEUE: reject: CONNECT from client12\.lab\.example\[198\.18\.0\.12\]: 550 5\.7\.1' \
	"Connect: host entry matched the verified name"

out=$(dns_mail 198.18.0.14)
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "198.18.0.14: message not accepted: $out"
expect_log 'connect from big[0-9]+-a-label-long-enough-to-fill-a-datagram-quickly\.lab\.example\[198\.18\.0\.14\]' \
	"a truncated PTR reply, asked again over TCP, verified"
v=$(lab_stat_label mxgate_dns_queries_total transport tcp)
[ "${v:-0}" -ge 1 ] && ok "DNS over TCP after truncation: $v" || soft_fail "no DNS query over TCP (truncation)"

hits0=$(lab_stat_label mxgate_dns_cache_total event hit)
out=$(dns_mail 198.18.0.1)
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "second session from 198.18.0.1: $out"
hits1=$(lab_stat_label mxgate_dns_cache_total event hit)
[ "$hits1" -ge $((hits0 + 2)) ] && ok "the second session's PTR and A came from the cache ($hits0 -> $hits1)" ||
	soft_fail "cache hits $hits0 -> $hits1 for a repeated client"
log_has 'connect from client1\.lab\.example\[198\.18\.0\.1\]' 2 ||
	soft_fail "the cached session lost its name"

v=$(lab_stat_label mxgate_dns_client_names_total status ok)
[ "$v" -ge 5 ] && ok "client names verified: $v" || soft_fail "client names verified: $v, expected >= 5"
v=$(lab_stat_label mxgate_dns_client_names_total status forged)
[ "$v" -ge 1 ] && ok "forged names: $v" || soft_fail "forged names: $v, expected >= 1"
dns_down
expect_alive "after the DNS sessions"
lab_end
