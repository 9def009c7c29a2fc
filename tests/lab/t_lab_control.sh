#!/usr/bin/env bash
# t_lab_control.sh - the whole lab as "make run" brings it up: mxgate,
# redis-server on a Unix socket and mxgate-control. A policy set with
# "deploy/lab.sh ctl policy set" is enforced within 2 s and undone by
# "policy del"; lab.sh status shows every pid; mxctl stats --json and
# /metrics agree; "down" leaves no process behind.
. "$(dirname "$0")/lib.sh"
lab_begin
export LAB_CONTROL=1 LAB_METRICS=${LAB_METRICS:-127.0.0.1:19465}
lab_up || fail "lab did not come up"
st=$("$LAB_SH" status) || fail "status: $st"
echo "$st"
echo "$st" | grep -q '^redis-server: pid [0-9]*, alive' || fail "status shows no live redis-server"
echo "$st" | grep -q '^mxgate-control: pid [0-9]*, alive' || fail "status shows no live mxgate-control"
cpid=$(tr -dc 0-9 <"$LAB_DIR/control.pid"); rpid=$(tr -dc 0-9 <"$LAB_DIR/redis.pid")
ok "status shows mxgate, redis-server and mxgate-control"
ctl() { "$LAB_SH" ctl "$@"; }
relay_other() {
	lab_exec timeout 15 swaks --server 198.18.0.2 --helo client.example --from a@client.example \
		--to x@other.example 2>&1 | grep -E '^<' | tail -2
}
ctl policy set To:lab.example RELAY >/dev/null || fail "policy set"
for ((i = 0; i < 20; i++)); do
	relay_other | grep -q 'Relay access denied' && break
	sleep 0.1
done
[ $i -lt 20 ] || fail "policy set through the lab was not enforced within 2 s"
ok "policy set with mxctl is enforced after $((i * 100)) ms"
ctl policy set To:other.example RELAY >/dev/null || fail "policy set other"
for ((i = 0; i < 20; i++)); do relay_other | grep -q '^<-  250 2.0.0' && break; sleep 0.1; done
[ $i -lt 20 ] || fail "other.example not relayed after it was set"
ctl policy del To:other.example >/dev/null || fail "policy del"
for ((i = 0; i < 20; i++)); do relay_other | grep -q 'Relay access denied' && break; sleep 0.1; done
[ $i -lt 20 ] || fail "policy del was not applied within 2 s"
ok "policy del undoes it"
# /metrics is refreshed every few seconds by mxgate-control: wait for it to catch up
for ((i = 0; i < 80; i++)); do
	a=$(ctl stats --json | "$LAB_PY" "$LAB_T/json_get.py" total.smtp_policy_rejects_total.rcpt 2>/dev/null)
	m=$(curl -s "http://$LAB_METRICS/metrics" |
		awk '$1 ~ /^mxgate_smtp_policy_rejects_total\{.*stage="rcpt"/ {s += $2} END {print s + 0}')
	[ -n "$a" ] && [ "$a" = "$m" ] && [ "$a" -ge 2 ] && break
	sleep 0.1
done
[ -n "$a" ] && [ "$a" = "$m" ] && [ "$a" -ge 2 ] || fail "mxctl stats ($a) and /metrics ($m) disagree"
ok "mxctl stats --json and /metrics agree (policy rcpt rejects = $a)"
lab_down >/dev/null 2>&1
for p in $cpid $rpid; do
	st=$(ps -o stat= -p "$p" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ] && fail "pid $p still running after down (state $st)"
done
ok "down stopped redis-server and mxgate-control"
pass
