#!/usr/bin/env bash
# t_mxctl.sh - mxctl, the operator's CLI, against the real mxgate (control
# socket) and a real redis-server on a Unix socket under $LAB_DIR that the
# test starts and stops itself (redis_prefix "mxt:" to prove the prefix is
# honoured). Checks: --help everywhere exits 0, bad usage 2; status and
# stats (text and JSON, --watch) with counters that follow a message sent
# in between; policy set/get/list/del with the version and the events
# channel, an invalid entry refused with nothing changed; import/export
# round trip; policy test's decision and trace; policy push enforced by
# mxgate (554 5.7.1 Relay access denied); sessions; drain (421) and resume;
# cert add/list/push/del; tickets rotate; reload; Redis down.
. "$(dirname "$0")/lib.sh"
lab_begin
MXCTL=${MXCTL:-$LAB_REPO/build/mxctl}
[ -x "$MXCTL" ] || fail "mxctl missing: $MXCTL (make build/mxctl)"
command -v redis-server >/dev/null || fail "redis-server not installed (make deps)"
command -v redis-cli >/dev/null || fail "redis-cli not installed (make deps)"
sock=$LAB_DIR/ctl.sock
rsock=$LAB_DIR/redis.sock
conf=$LAB_DIR/mxgate.conf
events=$LAB_DIR/events.txt
JSON="$LAB_PY $LAB_T/json_get.py"

# Redis, on a Unix socket only, no persistence; stopped with the lab at exit.
rm -f "$rsock" "$events"
redis-server --port 0 --unixsocket "$rsock" --unixsocketperm 700 --daemonize no \
	--save "" --appendonly no --dir "$LAB_DIR" >"$LAB_DIR/redis.log" 2>&1 </dev/null &
redis_pid=$!
sub_pid=
trap '[ -n "$sub_pid" ] && kill "$sub_pid" 2>/dev/null; kill "$redis_pid" 2>/dev/null;
	wait "$redis_pid" 2>/dev/null; lab_down >/dev/null 2>&1' EXIT
rc() { redis-cli -s "$rsock" "$@"; }
for ((i = 0; i < 50; i++)); do [ "$(rc ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
[ "$(rc ping 2>/dev/null)" = PONG ] || fail "redis-server did not start: $(tail -3 "$LAB_DIR/redis.log")"
ok "redis-server on $rsock"

lab_up "control_socket = $sock" "redis_server = unix:$rsock" "redis_prefix = mxt:" ||
	fail "lab did not come up"
mx() { "$MXCTL" -c "$conf" "$@"; }

# A listener on the events channel for the whole test (line-buffered by redis-cli).
rc subscribe mxt:events >"$events" 2>&1 &
sub_pid=$!

# check WHAT CMD...: soft_fail unless CMD succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else soft_fail "$what"; fi
}

# expect_rc WANT WHAT CMD...: run CMD (output in $out), soft_fail unless it exits WANT.
expect_rc() {
	local want=$1 what=$2 got
	shift 2
	out=$("$@" 2>&1)
	got=$?
	if [ "$got" = "$want" ]; then
		ok "$what (exit $got)"
	else
		soft_fail "$what: exit $got, expected $want: $(echo "$out" | head -5)"
	fi
}

# mail TO [swaks options]: the server's lines of one swaks session.
mail() {
	local to=$1
	shift
	lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --helo client.example \
		--from a@client.example --to "$to" --body "mxctl test" "$@" 2>&1 | grep -E '^<'
}

# ---- --help everywhere, bad usage ----
nhelp=0
for c in "" status stats sessions drain resume reload policy "policy list" "policy get" \
	"policy set" "policy del" "policy import" "policy export" "policy test" "policy push" \
	cert "cert add" "cert list" "cert del" "cert push" tickets "tickets rotate"; do
	# shellcheck disable=SC2086  # c is a command and its subcommand
	h=$("$MXCTL" $c --help 2>&1)
	r=$?
	if [ $r -ne 0 ] || ! echo "$h" | grep -q '^usage: mxctl'; then
		soft_fail "mxctl $c --help: exit $r: $(echo "$h" | head -2)"
	else
		nhelp=$((nhelp + 1))
	fi
