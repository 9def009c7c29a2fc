#!/usr/bin/env bash
# t_privileges.sh - mxgate drops root once its ports are up (mxgate_user,
# default mxgate, made by deploy/deps.sh): with two workers, every thread of
# the running process (/proc/PID/task/*/status: the EAL's lcores, interrupt
# and telemetry threads, the service thread) has real, effective, saved and
# file-system uid and gid of that user, no supplementary group but its own,
# no capability at all (CapInh, CapPrm, CapEff, CapAmb zero) and
# NoNewPrivs 1; the control socket is mxgate:mxgate_group 0660 and mxctl's
# group may use it; SMTP with STARTTLS (and 465) still delivers, the
# counters (stats_file, written by the unprivileged process) still come,
# and SIGTERM still stops it cleanly; the lab's mxgate-control and
# redis-server run as that user too. A user that does not exist stops
# mxgate before it touches anything, naming the key.
. "$(dirname "$0")/lib.sh"
lab_begin
id -u mxgate >/dev/null 2>&1 || fail "no user mxgate (make deps: deploy/deps.sh creates it)"
uid=$(id -u mxgate)
gid=$(id -g mxgate)

LAB_CONTROL=1 LAB_WORKERS=2 lab_up || fail "lab did not come up"
pid=$(lab_pid)
# the lab's management side runs as the user too, as mxgate-control.service does
for p in control redis; do
	ppid=$(cat "$LAB_DIR/$p.pid")
	u=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "/proc/$ppid/status")
	[ "$u" = "$uid $uid $uid $uid" ] || fail "$p (pid $ppid) runs as uid $u"
done
ok "mxgate-control and redis-server run as mxgate, not root"
grep -q "mxgate: running as mxgate (uid $uid, gid $gid) in all [0-9]* threads, no capabilities" \
	"$LAB_DIR/mxgate.log" || fail "no privilege-drop line in the log"
ok "log: $(grep -o 'running as mxgate.*' "$LAB_DIR/mxgate.log")"

