#!/usr/bin/env bash
# t_metrics_promtool.sh - mxgate-control's /metrics as Prometheus sees it:
# after mail that makes the labelled families appear (a TLS cipher and
# the handshake-time histogram, a policy decision, a client timeout),
# with the poll-round histogram consistent with the busy cycles,
# `promtool check metrics` reports no
# error and no warning (every family has HELP and TYPE, names are lint
# clean); mxgate_build_info carries the version, BoringSSL and DPDK; the
# old name variants (tls_v13, reject_530_auth, ...) are gone; any method
# but GET and HEAD gets 405 with "Allow: GET, HEAD"; HEAD gets the headers
# and no body.
. "$(dirname "$0")/lib.sh"
lab_begin
command -v promtool >/dev/null || fail "promtool missing (package prometheus: make deps)"
export LAB_CONTROL=1 LAB_METRICS=${LAB_METRICS:-127.0.0.1:19468}
URL=http://$LAB_METRICS/metrics
lab_up "smtpd_timeout_ms = 1500" || fail "lab did not come up"

# a TLS session and a message, a relay refusal by the map, a client that says nothing
echo 'the password' | "$LAB_SH" ctl user add alice >/dev/null || fail "mxctl user add"
"$LAB_SH" ctl policy set To:lab.example RELAY >/dev/null || fail "policy set"
out=$(lab_exec timeout 20 swaks --server 198.18.0.2 --tls --helo client.example --from a@client.example \
	--to b@lab.example 2>&1) || fail "swaks with STARTTLS: $(echo "$out" | tail -3)"
for ((i = 0; i < 20; i++)); do
	lab_exec timeout 15 swaks --server 198.18.0.2 --helo client.example --from a@client.example \
		--to x@other.example 2>&1 | grep -q 'Relay access denied' && break
	sleep 0.1
done
[ $i -lt 20 ] || fail "the policy was not enforced within 2 s"
lab_exec timeout 10 bash -c 'exec 3<>/dev/tcp/198.18.0.2/25; sleep 3' 2>/dev/null
ok "mail sent: STARTTLS, a relay refusal, a client timeout"

# mxgate-control fetches the counters every few seconds: wait for the labelled ones
want='mxgate_smtp_tls_cipher_total mxgate_smtp_policy_decisions_total mxgate_smtp_timeouts_after_total
	mxgate_smtp_tls_handshake_seconds_bucket'
for ((i = 0; i < 100; i++)); do
	curl -s -o "$LAB_DIR/metrics.txt" "$URL"
	miss=
	for m in $want; do grep -q "^$m{" "$LAB_DIR/metrics.txt" || miss="$miss $m"; done
	[ -z "$miss" ] && break
	sleep 0.1
done
[ -z "$miss" ] || fail "not in /metrics after 10 s:$miss"
ok "the labelled families are in /metrics"

lint=$(promtool check metrics <"$LAB_DIR/metrics.txt" 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -z "$lint" ] || fail "promtool check metrics (exit $rc): $(echo "$lint" | head -20)"
fams=$(grep -c '^# TYPE ' "$LAB_DIR/metrics.txt")
helps=$(grep -c '^# HELP ' "$LAB_DIR/metrics.txt")
series=$(grep -vc '^#' "$LAB_DIR/metrics.txt")
[ "$fams" = "$helps" ] && [ "$fams" -ge 60 ] || fail "$fams TYPE lines, $helps HELP lines"
ok "promtool check metrics: no error, no warning ($series series in $fams families, each with HELP and TYPE)"

bi=$(grep '^mxgate_build_info{' "$LAB_DIR/metrics.txt")
echo "$bi" | grep -Eq '^mxgate_build_info\{version="[^"]+",boringssl="[0-9][^"]*",dpdk="[0-9][^"]*"\} 1$' ||
	fail "build_info: '$bi'"
ok "$bi"
old=$(grep -E '^mxgate_(smtp_tls_v1[23]|smtp_reject_530_[a-z_]+|smtp_messages_(accepted|rejected|tempfailed)|smtp_verify_[a-z]+|smtp_policy_[a-z]+_rejects|smtp_auth_(success|failed|limited|busy|refused)|tls_key_ifma_fill_[0-9]|control_[a-z]+_pushes)_total' \
	"$LAB_DIR/metrics.txt" | head -3)
