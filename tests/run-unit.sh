#!/usr/bin/env bash
# run-unit.sh TEST... - run unit test programs; each prints "NAME: N passed, N failed".
# Prints the sum as "unit: N passed, N failed"; exit 1 if anything failed.
pass=0; fail=0
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^[a-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' | tail -1)
	if [ -z "$line" ]; then
		printf '%s\n' "$out" | tail -20
		echo "FAIL $(basename "$t"): exit $rc, no result line"
		fail=$((fail + 1)); continue
	fi
	p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1/')
	f=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\2/')
	[ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
	[ "$f" != 0 ] && printf '%s\n' "$out" | grep -E '^FAIL' | head -30
	echo "$line"
	pass=$((pass + p)); fail=$((fail + f))
done
echo "unit: $pass passed, $fail failed"
[ "$fail" = 0 ]
