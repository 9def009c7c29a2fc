#!/usr/bin/env bash
# t_smtp_many.sh - 200 STARTTLS sessions one after the other and 200 more
# 50 at a time (4 rounds, threads), each with its own small message
# (Message-ID <many-N@client.example>), all with smtplib. All 400 must be
# accepted and stored exactly once; messages_accepted = 400; afterwards
# no SMTP session is left (smtp_active = 0) and the connection table
# empties (tcp_conns = 0, with timewait_ms = 1000).
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up "timewait_ms = 1000" || fail "lab did not come up"

t0=$SECONDS
soft_run "200 sequential STARTTLS sessions" \
	lab_py smtp_send.py many --mode starttls --count 200 --concurrency 1 --prefix many-seq- --deadline 100
soft_run "200 STARTTLS sessions, 50 at a time" \
	lab_py smtp_send.py many --mode starttls --count 200 --concurrency 50 --prefix many-par- --deadline 100
echo "sending took $((SECONDS - t0)) s"
soft_run "the 200 sequential messages are stored once each" \
	lab_py smtp_dump.py ids --maildir "$LAB_MAIL" --prefix many-seq- --count 200
soft_run "the 200 concurrent messages are stored once each" \
	lab_py smtp_dump.py ids --maildir "$LAB_MAIL" --prefix many-par- --count 200
n=$(mail_count)
if [ "$n" -eq 400 ]; then ok "400 messages stored"; else soft_fail "$n messages stored, expected 400"; fi
expect_smtp 'messages{result="accepted"}' -eq 400
expect_smtp sessions -eq 400
expect_smtp 'tls_handshakes{mode="starttls"}' -eq 400
expect_smtp tls_failed -eq 0
expect_smtp backend_errors -eq 0
soft_wait_stat_eq mxgate_smtp_active 0 10
soft_wait_stat_eq tcp_conns 0 15
expect_alive "after 400 sessions"
expect_no_bug_drops
lab_end
