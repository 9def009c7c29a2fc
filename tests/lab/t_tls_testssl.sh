#!/usr/bin/env bash
# t_tls_testssl.sh - testssl.sh (Debian's package, 3.0) scans mxgate's TLS
# on 25 (STARTTLS, smtp) and 465 (implicit TLS) with the default settings,
# inside the lab namespace, and the test fails on any finding that is
#   - severity LOW, MEDIUM, HIGH, CRITICAL or FATAL. MEDIUM and up are what
#     testssl calls weak or broken; LOW is included because testssl 3.0
#     files real weaknesses there: SWEET32 ("VULNERABLE, uses 64 bit block
#     ciphers" on screen, "uses 64 bit block ciphers" at LOW in the JSON),
#     LUCKY13, CBC suites ("AVERAGE"). With the defaults every finding is OK
#     or INFO; WARN (the scanner's own environment, e.g. no GOST engine in
#     the local openssl) is shown and allowed;
#   - marked VULNERABLE or "not ok" in its text, whatever the severity;
# and when the scan is incomplete (a check missing from the JSON, or TLS 1.2
# and 1.3 not found offered). The TLS 1.2 suites found must be exactly the
# defaults (README "TLS defaults": ECDHE with AEAD; the lab's certificate is
# RSA, so the ECDHE-RSA half).
#
# Offline: the target is an address (--ip, no name), --nodns none (no DNS
# query at all), no --phone-out (no CRL or OCSP fetch), and the namespace has
# no route out anyway.
#
# Bounded (80-90 s on the shared 2-core machine, the two ports scanned at once): only the checks that
# judge the TLS configuration run: -p (protocols), -s (cipher categories),
# -f (forward secrecy), -U (every vulnerability check testssl runs on a
# non-HTTP service: Heartbleed, CCS, ROBOT, renegotiation, CRIME, POODLE,
# fallback SCSV, SWEET32, FREAK, DROWN, LOGJAM, BEAST, LUCKY13, RC4), and on
# 465 -E (each cipher per protocol: the exact TLS 1.2 list; 25 shares the
# TLS context). Left out: -S (certificate and server defaults: the lab's
# self-signed certificate is "NOT ok" by design and chain checks want the
# network), -c (client simulation: no finding, a minute of handshakes), -h
# (HTTP headers: not HTTP).
#
# Last, a negative control shows the judgement can fail: with tls_ciphers
# adding DES-CBC3-SHA and AES128-SHA, testssl's SWEET32 check (-W) on 465
# must find 64-bit block ciphers and the judge must reject it.
. "$(dirname "$0")/lib.sh"
lab_begin
command -v testssl >/dev/null || fail "testssl not installed (make deps: testssl.sh)"

TS=(timeout -k 5 400 testssl --quiet --color 0 --warnings off --nodns none
	--connect-timeout 10 --openssl-timeout 10)

# judge FILE.json: print every finding worth seeing; 0 if none fails (see above)
judge() {
	"$LAB_PY" - "$1" <<-'EOF'
	import json, re, sys
	try:
	    rows = json.load(open(sys.argv[1]))
	except (OSError, ValueError) as e:
	    print("  no JSON from testssl: %s" % e)
	    sys.exit(1)
	bad = 0
	for r in rows:
	    sev, fid, finding = r.get("severity", ""), r.get("id", ""), r.get("finding", "")
	    vuln = re.search(r"VULNERABLE", finding) and not re.search(r"not vulnerable", finding, re.I)
	    notok = re.search(r"\bnot ok\b", finding, re.I)
	    if sev in ("LOW", "MEDIUM", "HIGH", "CRITICAL", "FATAL") or vuln or notok:
	        bad += 1
	        print("  BAD  %-8s %-28s %s" % (sev, fid, finding))
	    elif sev == "WARN":
	        print("  note %-8s %-28s %s" % (sev, fid, finding))
	print("  %d findings, %d that fail" % (len(rows), bad))
	sys.exit(1 if bad else 0)
	EOF
}

# field FILE.json ID: the finding of one id ("" if absent)
field() {
	"$LAB_PY" -c 'import json, sys
for r in json.load(open(sys.argv[1])):
    if r.get("id") == sys.argv[2]:
        print(r.get("finding", "")); break' "$1" "$2"
}

