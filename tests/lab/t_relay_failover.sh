#!/usr/bin/env bash
# t_relay_failover.sh - two backends, the first refusing connections
# (nothing listens on 198.18.1.1:2600): every message still reaches the
# live one (smtp-sink on :25), the dead one is marked down and skipped,
# and nothing is answered 250 unless the backend said 250.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up "backends = 198.18.1.1:2600 198.18.1.1:25" "backend_retry_ms = 60000" || fail "lab did not come up"
for i in 1 2 3 4; do
	out=$(lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --helo client.example \
		--from a@client.example --to "b$i@lab.example" --body "failover $i" 2>&1)
	echo "$out" | grep -q '^<-  250 2.0.0' || fail "message $i not accepted: $(echo "$out" | grep -E '^<' | tail -3)"
done
ok "4 messages accepted"
n=$(ls "$LAB_DIR/mail" | wc -l)
[ "$n" = 4 ] || fail "$n messages in the backend's dump, expected 4"
for i in 1 2 3 4; do
	grep -l "^X-Rcpt-Args: <b$i@lab.example>" "$LAB_DIR"/mail/* >/dev/null || fail "message $i missing at the backend"
done
ok "all 4 delivered to the live backend"
e=$(lab_stat smtp_backend_errors) || fail "cannot read smtp_backend_errors"
[ "$e" -ge 1 ] && [ "$e" -le 2 ] || fail "smtp_backend_errors = $e: the dead backend should fail once, then rest"
ok "the dead backend failed $e time(s), then was skipped"
expect_stat_ge 'smtp_messages{result="accepted"}' 4
expect_no_bug_drops
pass
