#!/usr/bin/env bash
# t_smtp_smuggling.sh - SMTP smuggling: inside DATA the client sends
# <LF>.<LF>, <CR>.<CR>, <CR><LF>.<LF> or <LF>.<CR><LF>, then a complete
# second transaction (MAIL, RCPT, DATA, message) and a proper <CR><LF>.<CR><LF>.
# mxgate must answer 521 5.5.2 and close (as Postfix's
# smtpd_forbid_bare_newline), with no 250 for either message, and the
# backend must store nothing; the same with TLS, and for a bare LF ending
# a command line. Counter bare_newline counts each.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"

soft_run "smuggling attempts" lab_py smtp_raw.py smuggling --host 198.18.0.2
sleep 0.5
n=$(mail_count)
if [ "$n" -eq 0 ]; then
	ok "no message stored"
else
	soft_fail "$n message(s) stored after the smuggling attempts"
	grep -H '^Subject' "$LAB_MAIL"/* 2>/dev/null | head -n 5
fi
expect_smtp bare_newline -ge 7
expect_smtp 'messages{result="accepted"}' -eq 0
soft_wait_stat_eq mxgate_smtp_active 0 5
expect_alive "after the smuggling attempts"
expect_echo 4096
expect_no_bug_drops
lab_end
