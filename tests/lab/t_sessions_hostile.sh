#!/usr/bin/env bash
# t_sessions_hostile.sh - what an Internet client puts in its EHLO name
# reaches the operator's `mxctl sessions`: the name is the client's, not
# mxgate's, and must neither forge other fields nor drive the terminal:
#   - EHLO "x client=10.9.9.9 verify=OK tls=TLSv1.3 age_s=7": mxctl
#     sessions --json keeps client 198.18.0.1, verify NONE, tls "-", and the
#     whole name as helo, its spaces neutered to '?' as Postfix does (before
#     that, a parser taking the last member of each name saw client
#     10.9.9.9 and verify OK);
#   - EHLO with C1 controls (CSI, OSC, ST: well-formed UTF-8, which the SMTP
#     engine lets through; it refuses ESC, BEL and bytes that are not UTF-8),
#     a tab, ';' and a backslash: the engine neuters them all to '?' before
#     anything shows the name (before, the text output relied on mxctl's
#     \xHH escapes); no control byte reaches the output, the JSON parses as
#     strict UTF-8.
. "$(dirname "$0")/lib.sh"
lab_begin
MXCTL=${MXCTL:-$LAB_REPO/build/mxctl}
[ -x "$MXCTL" ] || fail "mxctl missing: $MXCTL (make)"
lab_up || fail "lab did not come up"
mx() { "$MXCTL" -c "$LAB_DIR/mxgate.conf" "$@"; }
d=$LAB_DIR/helo
rm -rf "$d" && mkdir -p "$d" || fail "cannot make $d"

hold() {  # hold EHLO-BYTES (printf %b): a session that says EHLO and stays 8 s
	(printf "EHLO $1\r\n"; sleep 8) | lab_exec timeout 12 "$LAB_PY" "$LAB_T/nc.py" 198.18.0.2 25 >/dev/null 2>&1 &
}
hold 'forged client=10.9.9.9 verify=OK tls=TLSv1.3 age_s=7'
hold 'c1\xc2\x9b31mcsi\xc2\x9d0;owned\xc2\x9c\\back\tslash.example'
for ((i = 0; i < 50; i++)); do [ "$(mx sessions 2>/dev/null | grep -c 'state=HELO')" -ge 2 ] && break; sleep 0.1; done
mx sessions >"$d/text" || fail "mxctl sessions: exit $?"
mx sessions --json >"$d/json" || fail "mxctl sessions --json: exit $?"
[ "$(grep -c 'state=HELO' "$d/text")" = 2 ] || fail "two sessions after their EHLO expected: $(cat -v "$d/text")"

"$LAB_PY" - "$d/json" <<'PY' || fail "mxctl sessions --json: $(cat "$d/json")"
import json, sys
s = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
forged = [x for x in s if x.get("helo", "").startswith("forged")]
assert len(forged) == 1, s
f = forged[0]
assert f["helo"] == "forged?client=10.9.9.9?verify=OK?tls=TLSv1.3?age_s=7", f
assert f["client"] == "198.18.0.1" and f["verify"] == "NONE" and f["tls"] == "-", f
assert isinstance(f["age_s"], int) and f["age_s"] < 60, f
c1 = [x for x in s if x.get("helo", "").startswith("c1")]
assert len(c1) == 1, s
assert c1[0]["helo"] == "c1??31mcsi??0?owned???back?slash.example", c1
PY
ok "sessions --json: a forging EHLO stays in helo (client, verify, tls, age_s are mxgate's); strict UTF-8"
LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$d/text" && fail "control bytes in mxctl sessions: $(od -c "$d/text" | head)"
LC_ALL=C grep -q $'\xc2[\x80-\x9f]' "$d/text" && fail "a C1 control in mxctl sessions: $(od -c "$d/text" | head)"
grep -qF 'helo=c1??31mcsi??0?owned???back?slash.example' "$d/text" ||
	fail "C1 controls, tab, ';' and '\\' not neutered: $(cat -v "$d/text")"
iconv -f UTF-8 -t UTF-8 "$d/text" >/dev/null 2>&1 || fail "mxctl sessions is not UTF-8: $(cat -v "$d/text")"
ok "sessions (text): C1 CSI, OSC and ST (UTF-8 the engine lets through), tab, ';' and '\\' neutered to '?'"
pass