done
ok "--help on $nhelp commands: exit 0, usage on stdout"
nbad=0
for c in "" bogus "status extra" "stats --watch 0" "stats --count 2" "stats --nope" "policy" \
	"policy nope" "policy get" "policy set KeyOnly" "policy test" "policy test --client 1.2.3" \
	"policy push --version" "cert add" "cert add bad/name --chain x --key y" "cert del" \
	"tickets" "tickets spin" "drain now" "drain --timeout 5" "drain --wait --timeout 0" "sessions --all"; do
	# shellcheck disable=SC2086
	e=$("$MXCTL" -c "$conf" $c 2>&1 >/dev/null)
	r=$?
	if [ $r -ne 2 ] || [ -z "$e" ]; then
		soft_fail "mxctl $c: exit $r (expected 2 and a message): $e"
	else
		nbad=$((nbad + 1))
	fi
done
ok "bad usage: $nbad cases exit 2 with a message"

# ---- status ----
expect_rc 0 "status" mx status
for want in '^mxgate: up' '^  hostname mx.lab.example' '^  draining no' '^redis: up' \
	'^  policy_version 0'; do
	echo "$out" | grep -q -- "$want" || soft_fail "status: no line matching $want: $out"
done
js=$(mx status --json)
check "status --json: mxgate and Redis reachable" \
	test "$(echo "$js" | $JSON mxgate.reachable)/$(echo "$js" | $JSON redis.reachable)" = "true/true"
check "status --json: hostname" test "$(echo "$js" | $JSON mxgate.status.hostname)" = mx.lab.example

# ---- stats: values present, consistent with a message sent in between ----
expect_rc 0 "stats" mx stats
echo "$out" | grep -q '^mxgate_smtp_messages_total{lcore="1",result="accepted"} [0-9]' ||
	soft_fail "stats: no smtp messages_accepted counter"
echo "$out" | grep -q '^mxgate_tcp_passive_opens_total{lcore="1"} [0-9]' ||
	soft_fail "stats: no tcp_passive_opens counter"
js=$(mx stats --json) || soft_fail "stats --json"
acc0=$(echo "$js" | $JSON total.smtp_messages_total.accepted)
opens0=$(echo "$js" | $JSON lcores.1.tcp_passive_opens_total)
csum=$(echo "$js" | $JSON lcores.1.drops_total.tcp_csum)
[ -n "$acc0" ] && [ -n "$opens0" ] && [ -n "$csum" ] ||
	soft_fail "stats --json: total/lcores/drops missing: $(echo "$js" | head -c 300)"
m=$(mail b@lab.example)
echo "$m" | grep -q '^<-  250 2\.0\.0' || soft_fail "message without a policy: $m"
js=$(mx stats --json)
acc1=$(echo "$js" | $JSON total.smtp_messages_total.accepted)
opens1=$(echo "$js" | $JSON lcores.1.tcp_passive_opens_total)
check "stats: smtp messages_accepted $acc0 -> $acc1 after one message" test "$acc1" = $((acc0 + 1))
check "stats: tcp_passive_opens rose ($opens0 -> $opens1)" test "$opens1" -gt "$opens0"
v=$(lab_stat 'smtp_messages{result="accepted"}')
check "stats agrees with mxgate's SIGUSR1 file (messages_accepted $v)" test "$v" = "$acc1"
n=$(mx stats --watch 0.2 --count 3 | grep -c '^# mxctl stats ')
check "stats --watch 0.2 --count 3: 3 snapshots" test "$n" = 3
n=$(mx stats --json --watch 0.2 --count 2 | $JSON --lines)
check "stats --json --watch: 2 JSON lines" test "$n" = 2

