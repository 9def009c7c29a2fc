#!/usr/bin/env bash
# t_users_sync.sh - SMTP AUTH users from Redis to mxgate (the whole lab:
# redis-server, mxgate-control, mxgate): "mxctl user add" twice -> mxgate's
# status shows auth_users 2 within 2 s; a bad hash written straight into
# Redis is skipped with one log line (key and why) while a good user added
# after it still arrives; "user list" names users and never prints a hash
# ("--check" flags the bad one); "user del" makes the count drop; usage
# errors (empty password, bad name, unknown user) exit non-zero.
. "$(dirname "$0")/lib.sh"
lab_begin
export LAB_CONTROL=1
command -v redis-cli >/dev/null 2>&1 || fail "redis-cli is not installed (make deps)"
lab_up || fail "lab did not come up"
P=mxgate:                       # the default redis_prefix
CLOG=$LAB_DIR/control.log
rcli() { timeout 5 redis-cli -s "$LAB_DIR/redis.sock" "$@"; }
ctl() { "$LAB_SH" ctl "$@"; }
users_now() { ctl status 2>/dev/null | awk '$1 == "auth_users" { print $2 }'; }
# wait_users N: mxgate's status shows auth_users N within 2 s; prints the ms it took
wait_users() {
	local i
	for ((i = 0; i <= 20; i++)); do
		[ "$(users_now)" = "$1" ] && { echo $((i * 100)); return 0; }
		sleep 0.1
	done
	return 1
}
wait_log() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -Eq -- "$1" "$CLOG" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

n=$(users_now)
[ "$n" = 0 ] || fail "mxgate starts with auth_users '$n', expected 0"
out=$(printf 'alice-secret\n' | ctl user add alice --cost ln=10,r=8,p=1 2>&1) || fail "user add alice: $out"
printf 'bob-secret\r\nsecond line\n' >"$LAB_DIR/bob.pw"
out2=$(ctl user add bob --password-file "$LAB_DIR/bob.pw" --cost ln=10,r=1,p=1 2>&1) || fail "user add bob: $out2"
echo "$out$out2" | grep -q 'scrypt\$' && fail "user add printed a hash: $out $out2"
h=$(rcli get "${P}auth:alice")
[[ $h == '$scrypt$ln=10,r=8,p=1$'* ]] || fail "stored value for alice is not an scrypt hash: $h"
ms=$(wait_users 2) || fail "auth_users is $(users_now) 2 s after adding two users, expected 2"
ok "two users added with mxctl: mxgate shows auth_users 2 after ${ms} ms"

# a bad hash straight into Redis: skipped and said once; the others still go
rcli set "${P}auth:mallory" 'not-a-hash' >/dev/null || fail "redis set"
rcli publish "${P}events" users >/dev/null
wait_log "SMTP AUTH user ${P}auth:mallory in Redis skipped: .*not-a-hash" 3 ||
	fail "the bad hash is not logged: $(grep -i 'auth' "$CLOG" | tail -3)"
ok "bad hash logged: $(grep -m1 'auth:mallory' "$CLOG" | sed 's/^.*mxgate-control: //')"
printf 'carol-secret\n' | ctl user add carol --cost ln=10,r=1,p=1 >/dev/null 2>&1 || fail "user add carol"
ms=$(wait_users 3) || fail "auth_users is $(users_now) after adding carol next to a bad entry, expected 3"
ok "a good user added next to the bad one arrives (auth_users 3 after ${ms} ms)"
rcli publish "${P}events" users >/dev/null
sleep 1.5                       # an event and at least one periodic check
c=$(grep -c 'auth:mallory in Redis skipped' "$CLOG")
[ "$c" = 1 ] || fail "the bad entry was logged $c times, expected once"
ok "the bad entry is logged once, not on every check"

# user list: names only
list=$(ctl user list) || fail "user list: $list"
[ "$(echo "$list" | tr '\n' ' ')" = "alice bob carol mallory " ] || fail "user list: $list"
echo "$list" | grep -q 'scrypt' && fail "user list printed a hash"
chk=$(ctl user list --check) && fail "user list --check exited 0 with a bad entry: $chk"
echo "$chk" | grep -q '^mallory  (SKIPPED by mxgate-control: ' || fail "user list --check: $chk"
for u in alice bob carol; do
	h=$(rcli get "${P}auth:$u")
	[ -n "$h" ] || fail "no hash for $u in Redis"
	echo "$list$chk" | grep -qF -- "${h##*\$}" && fail "user list printed the hash of $u"
	echo "$chk" | grep -q "^$u\$" || fail "user list --check does not show $u as fine: $chk"
done
ok "user list: alice bob carol mallory, no hash; --check flags mallory and exits 1"

# del: the count drops
ctl user del alice >/dev/null || fail "user del alice"
ms=$(wait_users 2) || fail "auth_users is $(users_now) after user del, expected 2"
ctl user del mallory >/dev/null || fail "user del mallory"
ctl user list --check >/dev/null || fail "user list --check still unhappy after the bad entry is gone"
ok "user del: auth_users 2 after ${ms} ms"

# errors
out=$(printf '\n' | ctl user add dave 2>&1) && fail "an empty password was accepted: $out"
echo "$out" | grep -q 'empty password refused' || fail "empty password: $out"
[ -z "$(rcli get "${P}auth:dave")" ] || fail "dave stored despite the empty password"
ctl user add 'bad name' </dev/null >/dev/null 2>&1; [ $? = 2 ] || fail "a user name with a space: not a usage error"
ctl user add eve --cost ln=40 </dev/null >/dev/null 2>&1 && fail "--cost ln=40 accepted"
out=$(printf 'x\n' | ctl user add eve --cost ln=40 2>&1); echo "$out" | grep -q 'cannot hash' ||
	fail "--cost ln=40: $out"
out=$(ctl user del nobody 2>&1) && fail "user del of an unknown user exited 0"
echo "$out" | grep -q 'no user nobody' || fail "user del nobody: $out"
ctl user --help | grep -q 'add NAME \[--password-file FILE\]' || fail "user --help"
ctl user add --help | grep -q -- '--password-file' || fail "user add --help"
ok "empty password, bad name, bad cost, unknown user: refused with a message"

# Redis away: mxgate keeps its users
kill -STOP "$(tr -dc 0-9 <"$LAB_DIR/redis.pid")"
sleep 3
n=$(users_now)
kill -CONT "$(tr -dc 0-9 <"$LAB_DIR/redis.pid")"
[ "$n" = 2 ] || fail "auth_users $n while Redis did not answer, expected 2"
ok "Redis not answering: mxgate keeps its 2 users"
expect_no_bug_drops
pass
