#!/usr/bin/env bash
# t_redis_lost.sh - Redis comes back empty (FLUSHALL: what a restart without
# persistence, or a failover to an empty replica, leaves): mxgate-control
# finds the generation marker <prefix>generation gone and keeps the last good
# state in mxgate. With users and a policy set and a session ticket taken:
#   - after FLUSHALL the old users still authenticate, the policy version and
#     the ticket keys in mxgate are unchanged (the old ticket still resumes),
#     no new ticket key is made in Redis, a user added to the empty store is
#     not pushed; one log line says so, mxgate_control_redis_store_lost_total
#     is 1;
#   - mxgate-control restarted while Redis is still empty (it holds nothing
#     now): it learns from mxgate (CTL_STATUS "generation") which marker goes
#     with the state mxgate holds, takes the empty store as lost too, and
#     pushes nothing: alice and bob still authenticate, carol does not, the
#     policy and the ticket keys stay, no marker or ticket key is made;
#   - "mxctl reload --force" re-stamps the marker: the store as it is is
#     pushed (one user, new ticket keys), and the old user is gone.
. "$(dirname "$0")/lib.sh"
lab_begin
export LAB_CONTROL=1 LAB_METRICS=${LAB_METRICS:-127.0.0.1:19469}
command -v redis-cli >/dev/null 2>&1 || fail "redis-cli is not installed (make deps)"
lab_up || fail "lab did not come up"
P=mxgate:
CLOG=$LAB_DIR/control.log
rcli() { timeout 5 redis-cli -s "$LAB_DIR/redis.sock" "$@"; }
ctl() { "$LAB_SH" ctl "$@"; }
# field KEY: mxgate's own CTL_STATUS line KEY
field() { "$LAB_PY" "$LAB_T/ctl_client.py" "$LAB_DIR/ctl.sock" status 2>/dev/null | awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }'; }
# wait_field KEY VALUE SECONDS
wait_field() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do [ "$(field "$1")" = "$2" ] && return 0; sleep 0.1; done
	return 1
}
wait_log() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do grep -Eq -- "$1" "$CLOG" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
# auth_code USER PASSWORD: the reply code to AUTH PLAIN after STARTTLS
auth_code() {
	lab_py smtp_auth.py --server 198.18.0.2 --port 25 --user "$1" --password "$2" |
		"$LAB_PY" -c 'import json,sys; print(json.load(sys.stdin)["auth"][0])'
}
lost_metric() {
	curl -s "http://$LAB_METRICS/metrics" | awk '$1 == "mxgate_control_redis_store_lost_total" { print $2 }'
}
# wait_lost VALUE: the counter reads VALUE within 12 s (/metrics answers 503
# until mxgate-control's first counter fetch, every 5 s)
wait_lost() {
	local i
	for ((i = 0; i < 120; i++)); do [ "$(lost_metric)" = "$1" ] && return 0; sleep 0.1; done
	return 1
}
sess() {
	(sleep 0.5; printf 'EHLO client.example\r\n'; sleep 0.5; printf 'QUIT\r\n') |
		ip netns exec "$LAB_NS" timeout 15 openssl s_client -starttls smtp -connect 198.18.0.2:25 \
		-ign_eof "$@" 2>&1 | grep -E '^(New|Reused),'
}

# expect_kept WHEN: mxgate still holds the state from before the flush, and
# nothing was made in the empty store
expect_kept() {
	local out
	[ "$(field auth_users)" = 2 ] || fail "auth_users is '$(field auth_users)' $1, expected 2"
	[ "$(auth_code alice alice-secret)" = 235 ] || fail "AUTH alice $1"
	[ "$(auth_code bob bob-secret)" = 235 ] || fail "AUTH bob $1"
	[ "$(field policy_version)" = "$polver" ] || fail "policy_version is '$(field policy_version)' $1, was $polver"
	[ "$(field tickets)" = "from control plane" ] || fail "tickets $1: '$(field tickets)'"
	[ "$(field generation)" = "$gen" ] || fail "mxgate's generation $1 is '$(field generation)'"
	[ -z "$(rcli hget "${P}tickets" current)" ] || fail "a new ticket key was made in the empty store ($1)"
	[ -z "$(rcli get "${P}generation")" ] || fail "the marker was stamped again without --force ($1)"
	out=$(sess -sess_in "$LAB_DIR/ticket")
	echo "$out" | grep -q '^Reused' || fail "the ticket from before the flush does not resume $1: $out"
}

