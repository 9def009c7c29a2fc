#!/usr/bin/env bash
# t_sighup.sh - kill -HUP reloads the configuration (issue 11, "Signals"):
# a limit (smtpd_recipient_limit), the access_file, the certificate (new
# files) and the backends change live, proved with real clients (swaks,
# openssl s_client, python smtplib); a session open across the HUP finishes
# its message on the backend it began with; smtp_port's change logs "restart
# needed" and port 25 keeps serving; a broken file is refused as a whole
# (logged, nothing of it applied); the reloads are counted; the log is
# reopened (logrotate's move, then SIGHUP); mxgate never exits.
. "$(dirname "$0")/lib.sh"
lab_begin
d=$LAB_DIR/hup
conf=$LAB_DIR/mxgate.conf
log=$LAB_DIR/mxgate.log
sock=$LAB_DIR/ctl.sock
rm -rf "$d" && mkdir -p "$d" || fail "cannot create $d"
chmod 755 "$d"
user=mxgate
group=$(id -gn "$user") || fail "no user $user (make deps)"
# on SIGHUP mxgate reads the files as mxgate_user: its group may read the keys
for c in a b; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=mx-$c.lab.example" \
		-keyout "$d/$c.key" -out "$d/$c.crt" >/dev/null 2>&1 || fail "openssl: cannot make certificate $c"
	chgrp "$group" "$d/$c.key" && chmod 640 "$d/$c.key" || fail "cannot give $d/$c.key to $group"
done
printf 'To:lab.example\tRELAY\n' >"$d/access" || fail "cannot write $d/access"
lab_up "tls_cert_file = $d/a.crt" "tls_key_file = $d/a.key" "access_file = $d/access" \
	"smtpd_recipient_limit = 100" || fail "lab did not come up"
pid=$(lab_pid)
cp "$conf" "$d/conf.orig"

# a second backend (the recording one) that only the new configuration names
lab_exec "$LAB_PY" "$LAB_T/smtp_backend.py" --port 2526 --out "$d/b2.json" --messages "$d/b2.msgs" \
	--sessions 20 --timeout 150 >"$d/b2.log" 2>&1 &
for ((i = 0; i < 50; i++)); do grep -q listening "$d/b2.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$d/b2.log" || fail "smtp_backend did not start: $(cat "$d/b2.log")"

fp() {  # the CN of the certificate a new STARTTLS session gets (openssl s_client)
	echo QUIT | lab_exec timeout 10 openssl s_client -starttls smtp -connect 198.18.0.2:25 2>/dev/null |
		openssl x509 -noout -subject 2>/dev/null | sed -n 's/.*CN *= *//p'
}
rcpts() {  # swaks with 3 recipients: its replies to RCPT
	lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --helo client.example --from a@client.example \
		--to r1@lab.example,r2@lab.example,r3@lab.example --body "rcpt limit" 2>&1 | grep -E '^<.* (25[0-9]|45[0-9]) ' |
		grep -cE '^<.*452 4\.5\.3'
}
spam() {  # MAIL from a sender the new map rejects: the reply to MAIL
	lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --helo client.example --from spammer@bad.example \
		--to b@lab.example --quit-after MAIL 2>&1 | awk '/^ *-> MAIL FROM/ { getline; print; exit }'
}
hup() {  # send SIGHUP, wait for the Nth reload line (applied or refused)
	local n=$1 i
	kill -HUP "$pid" || fail "kill -HUP failed"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -cE 'mxgate: SIGHUP: configuration .* (reloaded|refused)' "$log")" -ge "$n" ] && return 0
		sleep 0.1
	done
	fail "no reload line after SIGHUP $n: $(tail -5 "$log")"
}

[ "$(fp)" = mx-a.lab.example ] || fail "first certificate: '$(fp)'"
[ "$(rcpts)" = 0 ] || fail "3 recipients refused before the reload"
spam | grep -q '^<.* 250 ' || fail "the sender is refused before the reload: $(spam)"
ok "before: certificate a, 3 recipients taken, spammer@bad.example accepted at MAIL"

# a session inside DATA across the HUP (python smtplib; the body comes 4 s later)
cat >"$d/held.py" <<'PY'
import smtplib, sys, time
s = smtplib.SMTP("198.18.0.2", 25, local_hostname="client.example", timeout=30)
s.ehlo(); s.mail("held@client.example")
for i in range(3):
    s.rcpt("r%d@lab.example" % i)
code, _ = s.docmd("DATA")
print("data %d" % code, flush=True)
time.sleep(4)
s.send(b"Subject: held across SIGHUP\r\nMessage-ID: <held-hup@client.example>\r\n\r\nbody\r\n.\r\n")
code, msg = s.getreply()
print("dot %d %s" % (code, msg.decode()), flush=True)
s.quit()
PY
lab_exec timeout 40 "$LAB_PY" "$d/held.py" >"$d/held.out" 2>&1 &
held=$!
for ((i = 0; i < 50; i++)); do grep -q '^data 354' "$d/held.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^data 354' "$d/held.out" || fail "the held session is not inside DATA: $(cat "$d/held.out")"