# ---- policy set / get / list / version / events ----
expect_rc 0 "policy list on an empty map" mx policy list
[ -z "$out" ] || soft_fail "empty map listed: $out"
expect_rc 0 "policy set To:lab.example RELAY" mx policy set To:lab.example RELAY
echo "$out" | grep -q '^policy version 1: To:lab.example RELAY' || soft_fail "set said: $out"
check "policy get To:lab.example = RELAY" test "$(mx policy get To:lab.example)" = RELAY
check "policy get is case-insensitive" test "$(mx policy get to:LAB.EXAMPLE)" = RELAY
check "version 1 in Redis" test "$(rc get mxt:policy:version)" = 1
check "hash field in Redis" test "$(rc hget mxt:policy To:lab.example)" = RELAY
expect_rc 0 "policy set with a multi-word value" \
	mx policy set From:spammer@bad.example ERROR:550 5.7.1 go away
check "multi-word value stored as one" \
	test "$(mx policy get From:spammer@bad.example)" = "ERROR:550 5.7.1 go away"
out=$(mx policy list)
echo "$out" | grep -Eq '^From:spammer@bad\.example +ERROR:550 5\.7\.1 go away$' &&
	echo "$out" | grep -Eq '^To:lab\.example +RELAY$' || soft_fail "policy list: $out"
check "policy list: both entries" test "$(echo "$out" | wc -l)" = 2
check "version 2" test "$(rc get mxt:policy:version)" = 2

# an invalid entry: refused with its key and why, nothing written
before=$(rc hgetall mxt:policy | sort | tr '\n' ' ')
expect_rc 1 "invalid entry refused" mx policy set Connect:198.18.300.1 REJECT
echo "$out" | grep -q 'Connect:198.18.300.1: bad address' || soft_fail "refusal says why: $out"
echo "$out" | grep -q 'nothing written' || soft_fail "refusal says nothing was written: $out"
expect_rc 1 "bad value refused" mx policy set To:other.example RELAYY
echo "$out" | grep -q "To:other.example: unknown value 'RELAYY'" || soft_fail "bad value: $out"
mx policy set Connect:198.18.0 OK >/dev/null || soft_fail "set Connect:198.18.0"
expect_rc 1 "a key equal to another after normalisation refused" \
	mx policy set Connect:198.18.0.0/24 REJECT
echo "$out" | grep -q 'same key as Connect:198.18.0' || soft_fail "duplicate: $out"
mx policy del Connect:198.18.0 >/dev/null || soft_fail "del Connect:198.18.0"
check "nothing changed by the refusals" \
	test "$(rc hgetall mxt:policy | sort | tr '\n' ' ')" = "$before"
check "version 4 (set + del of Connect:198.18.0 only)" test "$(rc get mxt:policy:version)" = 4
expect_rc 0 "policy del" mx policy del From:spammer@bad.example
check "deleted from Redis" test "$(rc hexists mxt:policy From:spammer@bad.example)" = 0
expect_rc 1 "del of a missing entry" mx policy del From:nobody@example.com
echo "$out" | grep -q 'no entry From:nobody@example.com' || soft_fail "missing del: $out"
expect_rc 1 "get of a missing entry" mx policy get To:nowhere.example

# ---- import / export ----
cat >"$LAB_DIR/access" <<'MAP'
# lab access map for t_mxctl
To:lab.example			RELAY
From:spammer@bad.example	REJECT
To:blocked@lab.example		ERROR:550 5.1.1 User unknown   
Connect:198.18.0.99		REJECT

Srv_Features:			s
MAP
expect_rc 0 "policy import" mx policy import "$LAB_DIR/access"
echo "$out" | grep -q '5 entries' || soft_fail "import said: $out"
mx policy export >"$LAB_DIR/export1" || soft_fail "policy export"
head -1 "$LAB_DIR/export1" | grep -q '^# mxgate policy version 6, 5 entries' ||
	soft_fail "export header: $(head -1 "$LAB_DIR/export1")"
