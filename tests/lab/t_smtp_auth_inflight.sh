#!/usr/bin/env bash
# t_smtp_auth_inflight.sh - one SMTP AUTH check in flight per client source,
# a bounded number per IPv6 /48 (dataplane/smtp/auth.h), against smtplib
# with two workers (a client's sessions land on either: the second check
# is refused whether its worker or the service lcore sees the first):
#   - a wrong password from 198.18.0.1 is held for the 3 s failure delay;
#     meanwhile one more AUTH, then four at once, from 198.18.0.1 get
#     "454 4.7.0 Temporary authentication failure: another authentication
#     in progress" at once, without a check; another address (198.18.0.3)
#     authenticates meanwhile; once the 535 is out, 198.18.0.1 authenticates;
#   - smtpd_auth_ipv6_48_limit = 2: failures held from two /64s of
#     2001:2::/48, a third /64 of it (and 2001:2::1) gets "454 4.7.0 ... too
#     many authentications in progress from your network"; afterwards it
#     authenticates;
#   - log lines, mxgate_smtp_auth_total{result="inflight"} and
#     mxgate_service_auth_refused_total{reason} over the control socket and
#     /metrics, and the scrypt checks counted are exactly the ones admitted;
#   - a 454 is not one of the session's three failed tries: while another
#     wrong password from 198.18.0.1 is held, one session gets three 454s and
#     then, once the 535 is out, 235 in the same session; another retries
#     AUTH without pause and gets twenty 454s, then "421 4.7.0 ... too many
#     errors" (smtpd_hard_error_limit), logged "too many errors after AUTH".
. "$(dirname "$0")/lib.sh"
lab_begin
export LAB_CONTROL=1 LAB_WORKERS=2
export LAB_METRICS=${LAB_METRICS:-127.0.0.1:19522}
lab_up "smtpd_auth_fail_delay_ms = 3000" "smtpd_auth_ipv6_48_limit = 2" || fail "lab did not come up"