# the new configuration: later lines win
printf 'To:lab.example\tRELAY\nFrom:spammer@bad.example\tREJECT\n' >"$d/access"
cat >>"$conf" <<EOF
smtpd_recipient_limit = 2
tls_cert_file = $d/b.crt
tls_key_file = $d/b.key
backends = 198.18.1.1:2526
smtp_port = 2525
EOF
hup 1
lab_alive || fail "mxgate exited on SIGHUP"
expect_log 'mxgate: SIGHUP: smtp_port: changed, restart needed' "smtp_port: restart needed"
expect_log 'mxgate: SIGHUP: smtpd_recipient_limit: changed, applied' "smtpd_recipient_limit applied"
expect_log 'mxgate: SIGHUP: backends: changed, applied' "backends applied"
expect_log 'mxgate: SIGHUP: configuration .* reloaded: [0-9]+ live settings changed, certificates read again' "reloaded"
expect_log 'mxgate: access map .*access: 2 entries' "access map read again"

wait "$held" || fail "held session: $(cat "$d/held.out")"
grep -q '^dot 250' "$d/held.out" || fail "the held message did not get 250: $(cat "$d/held.out")"
sleep 0.5
grep -ql 'held-hup@client.example' "$LAB_DIR"/mail/* 2>/dev/null ||
	fail "the held message is not at the backend it began with (smtp-sink)"
ok "the session open across the HUP finished its message on its backend: $(grep '^dot' "$d/held.out")"

c=$(fp)
[ "$c" = mx-b.lab.example ] || fail "new sessions get certificate '$c', not b"
ok "new sessions get the new certificate (openssl s_client: CN=$c)"
n=$(rcpts)
[ "$n" = 1 ] || fail "$n recipients refused with 452 4.5.3, expected 1 (limit 2)"
ok "smtpd_recipient_limit 2: the third RCPT gets 452 4.5.3 (swaks)"
r=$(spam)
echo "$r" | grep -qE '^<.* 5[0-9]{2} ' || fail "the new access map does not refuse the sender: $r"
ok "the new access_file refuses spammer@bad.example: $r"
m=$(lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --helo client.example --from a@client.example \
	--to new@lab.example --header 'Message-ID: <new-backend@client.example>' --body "new backend" 2>&1)
echo "$m" | grep -q '^<-  250 2\.0\.0' || fail "after the reload: $(echo "$m" | tail -3)"
for ((i = 0; i < 30; i++)); do grep -q 'new-backend@client.example' "$d/b2.msgs" 2>/dev/null && break; sleep 0.1; done
grep -q 'new-backend@client.example' "$d/b2.msgs" 2>/dev/null ||
	fail "the message did not reach the new backend 198.18.1.1:2526"
ok "new messages go to the new backend (198.18.1.1:2526)"
lab_exec timeout 5 "$LAB_PY" -c 'import socket; socket.create_connection(("198.18.0.2", 2525), 2)' 2>/dev/null &&
	fail "port 2525 listens: smtp_port was applied live"
ok "smtp_port kept its running value (25 serves, 2525 does not listen)"

# a broken file: refused as a whole, the recipient limit it also sets is not applied
printf 'smtpd_recipient_limit = 50\nsmtpd_hard_error_limit = banana\n' >>"$conf"
hup 2
lab_alive || fail "mxgate exited on a broken configuration"
expect_log "mxgate: SIGHUP: configuration $conf refused, the one in force stays: .*smtpd_hard_error_limit: 'banana' is not a decimal number" \
	"broken file refused"
[ "$(rcpts)" = 1 ] || fail "a line of the refused file was applied (recipient limit)"
ok "nothing of the refused file applies (recipient limit still 2)"
# a certificate that does not load: refused as a whole too
cp "$d/conf.orig" "$conf"
printf 'smtpd_recipient_limit = 7\ntls_cert_file = %s\ntls_key_file = %s\n' "$d/b.crt" "$d/a.key" >>"$conf"
hup 3
expect_log 'mxgate: SIGHUP: configuration .* refused, the one in force stays: TLS: ' "mismatched key refused"
[ "$(fp)" = mx-b.lab.example ] && [ "$(rcpts)" = 1 ] || fail "the refused file changed something"
ok "a key that does not match its certificate: refused, certificate b and limit 2 stay"

st=$("$LAB_PY" "$LAB_T/ctl_client.py" "$sock" stats) || fail "stats: $st"
echo "$st" | grep -q '^mxgate_service_config_reloads_total{result="ok"} 1$' ||
	fail "reloads ok: $(echo "$st" | grep reloads)"
echo "$st" | grep -q '^mxgate_service_config_reloads_total{result="failed"} 2$' ||
	fail "reloads failed: $(echo "$st" | grep reloads)"
ok "counted: $(echo "$st" | grep reloads | tr '\n' ' ')"

# logrotate: move the log, create the new one for mxgate_user, SIGHUP
cp "$d/conf.orig" "$conf"
mv "$log" "$log.1"
install -m 640 -o "$user" -g "$group" /dev/null "$log"
kill -HUP "$pid"
for ((i = 0; i < 100; i++)); do grep -q 'configuration .* reloaded' "$log" 2>/dev/null && break; sleep 0.1; done
grep -q "mxgate: SIGHUP: log $log reopened" "$log" || fail "the log was not reopened: $(tail -3 "$log.1")"
grep -q 'configuration .* reloaded' "$log" || fail "no reload line in the new log"
cat "$log.1" "$log" >"$d/all.log"   # lab_down shows the whole log on failure
ok "the log is reopened at its path after a move"
lab_alive || fail "mxgate exited"
ok "mxgate ran throughout (pid $pid)"
lab_end