ctl policy set To:lab.example RELAY >/dev/null || fail "mxctl policy set"
printf 'alice-secret\n' | ctl user add alice --cost ln=10,r=1,p=1 >/dev/null || fail "user add alice"
printf 'bob-secret\n' | ctl user add bob --cost ln=10,r=1,p=1 >/dev/null || fail "user add bob"
wait_field auth_users 2 5 || fail "auth_users is '$(field auth_users)', expected 2"
wait_field tickets "from control plane" 5 || fail "tickets: '$(field tickets)'"
gen=$(rcli get "${P}generation")
[[ $gen =~ ^[0-9a-f]{16}\ mxgate-control$ ]] || fail "generation marker: '$gen'"
[ "$(auth_code alice alice-secret)" = 235 ] || fail "AUTH alice before the flush"
polver=$(field policy_version)
tk=$(rcli hget "${P}tickets" current)
sess -sess_out "$LAB_DIR/ticket" >/dev/null
[ -s "$LAB_DIR/ticket" ] || fail "no session ticket"
wait_lost 0 || fail "store_lost_total is '$(lost_metric)' before the flush"
wait_field generation "$gen" 5 || fail "mxgate's generation is '$(field generation)', expected \"$gen\""
ok "2 users, policy version $polver, ticket keys; marker \"$gen\", also in mxgate's STATUS; AUTH alice 235"

rcli flushall >/dev/null || fail "FLUSHALL"
wait_log 'warning: Redis lost its data \(generation marker mxgate:generation gone' 12 ||
	fail "no 'Redis lost its data' line: $(tail -5 "$CLOG")"
ok "logged: $(grep -m1 'Redis lost its data' "$CLOG" | sed 's/^.*mxgate-control: //' | cut -c1-110)..."
# an operator writes into the empty store: not pushed either
printf 'carol-secret\n' | ctl user add carol --cost ln=10,r=1,p=1 >/dev/null || fail "user add carol"
sleep 6                         # an event and at least one periodic check
expect_kept "after the flush"
n=$(grep -c 'Redis lost its data' "$CLOG")
[ "$n" = 1 ] || fail "'Redis lost its data' logged $n times, expected once"
wait_lost 1 || fail "mxgate_control_redis_store_lost_total is '$(lost_metric)', expected 1"
ok "after FLUSHALL: alice and bob still 235, policy $polver, old ticket resumes, no new key, carol not pushed; counter 1, logged once"

# ---- mxgate-control restarted while Redis is empty: it holds nothing now ----
cpid=$(cat "$LAB_DIR/control.pid")
kill -TERM "$cpid" || fail "cannot stop mxgate-control ($cpid)"
for ((i = 0; i < 50; i++)); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$cpid" 2>/dev/null && fail "mxgate-control still running 5 s after SIGTERM"
: >"$CLOG"
# started by root this time: it becomes mxgate_user itself
"$LAB_REPO/build/mxgate-control" -f -c "$LAB_DIR/mxgate.conf" >>"$CLOG" 2>&1 </dev/null &
echo $! >"$LAB_DIR/control.pid"         # lab down stops it
wait_log "mxgate holds the state of Redis generation \"$gen\"" 10 ||
	fail "the restarted mxgate-control did not learn mxgate's generation: $(tail -5 "$CLOG")"
wait_log 'warning: Redis lost its data \(generation marker mxgate:generation gone' 10 ||
	fail "the restarted mxgate-control did not take the empty store as lost: $(tail -5 "$CLOG")"
sleep 6                         # at least one periodic check
grep -E 'pushed to mxgate|stamped' "$CLOG" && fail "the restarted mxgate-control pushed or stamped something"
expect_kept "after the restart"
[ "$(auth_code carol carol-secret)" = 535 ] || fail "AUTH carol (only in the empty store) accepted"
wait_lost 1 || fail "the restarted mxgate-control's store_lost_total is '$(lost_metric)', expected 1"
ok "mxgate-control restarted on the empty store: took it as lost (counter 1); alice and bob 235, carol 535, policy $polver, old ticket resumes, nothing stamped"

out=$(ctl reload --force) || fail "mxctl reload --force: $out"
echo "$out" | grep -q "^stamped ${P}generation \"[0-9a-f]\{16\} mxctl\"" || fail "reload --force: $out"
wait_field auth_users 1 10 || fail "auth_users is '$(field auth_users)' after reload --force, expected 1"
wait_log 'the store as it is now is accepted' 5 || fail "no 'accepted' line"
for ((i = 0; i < 50; i++)); do [ -n "$(rcli hget "${P}tickets" current)" ] && break; sleep 0.1; done
tk2=$(rcli hget "${P}tickets" current)
[ -n "$tk2" ] && [ "$tk2" != "$tk" ] || fail "no new ticket key after reload --force"
[ "$(auth_code carol carol-secret)" = 235 ] || fail "AUTH carol after reload --force"
[ "$(auth_code alice alice-secret)" = 535 ] || fail "AUTH alice still accepted after reload --force"
wait_lost 1 || fail "store_lost_total is '$(lost_metric)' after reload --force, expected 1"
gen2=$(rcli get "${P}generation")
wait_field generation "$gen2" 5 || fail "mxgate's generation is '$(field generation)', expected \"$gen2\""
ok "mxctl reload --force: the store as it is pushed (1 user: carol 235, alice 535), new ticket keys"
expect_no_bug_drops
pass