want=$(grep -Ev '^(#|$)' "$LAB_DIR/access" | awk '{ k = $1; $1 = ""; sub(/^ +/, ""); sub(/ +$/, ""); print k "\t" $0 }' | sort -f)
got=$(grep -v '^#' "$LAB_DIR/export1")
check "export has exactly the imported entries" test "$(echo "$got" | sort -f)" = "$want"
mx policy import "$LAB_DIR/export1" >/dev/null || soft_fail "import of the export"
mx policy export >"$LAB_DIR/export2"
check "import/export round trip" test "$(grep -v '^#' "$LAB_DIR/export1")" = "$(grep -v '^#' "$LAB_DIR/export2")"
printf 'To:lab.example RELAY\nConnect:1.2.3.4.5 REJECT\n' >"$LAB_DIR/bad_access"
v0=$(rc get mxt:policy:version)
expect_rc 1 "import of an invalid file refused" mx policy import "$LAB_DIR/bad_access"
echo "$out" | grep -q 'bad_access:2: Connect:1.2.3.4.5' || soft_fail "import error names FILE:LINE: $out"
check "invalid import changed nothing" test "$(rc get mxt:policy:version)/$(mx policy export | grep -vc '^#')" = "$v0/5"

# ---- policy test: decision and trace ----
expect_rc 3 "policy test: relay to another domain refused" \
	mx policy test --client 198.18.0.1 --from a@client.example --to x@other.example
for want in 'To:other.example -> not found' '=> 554 5.7.1 Relay access denied' '^decision: refused' \
	'^connect from unknown\[198.18.0.1\]'; do
	echo "$out" | grep -q -- "$want" || soft_fail "policy test trace lacks \"$want\": $out"
done
expect_rc 0 "policy test: our domain relayed" mx policy test --client 198.18.0.1 --to b@lab.example
echo "$out" | grep -q 'To:lab.example -> found RELAY' && echo "$out" | grep -q '^decision: accepted' ||
	soft_fail "policy test (accepted): $out"
expect_rc 3 "policy test: Connect REJECT" mx policy test --client 198.18.0.99
echo "$out" | grep -q 'Connect:198.18.0.99 -> found Connect:198.18.0.99 REJECT' || soft_fail "connect trace: $out"
expect_rc 3 "policy test --file" "$MXCTL" policy test --file "$LAB_DIR/access" --client 2001:2::1 \
	--from spammer@bad.example
echo "$out" | grep -q 'From:spammer@bad.example -> found REJECT' || soft_fail "--file trace: $out"
# TLS_Clt is judged where mxgate judges it (at MAIL, dataplane/smtp/gate.c), not after STARTTLS
printf 'TLS_Clt:198.18.0.1\tENCR:256\nTo:lab.example\tRELAY\n' >"$LAB_DIR/access_tls"
expect_rc 3 "policy test: TLS_Clt ENCR refused at MAIL" "$MXCTL" policy test --file "$LAB_DIR/access_tls" \
	--client 198.18.0.1 --verify OK --bits 128 --from a@client.example --to b@lab.example
echo "$out" | grep -q '^decision: refused at MAIL' || soft_fail "TLS_Clt not judged at MAIL: $out"
echo "$out" | awk '/^STARTTLS/ { on = 1 } /^MAIL FROM/ { on = 0 } on' | grep -q '=>' &&
	soft_fail "a decision right after STARTTLS (mxgate makes none there): $out"

# ---- policy push: mxgate enforces the map ----
m=$(mail x@other.example)
echo "$m" | grep -q '^<-  250 2\.0\.0' || soft_fail "before the push the backend decides: $m"
expect_rc 0 "policy push (from Redis)" mx policy push
echo "$out" | grep -q 'policy version 7: 5 entries' || soft_fail "push said: $out"
m=$(mail x@other.example)
echo "$m" | grep -qE '^<\*\* +554 5\.7\.1 <x@other\.example>: Relay access denied' ||
	soft_fail "after push, relaying is denied: $m"
