#!/usr/bin/env bash
# t_dns_timeout.sh - a DNS server that does not answer (nothing listens on
# dns_servers' port: every try times out): the banner waits at most for the
# tries (dns_timeout_ms, dns_retries), the client is "unknown" with
# ${client_resolve} TEMP, and where relaying would depend on its name (a
# Connect: NAME RELAY entry) it hears sendmail's "450 4.7.1 Relaying
# temporarily denied. Cannot resolve PTR record for ADDR" rather than a
# permanent refusal; mail for our own domain still goes through. Once the
# server answers (nsd started on that port), the same client is named
# and relays. Temporary failures are not cached.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dns_lib.sh"
lab_begin
DNS_PORT=19541
acc=$LAB_DIR/access
cat >"$acc" <<'MAP' || fail "cannot write $acc"
To:lab.example			RELAY
Connect:client1.lab.example	RELAY
MAP
lab_up "access_file = $acc" "dns_servers = 198.18.1.1:$DNS_PORT" "dns_timeout_ms = 300" "dns_retries = 1" \
	"dns_banner_wait_ms = 5000" || fail "lab did not come up"

out=$(dns_mail 198.18.0.1)
echo "$out" | grep -qE '^<-  220 ' || fail "no banner while DNS is down: $out"
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "mail for our domain with DNS down: $out"
expect_log 'connect from unknown\[198\.18\.0\.1\]' "DNS down: connect from unknown[198.18.0.1]"
out=$(dns_mail 198.18.0.1 --to x@other.example)
echo "$out" | grep -qE '^<\*\* +450 4\.7\.1 <x@other\.example>: Relaying temporarily denied\. Cannot resolve PTR record for 198\.18\.0\.1' ||
	fail "relaying with the name unresolved (TEMP): $out"
ok "TEMP: 450 4.7.1 Relaying temporarily denied. Cannot resolve PTR record for 198.18.0.1"
# talking while the lookups still run (a pregreet): 554 and close at once,
# and the answers that would have started the session must not
out=$(printf 'EHLO early.example\r\n' | lab_exec timeout 10 "$LAB_PY" "$LAB_T/nc.py" 198.18.0.2 25 2>&1)
echo "$out" | grep -q '^554 5\.5\.1 ' || fail "pregreet during the lookups: $out"
echo "$out" | grep -q '^220 ' && fail "pregreet during the lookups: a banner after the 554: $out"
ok "pregreet during the lookups: 554 5.5.1, no banner"
sleep 1.5                               # past the tries the session had started
lab_alive || fail "mxgate died after a pregreet during the lookups"
# an operator lists the sessions while one waits for its lookups: the engine
# has not started yet (no HELO name, not even ""), the listing must still work
(sleep 3) | lab_exec timeout 6 "$LAB_PY" "$LAB_T/nc.py" 198.18.0.2 25 >/dev/null 2>&1 &
hold_pid=$!
seen=
for ((i = 0; i < 40; i++)); do
	out=$("$LAB_REPO/build/mxctl" -c "$LAB_DIR/mxgate.conf" sessions 2>&1) || break
	echo "$out" | grep -q 'client=198\.18\.0\.1 .*helo=- ' && { seen=1; break; }
	sleep 0.05
done
lab_alive || fail "mxgate died when mxctl sessions listed a session waiting for its lookups"
[ -n "$seen" ] || fail "mxctl sessions during the lookups: the waiting session not listed: $out"
ok "mxctl sessions during the lookups: the waiting session listed (helo=-)"
wait "$hold_pid" 2>/dev/null
out=$(dns_mail 198.18.0.1)
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "mail after the pregreet: $out"
ok "mxgate serves on after a pregreet during the lookups"
v=$(lab_stat_label mxgate_dns_client_names_total status temp)
[ "$v" -ge 2 ] && ok "names TEMP: $v" || soft_fail "names TEMP: $v, expected >= 2"
v=$(lab_stat mxgate_dns_timeouts_total) || true
[ "${v:-0}" -ge 4 ] && ok "DNS timeouts: $v" || soft_fail "DNS timeouts: $v, expected >= 4 (2 sessions x 2 tries)"

dns_up
out=$(dns_mail 198.18.0.1 --to x@other.example)
echo "$out" | grep -qE '^<-  250 2\.0\.0' || fail "relaying once the name resolves (Connect:client1.lab.example RELAY): $out"
expect_log 'connect from client1\.lab\.example\[198\.18\.0\.1\]' "DNS back: the name is verified (TEMP was not cached)"
dns_down
expect_alive "after the DNS timeouts"
lab_end