mx() { "$LAB_SH" ctl "$@"; }
status_users() { "$LAB_PY" "$LAB_T/ctl_client.py" "$LAB_DIR/ctl.sock" status | awk '$1 == "auth_users" { print $2 }'; }
# counter NAME [LABEL="VALUE"]: summed over lcores (the control socket's STATS)
counter() { "$LAB_PY" "$LAB_T/ctl_client.py" "$LAB_DIR/ctl.sock" stats |
	awk -v m="$1" -v l="${2:-}" '{ n = $1; sub(/\{.*/, "", n) } n == m && (l == "" || index($1, l)) { s += $2 }
		END { print s + 0 }'; }
auth() { lab_py smtp_auth.py --server "$@"; }
jget() { "$LAB_PY" -c 'import json,sys; print(eval(sys.argv[1], {"r": json.loads(sys.stdin.read())}))' "$1"; }
# wait_checks N: until the service lcore has run N scrypt checks (5 s)
wait_checks() {
	local i
	for ((i = 0; i < 100; i++)); do [ "$(counter mxgate_service_auth_checks_total)" -ge "$1" ] && return 0; sleep 0.05; done
	fail "service_auth_checks did not reach $1 (at $(counter mxgate_service_auth_checks_total))"
}
# code FILE: the AUTH reply code in smtp_auth.py's output; text FILE: its text
code() { jget 'r["auth"][0]' <"$1"; }
text() { jget 'r["auth"][1]' <"$1"; }

echo alice-secret | mx user add alice >/dev/null || fail "mxctl user add alice"
for ((i = 0; i < 60; i++)); do [ "$(status_users)" = 1 ] && break; sleep 0.05; done
[ "$(status_users)" = 1 ] || fail "mxgate has $(status_users) users, 1 expected"
lab_exec ip addr add 198.18.0.3/24 dev mxout || fail "cannot add 198.18.0.3"
for n in 10 11 12; do
	lab_exec ip -6 addr add "2001:2:0:$n::1/128" dev mxout nodad || fail "cannot add 2001:2:0:$n::1"
done

# ---- one check in flight per address ----
auth 198.18.0.2 --user alice --password wrong >"$LAB_DIR/a.json" 2>&1 &
apid=$!
wait_checks 1             # A checked, its 535 held for 3 s: still in flight
t0=$(date +%s%3N)
auth 198.18.0.2 --user alice --password alice-secret >"$LAB_DIR/b.json" 2>&1 || fail "smtp_auth.py: $(cat "$LAB_DIR/b.json")"
dt=$(( $(date +%s%3N) - t0 ))
[ "$(code "$LAB_DIR/b.json")" = 454 ] || fail "a second AUTH while one is in flight: $(cat "$LAB_DIR/b.json")"
text "$LAB_DIR/b.json" | grep -q '^4.7.0 Temporary authentication failure: another authentication in progress$' ||
	fail "454 text: $(text "$LAB_DIR/b.json")"
ok "second AUTH from 198.18.0.1 while the first is held: 454 $(text "$LAB_DIR/b.json") (session $dt ms)"
# four at once, over both workers
pids=()
for k in 1 2 3 4; do
	auth 198.18.0.2 --user alice --password alice-secret >"$LAB_DIR/c$k.json" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for k in 1 2 3 4; do
	[ "$(code "$LAB_DIR/c$k.json")" = 454 ] || fail "concurrent AUTH $k from 198.18.0.1: $(cat "$LAB_DIR/c$k.json")"
done
ok "four concurrent AUTH from 198.18.0.1: 454 each"
out=$(auth 198.18.0.2 --source 198.18.0.3 --user alice --password alice-secret)
[ "$(echo "$out" | jget 'r["auth"][0]')" = 235 ] || fail "198.18.0.3 while .1 is in flight: $out"
ok "198.18.0.3 meanwhile: 235"
[ "$(counter mxgate_service_auth_checks_total)" = 2 ] ||
	fail "checks run: $(counter mxgate_service_auth_checks_total), 2 expected (the refused ones are not checked)"
wait "$apid"
[ "$(code "$LAB_DIR/a.json")" = 535 ] || fail "the first AUTH (wrong password): $(cat "$LAB_DIR/a.json")"
ok "the first: 535 after $(jget 'r["auth"][2]' <"$LAB_DIR/a.json") s"
out=$(auth 198.18.0.2 --user alice --password alice-secret)
[ "$(echo "$out" | jget 'r["auth"][0]')" = 235 ] || fail "198.18.0.1 after its check was answered: $out"
ok "198.18.0.1 once its check is answered: 235"
[ "$(counter mxgate_smtp_auth_total 'result="inflight"')" = 5 ] ||
	fail "smtp_auth_total{result=inflight} $(counter mxgate_smtp_auth_total 'result="inflight"'), 5 expected"
[ "$(counter mxgate_service_auth_refused_total 'reason="inflight"')" = 5 ] ||
	fail "service_auth_refused_total{reason=inflight} $(counter mxgate_service_auth_refused_total 'reason="inflight"'), 5 expected"
log_has 'smtpd\[[0-9]+\]: warning: [^ ]*\[198\.18\.0\.1\]: SASL PLAIN authentication refused: another authentication in progress from this client' 5 ||
	fail "not 5 log lines for the refusals: $(grep -c 'another authentication in progress' "$LAB_DIR/mxgate.log")"
ok "counted (smtp_auth inflight 5, service_auth_refused inflight 5) and logged"

# ---- at most 2 per IPv6 /48 ----
checks=$(counter mxgate_service_auth_checks_total)
auth 2001:2::2 --source 2001:2:0:10::1 --user alice --password wrong1 >"$LAB_DIR/d1.json" 2>&1 &
d1=$!
auth 2001:2::2 --source 2001:2:0:11::1 --user alice --password wrong2 >"$LAB_DIR/d2.json" 2>&1 &
d2=$!
wait_checks $((checks + 2))
for src in 2001:2:0:12::1 2001:2::1; do
	out=$(auth 2001:2::2 --source $src --user alice --password alice-secret)
	[ "$(echo "$out" | jget 'r["auth"][0]')" = 454 ] || fail "a third /64 of 2001:2::/48 ($src): $out"
	echo "$out" | jget 'r["auth"][1]' |
		grep -q '^4.7.0 Temporary authentication failure: too many authentications in progress from your network$' ||
		fail "454 text for $src: $out"
done
ok "two failures held in 2001:2::/48: two more /64s of it get 454 ... from your network"
out=$(auth 198.18.0.2 --user alice --password alice-secret)
[ "$(echo "$out" | jget 'r["auth"][0]')" = 235 ] || fail "IPv4 while the /48 is full: $out"
wait "$d1" "$d2"
[ "$(code "$LAB_DIR/d1.json")" = 535 ] && [ "$(code "$LAB_DIR/d2.json")" = 535 ] ||
	fail "the held failures: $(cat "$LAB_DIR/d1.json" "$LAB_DIR/d2.json")"
out=$(auth 2001:2::2 --source 2001:2:0:12::1 --user alice --password alice-secret)
[ "$(echo "$out" | jget 'r["auth"][0]')" = 235 ] || fail "2001:2:0:12::1 after the /48's checks ended: $out"
ok "after their 535s, 2001:2:0:12::1 authenticates"
[ "$(counter mxgate_service_auth_refused_total 'reason="ipv6_48"')" = 2 ] ||
	fail "service_auth_refused_total{reason=ipv6_48} $(counter mxgate_service_auth_refused_total 'reason="ipv6_48"'), 2 expected"
[ "$(counter mxgate_smtp_auth_total 'result="inflight"')" = 7 ] ||
	fail "smtp_auth_total{result=inflight} $(counter mxgate_smtp_auth_total 'result="inflight"'), 7 expected"
log_has 'SASL PLAIN authentication refused: too many authentications in progress from this /48' 2 ||
	fail "no log line for the /48 refusals"

# the same through mxgate-control's /metrics
for ((i = 0; i < 60; i++)); do
	m=$(curl -s "http://$LAB_METRICS/metrics")
	echo "$m" | grep -q '^mxgate_service_auth_refused_total{[^}]*reason="inflight"[^}]*} 5$' &&
		echo "$m" | grep -q '^mxgate_service_auth_refused_total{[^}]*reason="ipv6_48"[^}]*} 2$' && break
	sleep 0.1
done
echo "$m" | grep -E '^# (HELP|TYPE) mxgate_service_auth_refused_total|^mxgate_service_auth_refused_total' | sed 's/^/    /'
echo "$m" | grep -q '^mxgate_service_auth_refused_total{[^}]*reason="inflight"[^}]*} 5$' ||
	fail "/metrics: no mxgate_service_auth_refused_total{reason=\"inflight\"} 5"
echo "$m" | grep -q '^mxgate_service_auth_refused_total{[^}]*reason="ipv6_48"[^}]*} 2$' ||
	fail "/metrics: no mxgate_service_auth_refused_total{reason=\"ipv6_48\"} 2"
echo "$m" | grep -q '^# TYPE mxgate_service_auth_refused_total counter$' || fail "/metrics: no TYPE for the family"
ok "/metrics: mxgate_service_auth_refused_total inflight 5, ipv6_48 2; scrypt checks $(counter mxgate_service_auth_checks_total)"

# ---- a 454 is no failed try; an endless run of them meets smtpd_hard_error_limit ----
checks=$(counter mxgate_service_auth_checks_total)
inflight=$(counter mxgate_smtp_auth_total 'result="inflight"')
rm -f "$LAB_DIR/go"
auth 198.18.0.2 --user alice --password wrong3 >"$LAB_DIR/e.json" 2>&1 &
epid=$!
wait_checks $((checks + 1))   # its 535 held for 3 s
auth 198.18.0.2 --user alice --password alice-secret --tries 4 --go-file "$LAB_DIR/go" >"$LAB_DIR/f.json" 2>&1 &
fpid=$!
for ((i = 0; i < 100; i++)); do
	[ "$(counter mxgate_smtp_auth_total 'result="inflight"')" -ge $((inflight + 3)) ] && break
	sleep 0.02
done
[ "$(counter mxgate_smtp_auth_total 'result="inflight"')" = $((inflight + 3)) ] ||
	fail "the retrying session's three 454s: inflight $(counter mxgate_smtp_auth_total 'result="inflight"'), $((inflight + 3)) expected"
auth 198.18.0.2 --user alice --password alice-secret --tries 30 >"$LAB_DIR/g.json" 2>&1 ||
	fail "smtp_auth.py: $(cat "$LAB_DIR/g.json")"
codes=$(jget '" ".join(str(t[0]) for t in r["tries"])' <"$LAB_DIR/g.json")
[ "$codes" = "$(printf '454 %.0s' $(seq 20))421" ] || fail "AUTH retried without pause while one is in flight: $codes"
jget 'r["auth"][1]' <"$LAB_DIR/g.json" | grep -q '^4.7.0 .* Error: too many errors$' ||
	fail "the 421's text: $(jget 'r["auth"][1]' <"$LAB_DIR/g.json")"
ok "AUTH retried without pause: twenty 454s, then $(jget 'r["auth"][0], r["auth"][1]' <"$LAB_DIR/g.json") (in $(jget 'round(sum(t[2] for t in r["tries"]), 3)' <"$LAB_DIR/g.json") s)"
wait "$epid"
[ "$(code "$LAB_DIR/e.json")" = 535 ] || fail "the held wrong password: $(cat "$LAB_DIR/e.json")"
touch "$LAB_DIR/go"
wait "$fpid" || fail "smtp_auth.py: $(cat "$LAB_DIR/f.json")"
codes=$(jget '" ".join(str(t[0]) for t in r["tries"])' <"$LAB_DIR/f.json")
[ "$codes" = "454 454 454 235" ] || fail "three 454s, then the same session once the check is answered: $codes"
ok "one session: three 454s while 198.18.0.1 has a check in flight, then 235 (not 421 too many failed authentications)"
[ "$(counter mxgate_smtp_too_many_errors_total)" = 1 ] ||
	fail "smtp_too_many_errors $(counter mxgate_smtp_too_many_errors_total), 1 expected"
[ "$(counter mxgate_smtp_auth_too_many_total)" = 0 ] ||
	fail "smtp_auth_too_many $(counter mxgate_smtp_auth_too_many_total), 0 expected"
[ "$(counter mxgate_smtp_auth_total 'result="inflight"')" = $((inflight + 23)) ] ||
	fail "smtp_auth_total{result=inflight} $(counter mxgate_smtp_auth_total 'result="inflight"'), $((inflight + 23)) expected"
log_has 'smtpd\[[0-9]+\]: too many errors after AUTH from [^ ]*\[198\.18\.0\.1\]' 1 ||
	fail "no log line \"too many errors after AUTH\""
ok "counted (smtp_too_many_errors 1, smtp_auth_too_many 0, inflight +23) and logged (too many errors after AUTH)"
pass