m=$(mail b@lab.example)
echo "$m" | grep -q '^<-  250 2\.0\.0' || soft_fail "after push, our domain is delivered: $m"
ok "pushed map enforced: 554 5.7.1 Relay access denied, lab.example delivered"
st=$(mx status)
echo "$st" | grep -q '^  policy_version 7$' || soft_fail "status after push: $st"
echo "$st" | grep -q '(mxgate has' && soft_fail "status shows mxgate behind Redis: $st"
expect_rc 1 "push of an invalid file refused" mx policy push --file "$LAB_DIR/bad_access"
printf 'To:lab.example RELAY\nTo:other.example RELAY\n' >"$LAB_DIR/open_access"
expect_rc 0 "policy push --file --version" mx policy push --file "$LAB_DIR/open_access" --version lab1
m=$(mail x@other.example)
echo "$m" | grep -q '^<-  250 2\.0\.0' || soft_fail "map from --file enforced: $m"
mx status | grep -q '^  policy_version 7 (mxgate has lab1)$' ||
	soft_fail "status does not show mxgate behind Redis: $(mx status | grep policy_version)"
mx policy push >/dev/null || soft_fail "push back from Redis"

# ---- sessions ----
(printf 'EHLO client.example\r\n'; sleep 2) |
	lab_exec timeout 5 "$LAB_PY" "$LAB_T/nc.py" 198.18.0.2 25 >/dev/null 2>&1 &
hold=$!
sleep 0.7
out=$(mx sessions)
echo "$out" | grep -q 'client=198.18.0.1 .*helo=client.example' || soft_fail "sessions: $out"
js=$(mx sessions --json)
check "sessions --json: client and helo" \
	test "$(echo "$js" | $JSON 0.client)/$(echo "$js" | $JSON 0.helo)" = "198.18.0.1/client.example"
wait "$hold"

# ---- drain / resume ----
expect_rc 0 "drain" mx drain
mx status | grep -q '^  draining yes' || soft_fail "status does not show draining"
m=$(mail b@lab.example)
echo "$m" | grep -q '421 4\.3\.2' || soft_fail "draining: a new session was not refused: $m"
expect_rc 0 "resume" mx resume
m=$(mail b@lab.example)
echo "$m" | grep -q '^<-  250 2\.0\.0' || soft_fail "after resume: $m"
ok "drain: new sessions get 421 4.3.2; resume: accepted again"
# drain --wait: not done while a session is open (exit 1 at --timeout), done once it ends
(printf 'EHLO client.example\r\n'; sleep 4; printf 'QUIT\r\n') |
	lab_exec timeout 10 "$LAB_PY" "$LAB_T/nc.py" 198.18.0.2 25 >/dev/null 2>&1 &
hold=$!
sleep 0.7
expect_rc 1 "drain --wait --timeout 1 with a session open" mx drain --wait --timeout 1
echo "$out" | grep -q 'drain: 1 SMTP session(s) still open after 1 s' || soft_fail "drain --wait timeout: $out"
expect_rc 0 "drain --wait once the session ends" mx drain --wait --timeout 20
echo "$out" | grep -q '^mxgate: drained: no SMTP session open' || soft_fail "drain --wait: $out"
wait "$hold"
expect_rc 0 "resume after drain --wait" mx resume

# ---- certificates ----
crt=$LAB_CERT
key=${LAB_CERT%.crt}.key
expect_rc 0 "cert add" mx cert add lab --chain "$crt" --key "$key"
expect_rc 0 "cert add with --sni" mx cert add lab2 --chain "$crt" --key "$key" --sni "mx2.lab.example, *.Lab.example"
for bad in "x..lab.example" "-x.lab.example" "x-.lab.example" "x.-lab.example" "$(printf 'a%.0s' {1..64}).lab.example" "x_y.lab.example"; do
	expect_rc 2 "cert add --sni $bad refused" mx cert add lab9 --chain "$crt" --key "$key" --sni "$bad"
	echo "$out" | grep -qF "not a host name" || soft_fail "--sni $bad: $out"
