#!/usr/bin/env bash
# t_units_reload.sh - `systemctl reload` as the units in deploy/systemd/
# define it, run the way systemd runs ExecReload= (each line in order, the
# first that fails ends the reload and fails it; ${MXGATE_CONF} from the
# unit's Environment=, $MAINPID the service's process, here a stand-in
# that records the signals it gets). Nothing is installed or started:
#   - mxgate.service: a reload with a broken configuration fails (non-zero,
#     FILE:LINE on its output) and never signals mxgate, so the operator
#     sees it at once instead of a success whose SIGHUP mxgate then refuses
#     in its log; with a good one it succeeds and sends SIGHUP;
#   - mxgate-control.service: a reload exists and sends SIGHUP (mxgate-control's
#     full resync from Redis, mxgate-control(8)).
. "$(dirname "$0")/lib.sh"
lab_begin
D=$LAB_DIR/units
rm -rf "$D" && mkdir -p "$D" || fail "cannot make $D"
stand_in=
trap '[ -n "$stand_in" ] && kill -KILL "$stand_in" 2>/dev/null; rm -rf "$D"' EXIT
CONTROL=$LAB_REPO/build/mxgate-control
[ -x "$CONTROL" ] || fail "mxgate-control missing (make)"

# the stand-in for the service's main process: appends "HUP" to its file per SIGHUP
start_stand_in() {
	: >"$D/signals"
	bash -c 'trap "echo HUP >>\"$1\"" HUP; while :; do sleep 0.05; done' _ "$D/signals" &
	stand_in=$!
	sleep 0.2
}
# reload UNIT CONF: run UNIT's ExecReload= lines as systemd does; their exit status
reload() {
	local unit=$LAB_REPO/deploy/systemd/$1 conf=$2 line cmd
	grep -q '^ExecReload=' "$unit" || { echo "no ExecReload= in $1"; return 100; }
	while IFS= read -r line; do
		cmd=${line#ExecReload=}
		cmd=${cmd//\$\{MXGATE_CONF\}/$conf}
		cmd=${cmd//\$MAINPID/$stand_in}
		cmd=${cmd//\/usr\/sbin\/mxgate-control/$CONTROL}
		cmd=${cmd//\/usr\/sbin\/mxgate/$MXGATE}
		# shellcheck disable=SC2086
		$cmd || return $?
	done < <(grep '^ExecReload=' "$unit")
	return 0
}
hups() { sleep 0.3; grep -c HUP "$D/signals"; }

good=$D/good.conf
cp "$LAB_REPO/deploy/lab.conf" "$good"
bad=$D/bad.conf
{ cat "$good"; echo "max_sessions = lots"; } >"$bad"
L=$(wc -l <"$bad")

start_stand_in
out=$(reload mxgate.service "$bad" 2>&1)
rc=$?
[ "$rc" != 0 ] || fail "mxgate.service: reload with a broken configuration succeeded: $out"
[ "$rc" != 100 ] || fail "mxgate.service: $out"
echo "$out" | grep -qF "$bad:$L: max_sessions" || fail "mxgate.service: reload does not say why: $out"
[ "$(hups)" = 0 ] || fail "mxgate.service: a broken configuration was signalled to mxgate"
ok "mxgate.service: reload with a broken file fails (exit $rc, '$(echo "$out" | sed "s|$D/||")'), no SIGHUP"
out=$(reload mxgate.service "$good" 2>&1) || fail "mxgate.service: reload with a good configuration failed: $out"
[ "$(hups)" = 1 ] || fail "mxgate.service: reload did not send SIGHUP once"
ok "mxgate.service: reload with a good file succeeds and sends SIGHUP"
kill -KILL "$stand_in"

start_stand_in
out=$(reload mxgate-control.service "$good" 2>&1) || fail "mxgate-control.service: reload: exit $?: $out"
[ "$(hups)" = 1 ] || fail "mxgate-control.service: reload did not send SIGHUP once"
ok "mxgate-control.service: reload sends SIGHUP (full resync)"
pass
