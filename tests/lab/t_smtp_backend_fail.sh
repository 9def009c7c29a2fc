#!/usr/bin/env bash
# t_smtp_backend_fail.sh - the backend fails at every stage, and the
# client never hears 250 for what the backend did not take. smtp-sink is
# restarted by the test with one failure mode at a time (see smtp-sink(1)):
#   -r CMD  soft reject (450 4.3.0)      -f CMD  hard reject (500 5.3.0)
#   -q CMD  disconnect without a reply   -Q CMD  421 and disconnect
#   -A 0    550 right after the 354, then stop reading
# for CMD in MAIL, RCPT, DATA and "."; the backend's own 4xx/5xx reach the
# client, a disconnect becomes mxgate's 451 4.4.1 (or 421 4.4.2). A backend
# that fails its greeting or EHLO, or listens nowhere, makes MAIL get
# 451 4.4.1. After all that, a normal backend takes a message again,
# every session ends and the connection table empties.
. "$(dirname "$0")/lib.sh"
lab_begin
export LAB_SINK=0
lab_up "backend_retry_ms = 1000" "backend_timeout_ms = 5000" "timewait_ms = 1000" ||
	fail "lab did not come up"
mkdir -p "$LAB_MAIL" || fail "cannot create $LAB_MAIL"
chmod 1777 "$LAB_MAIL" && rm -f "$LAB_MAIL"/*

SINK_PID=
sink_stop() {
	local i
	[ -n "$SINK_PID" ] || return 0
	kill "$SINK_PID" 2>/dev/null
	for ((i = 0; i < 40; i++)); do kill -0 "$SINK_PID" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$SINK_PID" 2>/dev/null
	wait "$SINK_PID" 2>/dev/null
	SINK_PID=
}
# smtp-sink on 198.18.1.1:25 with OPTIONS (none: a healthy backend)
sink_start() {
	local i
	sink_stop
	# not through the lab_exec function: $! must be smtp-sink itself (lab.sh and ip exec it)
	"$LAB_SH" exec smtp-sink -u nobody -h backend.lab.example -d "$LAB_MAIL/%Y%m%d%H%M%S." "$@" \
		198.18.1.1:25 64 >>"$LAB_DIR/smtp-sink.log" 2>&1 </dev/null &
	SINK_PID=$!
	for ((i = 0; i < 50; i++)); do
		lab_exec ss -Hltn 'sport = :25' 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	soft_fail "smtp-sink $* did not start"
}
trap 'sink_stop; lab_down >/dev/null 2>&1' EXIT

# stage NAME 'SINK OPTIONS' STAGE CODE [ENH]: one transaction, STAGE must get CODE (a prefix)
stage() {
	local name=$1 opts=$2 at=$3 code=$4 enh=${5:-}
	echo "--- $name: smtp-sink $opts, expect $code${enh:+ $enh} at ${at^^}"
	# shellcheck disable=SC2086  # opts is a list of options
	sink_start $opts
	soft_run "$name" lab_py smtp_raw.py txn --host 198.18.0.2 --timeout 6 --deadline 40 \
		--fail-at "$at" --fail-code "$code" ${enh:+--fail-enh "$enh"} --msgid "$name"
}

stage rej4_mail  "-r MAIL"  mail 450 4.3.0
stage rej5_mail  "-f MAIL"  mail 500 5.3.0
stage drop_mail  "-q MAIL"  mail 4 4.4.
stage q421_mail  "-Q MAIL"  mail 4
stage rej4_rcpt  "-r RCPT"  rcpt 450 4.3.0
stage rej5_rcpt  "-f RCPT"  rcpt 500 5.3.0
stage drop_rcpt  "-q RCPT"  rcpt 4 4.4.
stage q421_rcpt  "-Q RCPT"  rcpt 4
stage rej4_data  "-r DATA"  data 450 4.3.0
stage rej5_data  "-f DATA"  data 500 5.3.0
stage drop_data  "-q DATA"  data 4 4.4.
stage q421_data  "-Q DATA"  data 4
stage rej4_dot   "-r ."     dot  450 4.3.0
stage rej5_dot   "-f ."     dot  500 5.3.0
stage drop_dot   "-q ."     dot  4 4.4.
stage q421_dot   "-Q ."     dot  4
stage abort_data "-A 0"     dot  4
# failures while the backend connection is set up: the backend rests backend_retry_ms
stage drop_connect "-q CONNECT" mail 451 4.4.1
sleep 1.2
stage rej_greeting "-r CONNECT" mail 451 4.4.1
sleep 1.2
stage rej_ehlo     "-r EHLO"    mail 451 4.4.1
sleep 1.2
echo "--- no backend at all"
sink_stop
soft_run "no backend" lab_py smtp_raw.py txn --host 198.18.0.2 --timeout 15 --deadline 40 \
	--fail-at mail --fail-code 451 --fail-enh 4.4.1 --msgid nobackend
echo "--- a healthy backend again"
sink_start
sleep 1.2
soft_run "healthy backend" lab_py smtp_raw.py txn --host 198.18.0.2 --timeout 10 --fail-at none --msgid final-ok
soft_run "the last message is stored" lab_py smtp_dump.py one --maildir "$LAB_MAIL" \
	--match "<final-ok@client.example>" --with ESMTP --rcpt b@lab.example
sink_stop

expect_log 'lost connection with backend' "lost connection with backend ..."
expect_log 'status=deferred \(host [^ ]* said: 450 4\.3\.0' "status=deferred (host ... said: 450 4.3.0 ...)"
expect_log 'status=bounced \(host [^ ]* said: 500 5\.3\.0' "status=bounced (host ... said: 500 5.3.0 ...)"
expect_smtp 'messages{result="accepted"}' -eq 1
expect_smtp 'messages{result="rejected"}' -eq 2        # "-f ." and "-f DATA" (a 5xx to the DATA command counts too)
expect_smtp 'messages{result="tempfailed"}' -ge 4      # "-r .", "-q .", "-Q .", "-A 0"
expect_smtp backend_errors -ge 9           # every disconnect, greeting/EHLO failure, no backend
soft_wait_stat_eq mxgate_smtp_active 0 10
soft_wait_stat_eq tcp_conns 0 10
expect_alive "after the backend failures"
expect_no_bug_drops
lab_end
