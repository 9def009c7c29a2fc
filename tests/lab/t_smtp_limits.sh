#!/usr/bin/env bash
# t_smtp_limits.sh - the limits of RFC 5321 4.5.3.1 and Postfix's smtpd,
# on a raw socket (smtp_raw.py limits), with message_size_limit = 100000
# and smtpd_timeout_ms = 2000: a command line over 512 octets gets
# 500 5.5.2 (the session goes on); message text lines over 1000 octets
# (1202, 41,001 with a "." where mxgate's line buffer fills, 1503 starting
# with a dot) are passed on whole, as Postfix's smtpd takes them, and
# smtp-sink stores the message byte for byte (a good message after it in
# the same session is stored once too); MAIL SIZE= over the limit gets
# 552 5.3.4, and so does a 150 KB message at the end of DATA; the
# 101st recipient gets 452 4.5.3; 10 bad commands get 421 4.7.0 and a
# close; a silent client gets 421 4.4.2 after 2 s. Then, in a second lab
# with smtpd_greet_delay_ms = 1500, a client that talks before the
# greeting gets 554 5.5.1 instead of it and is disconnected (pregreet).
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up "message_size_limit = 100000" "smtpd_timeout_ms = 2000" || fail "lab did not come up"

soft_run "limits" lab_py smtp_raw.py limits --host 198.18.0.2 --long-body "$LAB_DIR/longline.eml"
sleep 0.5
n=$(mail_count)
if [ "$n" -eq 2 ]; then ok "exactly 2 messages stored (the long-line one and the good one)"; else soft_fail "$n messages stored, expected 2"; fi
soft_run "the message with long lines is stored byte for byte" \
	lab_py smtp_dump.py one --maildir "$LAB_MAIL" --match "<longline@client.example>" --with ESMTP \
	--body "$LAB_DIR/longline.eml"
soft_run "the good message after it is stored" \
	lab_py smtp_dump.py one --maildir "$LAB_MAIL" --match "<afterlong@client.example>" --with ESMTP
c=$(lab_py smtp_dump.py count --maildir "$LAB_MAIL" --match "<toobig@client.example>")
if [ "$c" = 0 ]; then ok "refused message <toobig@...> not stored"; else soft_fail "refused message <toobig@...> stored $c time(s)"; fi
# two command lines were too long (each got 500 5.5.2 "line too long"); no text line is
expect_smtp line_too_long -eq 2
expect_smtp 'messages{result="rejected"}' -eq 1
expect_smtp 'messages{result="accepted"}' -eq 2
expect_smtp too_many_errors -eq 1
expect_smtp timeouts -eq 1
expect_log 'timeout after [A-Z]+ from unknown\[198\.18\.0\.1\]' "timeout after ... from unknown[198.18.0.1]"
soft_wait_stat_eq mxgate_smtp_active 0 5
expect_alive "after the limits"
expect_no_bug_drops

echo "--- second lab: smtpd_greet_delay_ms = 1500"
lab_down >/dev/null 2>&1
lab_up "smtpd_greet_delay_ms = 1500" || fail "second lab did not come up"
soft_run "pregreet" lab_py smtp_raw.py pregreet --host 198.18.0.2
expect_smtp pregreet -eq 1
expect_log 'PREGREET [0-9]+ after' "PREGREET ... after ..."
soft_wait_stat_eq mxgate_smtp_active 0 5
expect_alive "after the pregreet"
lab_end