# every thread, from the outside
n=0
for st in /proc/"$pid"/task/*/status; do
	tid=${st#/proc/$pid/task/}
	tid=${tid%/status}
	name=$(awk '$1 == "Name:" { print $2 }' "$st")
	u=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "$st")
	g=$(awk '$1 == "Gid:" { print $2, $3, $4, $5 }' "$st")
	grp=$(awk '$1 == "Groups:" { $1 = ""; print }' "$st" | xargs)
	nnp=$(awk '$1 == "NoNewPrivs:" { print $2 }' "$st")
	[ "$u" = "$uid $uid $uid $uid" ] || fail "thread $tid ($name): Uid $u, expected $uid everywhere"
	[ "$g" = "$gid $gid $gid $gid" ] || fail "thread $tid ($name): Gid $g, expected $gid everywhere"
	[ "$grp" = "$gid" ] || fail "thread $tid ($name): Groups '$grp', expected '$gid'"
	[ "$nnp" = 1 ] || fail "thread $tid ($name): NoNewPrivs $nnp"
	for c in CapInh CapPrm CapEff CapAmb; do
		v=$(awk -v k="$c:" '$1 == k { print $2 }' "$st")
		[ "$v" = 0000000000000000 ] || fail "thread $tid ($name): $c $v, expected none"
	done
	n=$((n + 1))
	echo "    thread $tid $name: uid $uid gid $gid, no capabilities"
done
# the main thread, the two worker lcores, EAL's interrupt thread at least
[ "$n" -ge 4 ] || fail "only $n threads found"
ok "all $n threads: uid/gid $uid/$gid (real, effective, saved, fs), no capabilities, NoNewPrivs"

# the control socket: owner, group, mode; a member of the group (not root) talks to it
sock=$LAB_DIR/ctl.sock
[ "$(stat -c '%U:%G %a' "$sock")" = "mxgate:mxgate 660" ] ||
	fail "control socket is $(stat -c '%U:%G %a' "$sock"), expected mxgate:mxgate 660"
ok "control socket mxgate:mxgate 0660"
out=$(setpriv --reuid=nobody --regid=nogroup --groups="$gid" \
	"$LAB_PY" "$LAB_T/ctl_client.py" "$sock" status 2>&1) || fail "status as a member of group mxgate: $out"
echo "$out" | grep -q "^pid $pid" || fail "status as a member of group mxgate: $out"
ok "a user in group mxgate (not root) gets STATUS"
if out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$LAB_PY" "$LAB_T/ctl_client.py" "$sock" status 2>&1); then
	fail "a user outside group mxgate got STATUS: $out"
fi
ok "a user outside the group is refused"

# SMTP with STARTTLS and on 465 after the drop
out=$(lab_exec timeout 30 swaks --server 198.18.0.2 --port 25 --tls --helo client.example \
	--from a@client.example --to b@lab.example 2>&1) || fail "swaks STARTTLS: $(echo "$out" | tail -5)"
echo "$out" | grep -Eq '^<[-~]  250 2\.0\.0 ' || fail "STARTTLS message not accepted: $(echo "$out" | tail -5)"
out=$(lab_exec timeout 30 swaks --server 198.18.0.2 --port 465 --tlsc --helo client.example \
	--from a@client.example --to b@lab.example 2>&1) || fail "swaks 465: $(echo "$out" | tail -5)"
echo "$out" | grep -Eq '^<[-~]  250 2\.0\.0 ' || fail "465 message not accepted: $(echo "$out" | tail -5)"
ok "SMTP with STARTTLS on 25 and implicit TLS on 465 deliver after the drop"
expect_stat_ge 'smtp_tls_sessions{version="TLSv1.3"}' 2
ok "stats_file written by the unprivileged process: $(stat -c '%U' "$LAB_DIR/stats.prom")"

kill -TERM "$pid"
for ((i = 0; i < 100; i++)); do lab_alive || break; sleep 0.05; done
lab_alive && fail "mxgate still runs 5 s after SIGTERM"
for ((i = 0; i < 20; i++)); do [ -s "$LAB_DIR/mxgate.rc" ] && break; sleep 0.05; done
[ "$(cat "$LAB_DIR/mxgate.rc" 2>/dev/null)" = 0 ] || fail "exit status $(cat "$LAB_DIR/mxgate.rc" 2>/dev/null)"
[ -e "$sock" ] && fail "the control socket was left behind"
ok "SIGTERM: exit 0, control socket removed by the unprivileged process"
lab_down >/dev/null 2>&1

# a missing user: refused at start, naming the key
getent passwd mxgate-nope >/dev/null && fail "a user mxgate-nope exists on this machine"
fail_msg() {
	timeout -k 5 20 "$MXGATE" --no-huge --no-pci --no-shconf --no-telemetry -m 64 -l 0,1 --log-level='*:error' \
		-- -c "$1" 2>&1
}
{ cat "$LAB_REPO/deploy/lab.conf"; echo "mxgate_user = mxgate-nope"; } >"$LAB_DIR/nope.conf"
out=$(fail_msg "$LAB_DIR/nope.conf")
rc=$?
[ $rc -eq 2 ] || fail "mxgate_user = mxgate-nope: exit $rc, expected 2: $out"
echo "$out" | grep -q "nope.conf: mxgate_user: no user 'mxgate-nope'" || fail "no clear message: $out"
ok "mxgate_user = mxgate-nope: exit 2, \"$(echo "$out" | grep -o "mxgate_user: no user[^(]*")\""
{ cat "$LAB_REPO/deploy/lab.conf"; echo "mxgate_user = root"; } >"$LAB_DIR/root.conf"
out=$(fail_msg "$LAB_DIR/root.conf")
echo "$out" | grep -q "root.conf:[0-9]*: mxgate_user: must not be root" || fail "mxgate_user = root: $out"
ok "mxgate_user = root refused: $(echo "$out" | grep -o 'mxgate_user: must not be root')"
pass