[ -z "$old" ] || fail "name variants left: $old"
grep -q '^mxgate_smtp_tls_sessions_total{lcore="1",version="TLSv1.3"} [1-9]' "$LAB_DIR/metrics.txt" ||
	fail "no TLSv1.3 session counted: $(grep tls_sessions "$LAB_DIR/metrics.txt")"
grep -q '^mxgate_smtp_policy_rejects_total{lcore="1",stage="rcpt"} [1-9]' "$LAB_DIR/metrics.txt" ||
	fail "no RCPT refusal counted: $(grep policy_rejects "$LAB_DIR/metrics.txt")"
ok "name variants are labels (TLS version, refusal stage, ...)"
grep -q '^# TYPE mxgate_smtp_tls_handshake_seconds histogram$' "$LAB_DIR/metrics.txt" ||
	fail "the handshake times are not a histogram: $(grep -m3 tls_handshake_seconds "$LAB_DIR/metrics.txt")"
ok "mxgate_smtp_tls_handshake_seconds is a histogram"
# the poll rounds that found work: a histogram whose sum is the busy cycles, whose count is +Inf
grep -q '^# TYPE mxgate_worker_busy_round_seconds histogram$' "$LAB_DIR/metrics.txt" ||
	fail "the poll rounds are not a histogram: $(grep -m3 busy_round "$LAB_DIR/metrics.txt")"
awk '
	/^mxgate_worker_busy_round_seconds_bucket\{lcore="1",le="\+Inf"\}/ { inf = $2 }
	/^mxgate_worker_busy_round_seconds_count\{lcore="1"\}/ { cnt = $2 }
	/^mxgate_worker_busy_round_seconds_sum\{lcore="1"\}/ { sum = $2 }
	/^mxgate_busy_cycles_total\{lcore="1"\}/ { busy = $2 }
	/^mxgate_tsc_hz / { hz = $2 }
	END {
		d = sum - busy / hz; if (d < 0) d = -d
		exit !(cnt > 0 && inf == cnt && hz > 0 && d < 0.000002)
	}' "$LAB_DIR/metrics.txt" ||
	fail "busy rounds: $(grep -E '^mxgate_(worker_busy_round_seconds_(sum|count)|busy_cycles_total|tsc_hz)' "$LAB_DIR/metrics.txt")"
ok "mxgate_worker_busy_round_seconds: count = +Inf > 0, sum = busy cycles / TSC Hz"

# methods: GET and HEAD only
for m in POST PUT DELETE OPTIONS PATCH; do
	hdr=$(curl -s -o /dev/null -D - -X "$m" "$URL") || fail "curl -X $m failed"
	echo "$hdr" | grep -q '^HTTP/1.0 405 ' || fail "$m /metrics: $(echo "$hdr" | head -1)"
	echo "$hdr" | grep -qi '^Allow: GET, HEAD' || fail "$m /metrics: no 'Allow: GET, HEAD': $hdr"
done
ok "POST, PUT, DELETE, OPTIONS, PATCH: 405 with Allow: GET, HEAD"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$LAB_METRICS/other")
[ "$code" = 404 ] || fail "POST /other: $code, expected 404"
hdr=$(curl -s -I "$URL") || fail "curl -I failed"
echo "$hdr" | grep -q '^HTTP/1.0 200 ' || fail "HEAD /metrics: $hdr"
len=$(echo "$hdr" | tr -d '\r' | sed -n 's/^Content-Length: //Ip')
[ -n "$len" ] && [ "$len" -gt 1000 ] || fail "HEAD /metrics: Content-Length '$len'"
# the raw answer to HEAD ends with the headers
exec 3<>"/dev/tcp/${LAB_METRICS%:*}/${LAB_METRICS##*:}" || fail "cannot connect to $LAB_METRICS"
printf 'HEAD /metrics HTTP/1.0\r\n\r\n' >&3
raw=$(timeout 5 cat <&3 | od -An -c | tr -d ' \n')
exec 3<&-
case $raw in
	*'\r\n\r\n') ;;
	*) fail "HEAD /metrics sent more than headers: ...${raw: -80}" ;;
esac
ok "HEAD: 200, Content-Length $len, headers only"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL")
[ "$code" = 200 ] || fail "GET /metrics after all that: $code"
ok "GET still 200"
pass
