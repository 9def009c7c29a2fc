#!/usr/bin/env bash
# asan.sh - the sanitized lab (make test-asan): the whole lab suite, or the
# tests named on the command line, against the ASan + UBSan builds
# build/asan/mxgate and build/asan/mxgate-control, one tests/lab/run.sh per
# test. Fails if any test fails or if any sanitizer report was written.
#
# Where reports go: the runtimes write them to files (log_path), one folder
# per test, build/lab-asan/<test>/san.<pid>, whatever the test does with the
# process's stderr (some tests keep a binary's output in a variable, or
# start mxgate-control with a log of their own). The check also greps every
# file of the test's folder (mxgate.log, control.log, test.out, ...) for a
# report that reached stderr anyway (a runtime that could not open its file).
#
# halt_on_error: ASan halts (built with -fno-sanitize-recover=address):
# after a bad write the process state cannot be trusted, and the test then
# fails with the report as its reason. UBSan does not halt: one run lists
# every undefined-behaviour site, and each is a failure of the check anyway.
# detect_leaks=1: mxgate and mxgate-control exit through their own clean-up
# on SIGTERM, so a leak at exit is a leak.
#
# Environment: LAB_NS (mxlab), LAB_DIR base (build/lab-asan), and what
# tests/lab/run.sh takes (LAB_TEST_TIMEOUT: 480 s per test here, the
# sanitized binary being slower).
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BASE=${LAB_DIR:-$REPO/build/lab-asan}
export MXGATE=$REPO/build/asan/mxgate
export MXCONTROL=$REPO/build/asan/mxgate-control   # deploy/lab.sh
export MXGATE_CONTROL=$MXCONTROL                    # tests that start mxgate-control themselves
export LAB_TEST_TIMEOUT=${LAB_TEST_TIMEOUT:-480}
# a report is a line the runtimes print and nothing else does
SAN_RE='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)'

for b in "$MXGATE" "$MXCONTROL"; do
	[ -x "$b" ] || { echo "asan: missing $b (make asan)"; exit 1; }
done

tests=()
if [ $# -gt 0 ]; then
	for a in "$@"; do
		a=${a%.sh}; a=${a##*/}
		case $a in t_*) ;; *) a=t_$a ;; esac
		tests+=("$a")
	done
else
	for t in "$REPO"/tests/lab/t_*.sh; do
		t=${t##*/}
		tests+=("${t%.sh}")
	done
fi

trap 'echo "asan: interrupted"; exit 130' INT TERM HUP
start=$SECONDS
passed=0
failed=0
reports=0
dirty=()
for t in "${tests[@]}"; do
	d=$BASE/$t
	mkdir -p "$d"
	rm -f "$d"/san.*
	export ASAN_OPTIONS="log_path=$d/san:detect_leaks=1:abort_on_error=0:halt_on_error=1:print_summary=1"
	export UBSAN_OPTIONS="log_path=$d/san:print_stacktrace=1:halt_on_error=0:print_summary=1"
	export LSAN_OPTIONS="log_path=$d/san"
	LAB_DIR=$BASE "$REPO/tests/lab/run.sh" "$t" | grep -v '^lab: \(total\|[0-9]* passed\)'
	if [ "${PIPESTATUS[0]}" -eq 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
	# reports from the runtimes' files and from any log of the test
	found=$(grep -lE "$SAN_RE" "$d"/* 2>/dev/null)
	if [ -n "$found" ]; then
		# one SUMMARY line per report; the runtime's own files first, as a
		# report may also be copied to the process's stderr (a log)
		n=$(cat "$d"/san.* 2>/dev/null | grep -cE '^SUMMARY: ')
		[ "$n" -gt 0 ] || n=$(grep -hcE '^SUMMARY: ' $found | awk '{s += $1} END {print s + 0}')
		[ "$n" -gt 0 ] || n=1
		reports=$((reports + n))
		dirty+=("$t")
		echo "SANITIZER $t: $n report(s) in: $(echo $found | sed "s|$BASE/||g")"
		grep -hE -A12 "$SAN_RE" $found | head -n 40 | sed 's/^/  | /'
	fi
done
trap - INT TERM HUP
echo "asan: total $((SECONDS - start))s"
echo "asan: $passed passed, $failed failed, $reports sanitizer report(s)${dirty[*]:+ in: ${dirty[*]}}"
[ "$failed" -eq 0 ] && [ "$reports" -eq 0 ]
