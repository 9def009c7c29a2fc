#!/usr/bin/env bash
# t_upgrade.sh - the upgrade procedure of README ("Upgrading without losing
# mail"): mxctl drain --wait, stop, start the new binary, and nothing is lost.
# A client is inside DATA when the drain begins: drain --wait must not return
# before its message is through (250 from the backend), a new client meanwhile
# gets 421 4.3.2, mxgate stops with SIGTERM, the new one (the same binary here:
# what is tested is the procedure) starts accepting at once, and the sink holds
# exactly the messages whose clients got 250.
. "$(dirname "$0")/lib.sh"
lab_begin
ctl() { "$LAB_SH" ctl "$@"; }
out=$LAB_DIR/held.out

lab_up || fail "lab did not come up"
before=$(mail_count)
# a client in the middle of a message: DATA, then 3 s before the body and the dot
( printf 'EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n'; sleep 0.3
  printf 'RCPT TO:<b@lab.example>\r\n'; sleep 0.3; printf 'DATA\r\n'; sleep 3
  printf 'Subject: held across the drain\r\n\r\nbody\r\n.\r\n'; sleep 0.5; printf 'QUIT\r\n'; sleep 0.5 ) |
	lab_exec timeout 20 "$LAB_PY" "$LAB_T/nc.py" 198.18.0.2 25 >"$out" 2>&1 &
held=$!
sleep 1.2
grep -q '^354' "$out" || fail "the held client is not inside DATA: $(tr '\r\n' '  ' <"$out")"
t0=$SECONDS
ctl drain --wait --timeout 30 >"$LAB_DIR/drain.out" 2>&1 &
drain=$!
sleep 0.5
m=$(lab_exec timeout 10 swaks --server 198.18.0.2 --from a@example.org --to b@lab.example 2>&1)
echo "$m" | grep -q '421 4\.3\.2' || fail "a new client during the drain was not refused with 421 4.3.2: $(echo "$m" | tail -n 3)"
ok "during the drain a new client gets 421 4.3.2"
wait "$drain" || fail "drain --wait failed: $(cat "$LAB_DIR/drain.out")"
waited=$((SECONDS - t0))
wait "$held"
grep -q '^250 2\.0\.0' "$out" || fail "the held message did not get 250: $(tr '\r\n' '  ' <"$out")"
[ "$waited" -ge 2 ] || fail "drain --wait returned after ${waited} s, before the held message was through"
grep -q '^mxgate: drained: no SMTP session open' "$LAB_DIR/drain.out" || fail "drain --wait said: $(cat "$LAB_DIR/drain.out")"
ok "drain --wait returned after ${waited} s, once the held message had its 250"
sleep 0.5
held_mail=$(( $(mail_count) - before ))
[ "$held_mail" = 1 ] || fail "the sink holds $held_mail messages from the held session, expected 1"

# stop (SIGTERM), start the new binary, mail flows at once
lab_down || fail "lab down"
lab_up || fail "the new mxgate did not come up"
ctl status | grep -q '^  draining no' || fail "the new mxgate starts draining: $(ctl status | head -n 5)"
m=$(lab_exec timeout 20 swaks --server 198.18.0.2 --from a@example.org --to b@lab.example 2>&1)
echo "$m" | grep -q '^<-  250 2\.0\.0' || fail "after the restart: $(echo "$m" | tail -n 3)"
# (the lab's new sink starts with an empty folder)
sleep 0.5
[ "$(mail_count)" = 1 ] || fail "the new sink holds $(mail_count) messages, expected the one just sent"
ok "the new mxgate accepts mail at once; one message stored per 250, none lost"
pass
