#!/usr/bin/env bash
# t_smtp_limit_logs.sh - every limit the engine enforces by itself leaves a
# counter and a log line a postmaster can grep (Postfix's words where it
# has them), on the limits and smuggling scenarios of smtp_raw.py with
# message_size_limit = 100000: MAIL SIZE= over the limit and a 150 KB
# message (552 5.3.4: message_too_big, "NOQUEUE: reject: MAIL" and
# "reject: END-OF-MESSAGE"), the 101st recipient (452 4.5.3:
# too_many_rcpts, "reject: RCPT"), a bare LF ("warning: bare <LF>
# received after DATA"). Before the fix none of these was logged, and the
# 552s and 452s had no counter.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up "message_size_limit = 100000" "smtpd_timeout_ms = 2000" || fail "lab did not come up"

soft_run "limits" lab_py smtp_raw.py limits --host 198.18.0.2
soft_run "smuggling attempts" lab_py smtp_raw.py smuggling --host 198.18.0.2
soft_wait_stat_eq mxgate_smtp_active 0 10
expect_smtp message_too_big -ge 2
expect_smtp too_many_rcpts -ge 1
expect_smtp bare_newline -ge 7
c='unknown\[198\.18\.0\.1\]'
expect_log "NOQUEUE: reject: MAIL from $c: 552 5\\.3\\.4 Message size exceeds fixed limit; proto=ESMTP helo=<" \
	"NOQUEUE: reject: MAIL ... 552 5.3.4 (SIZE=)"
expect_log "[0-9A-Za-z]+: reject: END-OF-MESSAGE from $c: 552 5\\.3\\.4 Message size exceeds fixed limit; from=<a@example\\.org>" \
	"reject: END-OF-MESSAGE ... 552 5.3.4 (the 150 KB message)"
if grep -q "line too long; from=<" "$LAB_DIR/mxgate.log"; then soft_fail "a message was refused for a long text line"
else ok "log: no message refused for a long text line (they are passed on)"; fi
expect_log "[0-9A-Za-z]+: reject: RCPT from $c: 452 4\\.5\\.3 Error: too many recipients; from=<" \
	"reject: RCPT ... 452 4.5.3"
expect_log "warning: bare <LF> received after DATA from $c" "warning: bare <LF> received after DATA"
expect_log "warning: bare <LF> received after EHLO from $c" "warning: bare <LF> received after EHLO (ending the MAIL line)"
expect_log "warning: bare <CR> received after DATA from $c" "warning: bare <CR> received after DATA"
expect_alive "after the limits"
expect_no_bug_drops
lab_end