# scan NAME PORT [testssl options...]: JSON in $LAB_DIR/NAME.json
scan() {
	local name=$1 port=$2 t0=$SECONDS rc
	shift 2
	rm -f "$LAB_DIR/$name.json" "$LAB_DIR/$name.log"
	lab_exec "${TS[@]}" --ip 198.18.0.2 --jsonfile "$LAB_DIR/$name.json" "$@" \
		"198.18.0.2:$port" >"$LAB_DIR/$name.log" 2>&1
	rc=$?
	echo "--- testssl $name ($*) on $port: exit $rc, $((SECONDS - t0)) s"
	[ -s "$LAB_DIR/$name.json" ] || { tail -20 "$LAB_DIR/$name.log"; fail "$name: testssl wrote no JSON"; }
}

# the scan covered what it must, and TLS 1.2 and 1.3 answered
complete() {
	local f=$LAB_DIR/$1.json id v
	for id in SSLv2 SSLv3 TLS1 TLS1_1 TLS1_2 TLS1_3 cipherlist_NULL cipherlist_aNULL \
		cipherlist_EXPORT cipherlist_LOW cipherlist_3DES_IDEA cipherlist_AVERAGE \
		cipherlist_STRONG PFS heartbleed CCS ROBOT secure_renego secure_client_renego \
		CRIME_TLS POODLE_SSL fallback_SCSV SWEET32 FREAK DROWN LOGJAM BEAST LUCKY13 RC4; do
		v=$(field "$f" "$id")
		[ -n "$v" ] || fail "$1: no '$id' in testssl's findings: the scan is incomplete"
	done
	v=$(field "$f" TLS1_2)
	echo "$v" | grep -q '^offered' || fail "$1: TLS 1.2 not found offered: $v"
	v=$(field "$f" TLS1_3)
	echo "$v" | grep -q '^offered' || fail "$1: TLS 1.3 not found offered: $v"
	ok "$1: every check ran; TLS 1.2 and TLS 1.3 offered"
}

# the TLS 1.2 suites found (-E: cipher-tls1_2_xc02f ... lines), by OpenSSL name
tls12_suites() {
	"$LAB_PY" -c 'import json, sys
for r in json.load(open(sys.argv[1])):
    if r.get("id", "").startswith("cipher-tls1_2_"):
        print(r["finding"].split()[3])' "$1" | sort
}

lab_up || fail "lab did not come up"
# both ports at once: scan() fails in a subshell, so each reports through its status
(scan starttls25 25 -p -s -f -U -t smtp) &
p25=$!
(scan tls465 465 -p -s -f -E -U) &
p465=$!
wait $p25 || fail "scan of 25 failed"
wait $p465 || fail "scan of 465 failed"
for name in starttls25 tls465; do
	complete "$name"
	judge "$LAB_DIR/$name.json" || fail "$name: testssl found weaknesses (above; $LAB_DIR/$name.json)"
	ok "$name: no finding LOW or above, none VULNERABLE or not ok"
done
got=$(tls12_suites "$LAB_DIR/tls465.json" | tr '\n' ' ')
want="ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305 "
[ "$got" = "$want" ] || fail "TLS 1.2 suites offered on 465: '$got', expected '$want'"
ok "TLS 1.2 suites are exactly ECDHE-RSA with AES-GCM or ChaCha20-Poly1305"
lab_alive || fail "mxgate did not survive the scans"
ok "mxgate still runs after both scans"
lab_down >/dev/null 2>&1

# negative control: 3DES and CBC with static RSA added by tls_ciphers
lab_up "tls_ciphers = ECDHE-RSA-AES128-GCM-SHA256:DES-CBC3-SHA:AES128-SHA" || fail "lab (weak list) did not come up"
scan weak465 465 -W
if judge "$LAB_DIR/weak465.json"; then
	fail "weak list: the judge let DES-CBC3-SHA through"
fi
field "$LAB_DIR/weak465.json" SWEET32 | grep -q '64 bit block cipher' || fail "weak list: SWEET32 not found"
ok "weak list (DES-CBC3-SHA): SWEET32 found and rejected by the judge"
pass