done
check "refused --sni: nothing stored" test "$(rc exists mxt:cert:lab9)" = 0
check "sni stored comma-separated, lower case" \
	test "$(rc hget mxt:cert:lab2 sni)" = "mx2.lab.example,*.lab.example"
check "chain stored as PEM" sh -c "redis-cli -s '$rsock' hget mxt:cert:lab chain | grep -q 'BEGIN CERTIFICATE'"
check "certs set has both" test "$(rc smembers mxt:certs | sort | tr '\n' ' ')" = "lab lab2 "
openssl genrsa -out "$LAB_DIR/other.key" 2048 >/dev/null 2>&1
expect_rc 1 "cert add with a key of another certificate refused" \
	mx cert add lab3 --chain "$crt" --key "$LAB_DIR/other.key"
echo "$out" | grep -q 'does not belong' || soft_fail "mismatch message: $out"
check "refused certificate not stored" test "$(rc exists mxt:cert:lab3)" = 0
out=$(mx cert list)
echo "$out" | grep -q '^lab .*CN=mx.lab.example' && echo "$out" | grep -q '^lab2 .*sni mx2.lab.example' ||
	soft_fail "cert list: $out"
expect_rc 0 "cert push" mx cert push --default lab
echo "$out" | grep -q '2 certificate(s) in force, default lab' || soft_fail "cert push said: $out"
m=$(mail b@lab.example --tls)
echo "$m" | grep -q '^<~  250 2\.0\.0' || soft_fail "STARTTLS after cert push: $m"
expect_rc 0 "cert del" mx cert del lab2
check "cert del removed hash and member" test "$(rc exists mxt:cert:lab2)/$(rc sismember mxt:certs lab2)" = "0/0"
expect_rc 1 "cert del of a missing certificate" mx cert del lab2

# ---- tickets ----
expect_rc 0 "tickets rotate" mx tickets rotate
cur1=$(rc hget mxt:tickets current)
expect_rc 0 "tickets rotate again" mx tickets rotate
cur2=$(rc hget mxt:tickets current)
prev2=$(rc hget mxt:tickets previous)
check "ticket keys: 96 hex each, old current became previous" \
	sh -c "echo '$cur2' | grep -Eq '^[0-9a-f]{96}$' && [ '$prev2' = '$cur1' ] && [ '$cur2' != '$cur1' ]"

# ---- reload and the events seen on the channel ----
expect_rc 0 "reload (our subscriber listens)" mx reload
echo "$out" | grep -q 'published "policy 7" on mxt:events: 1 listener' ||
	soft_fail "reload said: $out"
sleep 0.3
for ev in "policy 1" "policy 2" "policy 7" certs tickets; do
	grep -qx -- "$ev" "$events" || soft_fail "event \"$ev\" not seen on mxt:events: $(tr '\n' ' ' <"$events")"
done
ok "events on mxt:events: $(grep -Ec '^(policy [0-9]+|certs|tickets)$' "$events") messages"

# ---- Redis away ----
expect_rc 1 "policy list without Redis" mx -r "unix:$LAB_DIR/none.sock" policy list
echo "$out" | grep -q 'none.sock' || soft_fail "Redis error names the server: $out"
expect_rc 1 "status with Redis away" mx -r "unix:$LAB_DIR/none.sock" status
echo "$out" | grep -q '^mxgate: up' || soft_fail "status still shows mxgate: $out"
expect_rc 1 "stats without mxgate" mx -s "$LAB_DIR/none.sock" stats

expect_alive "after the mxctl checks"
expect_no_bug_drops
lab_end
