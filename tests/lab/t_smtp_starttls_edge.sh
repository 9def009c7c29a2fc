#!/usr/bin/env bash
# t_smtp_starttls_edge.sh - STARTTLS corner cases on a raw socket
# (smtp_raw.py starttls_edge): a parameter gets 501 5.5.4; plaintext
# commands pipelined behind STARTTLS in the same packet are discarded, not
# run inside TLS (CVE-2011-0411: no reply to them, the next EHLO gets the
# EHLO reply, a MAIL is not "nested"), counted in starttls_injection; a
# second STARTTLS inside TLS gets 503; on 587 MAIL before STARTTLS gets
# 530 5.7.0, and after the handshake the client must say EHLO again (503
# 5.5.1), then a message goes through and is stored.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"

soft_run "STARTTLS edge cases" lab_py smtp_raw.py starttls_edge --host 198.18.0.2
soft_run "the message sent over 587 is stored once" \
	lab_py smtp_dump.py one --maildir "$LAB_MAIL" --match "<submission-587@client.example>" \
	--with ESMTPS --version TLSv1.3 --verify NOT --rcpt b@lab.example --helo client.example
n=$(mail_count)
if [ "$n" -eq 1 ]; then ok "1 message stored (the one over 587)"; else soft_fail "$n messages stored, expected 1"; fi
expect_smtp starttls_injection -ge 1
expect_smtp starttls_injected_bytes -eq 23    # "RSET\r\nMAIL FROM:<x@y>\r\n"
expect_smtp 'tls_handshakes{mode="starttls"}' -eq 2
expect_smtp tls_failed -eq 0
expect_smtp 'messages{result="accepted"}' -eq 1
soft_wait_stat_eq mxgate_smtp_active 0 5
expect_alive "after the STARTTLS cases"
expect_no_bug_drops
lab_end
