#!/usr/bin/env bash
# t_deploy.sh - the deployment files, checked without starting anything:
#   - deploy/systemd/mxgate.service and mxgate-control.service pass
#     `systemd-analyze verify` with no message at all (an unknown key is only
#     a warning there, so any output fails), in a scratch root that holds the
#     machine's own units, the units and the binaries where the units expect
#     them; a unit with a misspelled key must make it talk (the check can
#     fail);
#   - deploy/mxgate.conf.example is accepted by the configuration parser
#     (mxctl reads it with the same code as mxgate; its sockets are pointed
#     at absent paths so that nothing is contacted);
#   - deploy/mxgate-prepare.sh parses the configuration, checks the user and
#     makes the run directory mxgate:mxgate 0750 (hugepages and NIC binding
#     off: MXGATE_HUGEPAGES empty, net_tap devices, not PCI addresses);
#   - the manual pages in docs/ format without a warning (groff -ww, and
#     man --warnings).
. "$(dirname "$0")/lib.sh"
lab_begin
for c in systemd-analyze groff man; do
	command -v "$c" >/dev/null || fail "$c missing"
done
R=$LAB_DIR/root
rm -rf "$R"
mkdir -p "$R/etc/systemd/system" "$R/usr/sbin" "$R/usr/lib/mxgate" "$R/usr/lib/systemd" ||
	fail "cannot make $R"
cp -a /usr/lib/systemd/system "$R/usr/lib/systemd/" || fail "cannot copy the machine's units"
cp "$LAB_REPO"/deploy/systemd/*.service "$R/etc/systemd/system/" || fail "no units in deploy/systemd"
install -m 755 "$MXGATE" "$R/usr/sbin/mxgate"
install -m 755 "$LAB_REPO/build/mxgate-control" "$R/usr/sbin/mxgate-control" || fail "build/mxgate-control (make)"
install -m 755 "$LAB_REPO/deploy/mxgate-prepare.sh" "$R/usr/lib/mxgate/mxgate-prepare"
install -D -m 755 /bin/kill "$R/bin/kill" || fail "no /bin/kill (ExecReload)"

verify() {
	systemd-analyze verify --man=no --root="$R" "$@" 2>&1
}
units=("$R/etc/systemd/system/mxgate.service" "$R/etc/systemd/system/mxgate-control.service")
out=$(verify "${units[@]}")
rc=$?
[ $rc -eq 0 ] && [ -z "$out" ] || fail "systemd-analyze verify: exit $rc: $out"
ok "systemd-analyze verify: both units clean"
sed 's/^NoNewPrivileges=/NoNewPrivilege=/' "${units[0]}" >"$R/etc/systemd/system/mxbad.service"
out=$(verify "$R/etc/systemd/system/mxbad.service")
echo "$out" | grep -q "Unknown key 'NoNewPrivilege'" || fail "a misspelled key went unnoticed: $out"
ok "a misspelled key is reported (the check can fail)"

# the production example, through the parser (nothing contacted)
sed -e "s|^control_socket = .*|control_socket = $LAB_DIR/absent.sock|" \
	-e "s|^redis_server = .*|redis_server = unix:$LAB_DIR/absent-redis.sock|" \
	"$LAB_REPO/deploy/mxgate.conf.example" >"$LAB_DIR/example.conf"
out=$(timeout 10 "$LAB_REPO/build/mxctl" -c "$LAB_DIR/example.conf" status 2>&1)
echo "$out" | grep -q "cannot connect to $LAB_DIR/absent.sock" ||
	fail "deploy/mxgate.conf.example refused: $out"
printf 'outside_device = 0000:01:00.0\noutside_ipv4 = 192.0.2.25/33\n' >"$LAB_DIR/bad.conf"
out=$(timeout 10 "$LAB_REPO/build/mxctl" -c "$LAB_DIR/bad.conf" status 2>&1)
echo "$out" | grep -q "bad.conf:2: outside_ipv4" || fail "a bad configuration was not refused: $out"
ok "deploy/mxgate.conf.example is a valid configuration"

# mxgate-prepare: configuration, user, run directory (no hugepages, no PCI device)
rm -rf "$LAB_DIR/run"
MXGATE_HUGEPAGES= MXGATE_RUNDIR=$LAB_DIR/run "$LAB_REPO/deploy/mxgate-prepare.sh" "$LAB_REPO/deploy/lab.conf" ||
	fail "mxgate-prepare failed"
[ "$(stat -c '%U:%G %a' "$LAB_DIR/run")" = "mxgate:mxgate 750" ] ||
	fail "run directory is $(stat -c '%U:%G %a' "$LAB_DIR/run")"
{ cat "$LAB_REPO/deploy/lab.conf"; echo "mxgate_user = mxgate-nope"; } >"$LAB_DIR/nope.conf"
MXGATE_HUGEPAGES= MXGATE_RUNDIR=$LAB_DIR/run2 "$LAB_REPO/deploy/mxgate-prepare.sh" "$LAB_DIR/nope.conf" \
	2>"$LAB_DIR/prepare.err" && fail "mxgate-prepare accepted a missing user"
grep -q "no user 'mxgate-nope'" "$LAB_DIR/prepare.err" || fail "mxgate-prepare: $(cat "$LAB_DIR/prepare.err")"
ok "mxgate-prepare: run directory mxgate:mxgate 0750; a missing user refused"

# manual pages
n=0
for m in "$LAB_REPO"/docs/*.[1-8]; do
	out=$(groff -ww -z -man "$m" 2>&1)
	[ -z "$out" ] || fail "groff -ww: $m: $out"
	out=$(MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null)
	[ -z "$out" ] || fail "man --warnings: $m: $out"
	n=$((n + 1))
done
[ $n -ge 4 ] || fail "only $n manual pages in docs/"
printf '.TH X 1\n.SH NAME\n.BOGUS x\n' >"$LAB_DIR/bad.1"
[ -n "$(groff -ww -z -man "$LAB_DIR/bad.1" 2>&1)" ] || fail "groff -ww does not report an unknown macro"
ok "$n manual pages format without a warning"
pass
