#!/usr/bin/env bash
# t_mxctl_layers.sh - access_file and the Redis map, one rule: mxgate lays
# the map from Redis over its access_file (a key in both is Redis's, every
# other entry of the file stays). The whole lab (redis-server,
# mxgate-control, mxgate) with an access_file of three entries:
# "mxctl policy set" of another key leaves the file's entries enforced
# (mail to lab.example still relayed, MAIL from blocked.example still 550)
# and says "added"; a set of a file's key overrides it live, and says so;
# a second set says "replaced OLD -> NEW"; del says "removed" and the
# file's entry is enforced again; import says what it added, replaced,
# removed. mxgate's STATUS (and status --json) counts the layers.
. "$(dirname "$0")/lib.sh"
lab_begin
export LAB_CONTROL=1
export LAB_METRICS=${LAB_METRICS:-127.0.0.1:19520}
MXCTL=${MXCTL:-$LAB_REPO/build/mxctl}
[ -x "$MXCTL" ] || fail "mxctl missing: $MXCTL (make build/mxctl)"
JSON="$LAB_PY $LAB_T/json_get.py"
acc=$LAB_DIR/access.layers
mkdir -p "$LAB_DIR"
cat >"$acc" <<'MAP'
# the file layer
To:lab.example          RELAY
From:blocked.example    REJECT
Connect:198.18.0.77     REJECT
MAP
lab_up "access_file = $acc" || fail "lab did not come up"
mx() { "$MXCTL" -c "$LAB_DIR/mxgate.conf" "$@"; }

# mail FROM TO: the server's lines of one swaks session.
mail() {
	lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --helo client.example \
		--from "$1" --to "$2" --body "layers" 2>&1 | grep -E '^<'
}
accepted() { echo "$1" | grep -q '^<-  250 2\.0\.0'; }
# wait_version V: mxgate's status shows policy_version V within 5 s
wait_version() {
	local i
	for ((i = 0; i < 50; i++)); do
		mx status 2>/dev/null | grep -q "^  policy_version $1\$" && return 0
		sleep 0.1
	done
	return 1
}
# check_file_layer WHEN: the file's entries are enforced
check_file_layer() {
	local m
	m=$(mail a@client.example b@lab.example)
	accepted "$m" || fail "$1: To:lab.example RELAY (access_file) no longer relays: $m"
	m=$(mail x@blocked.example b@lab.example)
	echo "$m" | grep -qE '^<\*\* +550 5\.7\.1' || fail "$1: From:blocked.example REJECT (access_file) not enforced: $m"
	ok "$1: access_file's entries enforced (lab.example relayed, blocked.example 550)"
}

mx status | grep -q '^  policy_version file$' || fail "mxgate did not start with access_file: $(mx status)"
check_file_layer "at start"
m=$(mail a@client.example c@new.example)
echo "$m" | grep -qE '554 5\.7\.1 <c@new\.example>: Relay access denied' || fail "new.example relayed before any set: $m"

# a set of another key: the file's entries stay
out=$(mx policy set To:new.example RELAY 2>&1) || fail "policy set: $out"
echo "$out" | grep -q '^policy version 1: To:new.example RELAY$' || fail "set said: $out"
echo "$out" | grep -Eq '^added +To:new\.example +RELAY$' || fail "set does not say added: $out"
wait_version 1 || fail "mxgate did not get policy version 1: $(mx status | grep policy)"
ok "policy set To:new.example RELAY: version 1 in mxgate, output says: $(echo "$out" | sed -n 2p)"
accepted "$(mail a@client.example c@new.example)" || fail "To:new.example RELAY (Redis) not enforced"
check_file_layer "after a set of another key"
st=$(mx status)
echo "$st" | grep -q '^  policy_entries 4$' || fail "status: 3 file + 1 Redis entries expected: $st"
echo "$st" | grep -q '^  policy_layers access_file=3 pushed=1 replaced=0$' || fail "status layers: $st"
js=$(mx status --json)
got=$(for k in access_file pushed replaced; do echo "$js" | $JSON mxgate.status.policy_layers.$k; done | tr '\n' ' ')
[ "$got" = "3 1 0 " ] || fail "status --json policy_layers: $got ($js)"
ok "status: 4 entries in force, policy_layers access_file=3 pushed=1 replaced=0 (also as JSON numbers)"

