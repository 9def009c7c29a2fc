#!/usr/bin/env bash
# t_smtp_smtplib.sh - Python's smtplib sends 5 MB messages through mxgate
# over STARTTLS (25) and implicit TLS (465): seeded random printable lines
# of up to 998 characters, about a tenth of them starting with "." (so
# dot-stuffed on the wire); the backend must store each exactly once,
# byte-identical to what was sent. A third, smaller message has lines of
# 998 characters that start with ".": 1001 octets once dot-stuffed, which
# RFC 5321 4.5.3.1.6 allows ("not counting the leading dot duplicated for
# transparency"), so it must be accepted and stored intact as well.
# Then, in a second lab whose smtp-sink waits 1 s before reading the
# message (-H 1), 1 MB must still get through: mxgate's send buffer to the
# backend fills, the client's window closes, and both must open again.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"

big() {
	local what=$1
	shift
	echo "--- $what"
	soft_run "$what" lab_py smtp_send.py big --maildir "$LAB_MAIL" "$@"
}

big "5 MB over STARTTLS" --mode starttls --bytes 5000000 --seed 11 --tag big-starttls --dot-max 997 --io-timeout 20
big "5 MB over 465" --mode smtps --bytes 5000000 --seed 12 --tag big-smtps --dot-max 997 --io-timeout 20
big "300 KB with 998-character lines starting with '.'" --mode starttls --bytes 300000 --seed 13 \
	--tag big-dotline --dot-max 998

n=$(mail_count)
if [ "$n" -eq 3 ]; then ok "3 messages stored"; else soft_fail "$n messages stored, expected 3"; fi
expect_smtp 'messages{result="accepted"}' -eq 3
expect_smtp message_bytes -ge 10000000
expect_smtp line_too_long -eq 0
expect_smtp 'tls_handshakes{mode="starttls"}' -eq 2
expect_smtp 'tls_handshakes{mode="smtps"}' -eq 1
soft_wait_stat_eq mxgate_smtp_active 0 5
expect_alive "after the big messages"
expect_no_bug_drops

echo "--- second lab: smtp-sink -H 1 (a backend that pauses before reading the message)"
lab_down >/dev/null 2>&1
LAB_SINK_OPTS="-H 1" lab_up || fail "second lab did not come up"
big "1 MB to a backend that pauses 1 s" --mode starttls --bytes 1000000 --seed 14 --tag big-slow \
	--dot-max 997 --io-timeout 15 --deadline 30
expect_smtp 'messages{result="accepted"}' -eq 1
soft_wait_stat_eq mxgate_smtp_active 0 5
expect_alive "after the slow backend"
lab_end
