#!/usr/bin/env bash
# t_policy_access.sh - sendmail's access map from a file (access_file):
# To: domains marked RELAY are ours and anything else is "Relay access denied";
# From: REJECT; ERROR: with its own code; DISCARD accepts and drops;
# Connect: REJECT for one client (IPv6 here); Require_TLS: makes MAIL
# without STARTTLS 530; TLS_Clt: ENCR:bits refuses too weak a cipher (403).
. "$(dirname "$0")/lib.sh"
lab_begin
acc=$LAB_DIR/access
cat >"$acc" <<'MAP' || fail "cannot write $acc"
# lab access map
To:lab.example			RELAY
From:spammer@bad.example	REJECT
To:blocked@lab.example		ERROR:550 5.1.1 User unknown
From:trash@junk.example		DISCARD
Connect:2001:2::1/128		REJECT
Require_TLS:198.18.0.1		YES
MAP
lab_up "access_file = $acc" || fail "lab did not come up"

# mail FROM TO [swaks options]: the client's view (all lines from the server)
mail() {
	local from=$1 to=$2
	shift 2
	lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --helo client.example \
		--from "$from" --to "$to" --body "policy $from $to" "$@" 2>&1 | grep -E '^<'
}
ndump() { ls "$LAB_DIR/mail" | wc -l; }

out=$(mail a@client.example b@lab.example --tls)
echo "$out" | grep -qE '^<~  250 2\.0\.0' || fail "relay to our domain: $out"
[ "$(ndump)" = 1 ] || fail "message for b@lab.example not delivered"
ok "To:lab.example RELAY: delivered"
out=$(mail a@client.example x@other.example --tls)
echo "$out" | grep -qE '^<~\* +554 5\.7\.1 <x@other\.example>: Relay access denied' || fail "relaying: $out"
grep -q 'NOQUEUE: reject: RCPT from unknown\[198.18.0.1\]: 554 5.7.1 <x@other.example>: Relay access denied' \
	"$LAB_DIR/mxgate.log" || fail "no NOQUEUE line for the relay attempt"
ok "other domains: 554 5.7.1 Relay access denied, logged as NOQUEUE: reject"
out=$(mail spammer@bad.example b@lab.example --tls)
echo "$out" | grep -qE '^<~\* +550 5\.7\.1' || fail "From: REJECT: $out"
ok "From: REJECT: 550 5.7.1"
out=$(mail a@client.example blocked@lab.example --tls)
echo "$out" | grep -qE '^<~\* +550 5\.1\.1 <blocked@lab\.example>: User unknown' || fail "ERROR: $out"
ok "ERROR:550 5.1.1 User unknown"
out=$(mail trash@junk.example b@lab.example --tls)
echo "$out" | grep -qE '^<~  250 2\.0\.0 Ok: discarded' || fail "DISCARD: $out"
[ "$(ndump)" = 1 ] || fail "a discarded message reached the backend"
ok "DISCARD: 250, nothing delivered"
out=$(mail a@client.example b@lab.example)
echo "$out" | grep -qE '^<\*\* +530 5\.7\.0 .*Must issue a STARTTLS command first' || fail "Require_TLS: $out"
ok "Require_TLS: MAIL without STARTTLS gets 530 5.7.0"
out=$(lab_exec timeout 20 swaks --server 2001:2::2 --port 25 --helo client.example \
	--from a@client.example --to b@lab.example 2>&1 | grep -E '^<')
echo "$out" | grep -qE '^<\*\* +550 5\.7\.1 Access denied' || fail "Connect: REJECT over IPv6: $out"
echo "$out" | grep -q '^<-  220' && fail "a rejected client got the banner"
ok "Connect: REJECT: 550 5.7.1 Access denied instead of the banner"
expect_stat_ge 'smtp_policy_rejects{stage="rcpt"}' 2
expect_stat_ge 'smtp_policy_rejects{stage="mail"}' 2
expect_stat_ge smtp_policy_discards 1
expect_stat_ge 'smtp_policy_rejects{stage="connect"}' 1
lab_down >/dev/null 2>&1

# TLS_Clt: ENCR:512 cannot be met by a 256-bit cipher
printf 'To:lab.example RELAY\nTLS_Clt:198.18.0.1 ENCR:512\n' >"$acc"
lab_up "access_file = $acc" || fail "lab did not come up (TLS_Clt)"
out=$(mail a@client.example b@lab.example --tls)
echo "$out" | grep -qE '^<~\* +403 4\.7\.0 .*encryption too weak 256 less than 512' || fail "TLS_Clt ENCR: $out"
ok "TLS_Clt ENCR:512 refuses 256-bit encryption: 403 4.7.0"
expect_no_bug_drops
pass