# a set of a file's key: Redis's entry wins, and the output says so
out=$(mx policy set From:blocked.example OK 2>&1) || fail "policy set: $out"
echo "$out" | grep -Eq '^added +From:blocked\.example +OK$' || fail "set said: $out"
echo "$out" | grep -q "access_file $acc has From:blocked.example  REJECT: Redis's entry is the one in force" ||
	fail "set does not say it overrides the file's entry: $out"
wait_version 2 || fail "mxgate did not get policy version 2"
accepted "$(mail x@blocked.example b@lab.example)" || fail "From:blocked.example OK (Redis) does not override the file"
mx status | grep -q '^  policy_layers access_file=3 pushed=2 replaced=1$' || fail "status layers: $(mx status)"
ok "a set of the file's key overrides it (blocked.example accepted), replaced=1"

# replaced: old value -> new value
out=$(mx policy set From:blocked.example ERROR:550 5.7.1 go away 2>&1) || fail "policy set: $out"
echo "$out" | grep -Eq '^replaced +From:blocked\.example +OK -> ERROR:550 5\.7\.1 go away$' ||
	fail "set does not say what it replaced: $out"
wait_version 3 || fail "mxgate did not get policy version 3"
m=$(mail x@blocked.example b@lab.example)
echo "$m" | grep -q '550 5\.7\.1 .*go away' || fail "the replacing value is not enforced: $m"
ok "policy set says: $(echo "$out" | grep '^replaced')"
out=$(mx policy set To:new.example RELAY 2>&1) || fail "policy set: $out"
echo "$out" | grep -Eq '^unchanged +To:new\.example +RELAY$' || fail "set of the same value: $out"

# del: the file's entry is in force again
out=$(mx policy del From:blocked.example 2>&1) || fail "policy del: $out"
echo "$out" | grep -Eq '^removed +From:blocked\.example +ERROR:550 5\.7\.1 go away$' || fail "del said: $out"
echo "$out" | grep -q "access_file $acc has From:blocked.example  REJECT: in force again" ||
	fail "del does not say the file's entry is back: $out"
wait_version 5 || fail "mxgate did not get policy version 5"
check_file_layer "after del of the overriding key"

# import: what it added, replaced, removed
printf 'To:new.example OK\nTo:other.example RELAY\n' >"$LAB_DIR/import"
out=$(mx policy import "$LAB_DIR/import" 2>&1) || fail "policy import: $out"
echo "$out" | grep -Eq '^replaced +To:new\.example +RELAY -> OK$' &&
	echo "$out" | grep -Eq '^added +To:other\.example +RELAY$' &&
	echo "$out" | grep -q '^1 added, 1 replaced, 0 removed, 0 unchanged$' || fail "import said: $out"
printf 'To:other.example RELAY\n' >"$LAB_DIR/import2"
out=$(mx policy import "$LAB_DIR/import2" 2>&1) || fail "policy import: $out"
echo "$out" | grep -Eq '^removed +To:new\.example +OK$' &&
	echo "$out" | grep -q '^0 added, 0 replaced, 1 removed, 1 unchanged$' || fail "import said: $out"
wait_version 7 || fail "mxgate did not get policy version 7"
accepted "$(mail a@client.example d@other.example)" || fail "imported To:other.example not enforced"
check_file_layer "after two imports"
ok "policy import says what it added, replaced and removed; access_file stays under it"

# policy test: Redis's map over this host's access_file, as mxgate does
out=$(mx policy test --client 198.18.0.77 2>&1)
[ $? = 3 ] && echo "$out" | grep -q 'over access_file' || fail "policy test does not layer access_file: $out"
out=$(mx policy test --redis-only --client 198.18.0.77 2>&1) || fail "policy test --redis-only: $out"
ok "policy test: access_file's Connect:198.18.0.77 REJECT judged, not with --redis-only"
lab_alive || fail "mxgate died"
