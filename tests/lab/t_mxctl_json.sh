#!/usr/bin/env bash
# t_mxctl_json.sh - mxctl --json on every command that lists, against a
# known state of the whole lab (redis-server, mxgate-control, mxgate): two
# users, one certificate with an SNI name, a CA bundle, one policy entry,
# one SMTP session held open. The commands are found by walking mxctl's
# own help (mxctl --help, then each command's and subcommand's usage):
# every command or subcommand named status, stats, sessions, list or show
# must offer --json, and its --json output must parse with Python's json
# module; a list command without --json fails the test. Then the fields
# are checked against the known state (tests/lab/mxctl_json_check.py):
# numbers are numbers, booleans booleans, status's ports, lcores,
# certificates and policy layers objects.
. "$(dirname "$0")/lib.sh"
lab_begin
export LAB_CONTROL=1
export LAB_METRICS=${LAB_METRICS:-127.0.0.1:19521}
MXCTL=${MXCTL:-$LAB_REPO/build/mxctl}
[ -x "$MXCTL" ] || fail "mxctl missing: $MXCTL (make build/mxctl)"
lab_up || fail "lab did not come up"
mx() { "$MXCTL" -c "$LAB_DIR/mxgate.conf" "$@"; }
out=$LAB_DIR/json
rm -rf "$out"
mkdir -p "$out"

# ---- the known state ----
printf 'alice-pw\n' | mx user add alice --cost ln=10,r=1,p=1 >/dev/null || fail "user add alice"
printf 'bob-pw\n' | mx user add bob --cost ln=10,r=1,p=1 >/dev/null || fail "user add bob"
mx cert add lab --chain "$LAB_CERT" --key "${LAB_CERT%.crt}.key" --sni mx2.lab.example >/dev/null ||
	fail "cert add"
mx ca set "$LAB_CERT" --force >/dev/null || fail "ca set"
mx policy set To:lab.example RELAY >/dev/null || fail "policy set"
# wait until mxgate holds all of it: 2 users, the certificate from Redis, policy version 1
for ((i = 0; i < 50; i++)); do
	st=$(mx status 2>/dev/null)
	echo "$st" | grep -q '^  auth_users 2$' && echo "$st" | grep -q 'source=control' &&
		echo "$st" | grep -q '^  policy_version 1$' && break
	sleep 0.2
done
[ $i -lt 50 ] || fail "mxgate did not get the state from mxgate-control: $st"
ok "known state in mxgate: 2 users, certificate lab from Redis, CA, policy version 1"
# one session held open while the commands run
(printf 'EHLO client.example\r\n'; sleep 6) |
	lab_exec timeout 10 "$LAB_PY" "$LAB_T/nc.py" 198.18.0.2 25 >/dev/null 2>&1 &
hold=$!
for ((i = 0; i < 30; i++)); do mx sessions | grep -q 'helo=client.example' && break; sleep 0.1; done

# ---- every command that lists, from mxctl's own help ----
# "  drain, resume   ...": both names
cmds=$("$MXCTL" --help | awk '/^Commands/ { on = 1; next }
	on && /^  [a-z]/ { if ($1 ~ /,$/) { print substr($1, 1, length($1) - 1); print $2 } else print $1 }')
[ "$(echo "$cmds" | wc -l)" -ge 10 ] || fail "too few commands in mxctl --help: $cmds"
paths=
for c in $cmds; do
	first=$("$MXCTL" "$c" --help | head -1)
	if echo "$first" | grep -q SUBCOMMAND; then
		# the group's usage (on stderr, exit 2) lists its subcommands
		for s in $("$MXCTL" "$c" 2>&1 | sed -n 's/^\(usage:\)\{0,1\} *mxctl '"$c"' \([a-z]*\).*/\2/p' | sort -u); do
			paths="$paths$c $s"$'\n'
		done
	else
		paths="$paths$c"$'\n'
	fi
done
nlist=0
listed=
while read -r p; do
	[ -n "$p" ] || continue
	case ${p##* } in
		status | stats | sessions | list | show) ;;
		*) continue ;;
	esac
	# shellcheck disable=SC2086  # p is a command and its subcommand
	u=$("$MXCTL" $p --help | head -1)
	echo "$u" | grep -q -- '--json' || fail "mxctl $p lists but its usage has no --json: $u"
	f=$out/$(echo "$p" | tr ' ' _).json
	# shellcheck disable=SC2086
	mx $p --json >"$f" 2>"$f.err" || fail "mxctl $p --json: exit $?: $(cat "$f.err")"
	"$LAB_PY" -c 'import json, sys; json.load(open(sys.argv[1]))' "$f" ||
		fail "mxctl $p --json is not JSON: $(head -c 300 "$f")"
	nlist=$((nlist + 1))
	listed="$listed${listed:+, }$p"
done <<<"$paths"
[ "$nlist" -ge 8 ] || fail "only $nlist list commands found ($listed)"
ok "$nlist list commands found in mxctl's help, each with --json that parses: $listed"
for p in status stats sessions "policy list" "user list" "cert list" "ca show" "crl show"; do
	echo ", $listed," | grep -q ", $p," || fail "the help walk missed mxctl $p (found: $listed)"
done

# ---- fields against the known state ----
mx user list --check --json >"$out/user_list_check.json" || fail "user list --check --json"
"$LAB_PY" "$LAB_T/mxctl_json_check.py" "$out" || fail "fields do not match the known state"
ok "status, stats, sessions, policy, users, certificates, CA and CRL: fields and types as known"
wait "$hold"
lab_alive || fail "mxgate died"
