#!/usr/bin/env bash
# t_smtp_slowloris.sh - a client that trickles bytes cannot hold a session
# slot: a command must be complete within smtpd_timeout_ms of the previous
# reply, bytes do not re-arm it (Postfix's smtpd_per_request_deadline); the
# message must come at smtpd_min_data_rate within smtpd_data_timeout_ms;
# when sessions are scarce (stress mode) every deadline is cut.
#  A  5 clients send one byte of a command every 0.5 s: all get 421 4.4.2
#     after about smtpd_timeout_ms (3 s), counted as timeouts after CONNECT.
#  B  5 clients trickle the message after DATA: closed after about
#     smtpd_data_timeout_ms (3 s), counted as timeouts after DATA.
#  C  max_sessions 10: 8 tricklers put the worker in stress mode, which cuts
#     the 60 s deadline to 2 s: all are closed, the stress is logged and
#     counted, and a real client is served afterwards.
# Before the fix every byte re-armed the timer and none of them was closed.
. "$(dirname "$0")/lib.sh"
lab_begin

lab_up "smtpd_timeout_ms = 3000" "smtpd_data_timeout_ms = 3000" || fail "lab did not come up (A)"
soft_run "A: command tricklers are closed" \
	lab_py smtp_hostile.py trickle --conns 5 --interval 0.5 --within 12
v=$(lab_stat_label mxgate_smtp_timeouts_after_total after CONNECT)
[ "$v" = 5 ] && ok "A: 5 timeouts after CONNECT" || soft_fail "A: timeouts{after=CONNECT} = $v"
expect_log 'timeout after CONNECT from unknown\[198\.18\.0\.1\]' "timeout after CONNECT"
soft_run "B: message tricklers are closed" \
	lab_py smtp_hostile.py trickle --conns 5 --interval 0.5 --within 12 --after-data
v=$(lab_stat_label mxgate_smtp_timeouts_after_total after DATA)
[ "$v" = 5 ] && ok "B: 5 timeouts after DATA" || soft_fail "B: timeouts{after=DATA} = $v"
expect_log 'timeout after DATA \([0-9]+ bytes\) from unknown\[198\.18\.0\.1\]' "timeout after DATA (N bytes)"
[ "$(mail_count)" = 0 ] && ok "B: no partial message reached the backend" || soft_fail "B: $(mail_count) messages at the sink"
expect_smtp timeouts -eq 10
soft_wait_stat_eq mxgate_smtp_active 0 5
lab_down >/dev/null 2>&1

lab_up "max_sessions = 10" "smtpd_timeout_ms = 60000" "smtpd_stress_timeout_ms = 2000" ||
	fail "lab did not come up (C)"
soft_run "C: stress mode cuts the deadlines of 8 tricklers" \
	lab_py smtp_hostile.py trickle --conns 8 --interval 0.5 --within 12
expect_smtp stress_entered -ge 1
expect_log 'warning: 8 of 10 sessions in use: stress mode on' "stress mode on"
expect_log 'stress mode off' "stress mode off once they are gone"
soft_wait_stat_eq mxgate_smtp_active 0 5
out=$(lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --helo client.example \
	--from a@client.example --to b@lab.example --body "after the stress" 2>&1)
echo "$out" | grep -q '^<-  250 2.0.0' && ok "C: a real client is served afterwards" ||
	soft_fail "C: no 250: $(echo "$out" | grep -E '^<' | tail -2)"
expect_no_bug_drops
lab_end
