#!/usr/bin/env bash
# run.sh [-t SECONDS] FUZZ_BINARY... - run libFuzzer targets, FUZZ_JOBS (the
# number of cores) at a time, each in one process; results print in order.
#
# For each target build/fuzz/fuzz_NAME, two results are counted:
#   NAME/corpus  the committed seed corpus tests/fuzz/corpus/NAME replayed
#                (every input once: the regression run);
#   NAME/explore SECONDS of new inputs (one process, one core), starting from the
#                seeds and from what earlier runs kept in build/fuzz/corpus/NAME.
# A crash, a leak, a sanitizer report, a timeout or a failed assertion fails
# the step; the input that did it is kept in build/fuzz/artifacts/ (add it to
# the seed corpus once the bug is fixed). Logs: build/fuzz/logs/NAME.*.log;
# every exploration is appended to build/fuzz/ledger.txt (hours run).
# Default SECONDS: $FUZZ_TEST_SECONDS or 20. Ends with "fuzz: N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
secs=${FUZZ_TEST_SECONDS:-20}
if [ "$1" = "-t" ]; then
	secs=$2
	shift 2
fi
mkdir -p build/fuzz/artifacts build/fuzz/logs
jobs_max=${FUZZ_JOBS:-$(nproc)}
# result of one step, printed: NAME STEP RC LOG
result() {
	if [ "$3" = 0 ]; then
		echo "ok   $1/$2 ($(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$4" | awk '{print $2}') runs)"
	else
		echo "FAIL $1/$2: exit $3, log $4"
		grep -E 'ERROR: |SUMMARY: |FUZZ ASSERT|runtime error|artifact_prefix|Test unit written' "$4" | head -12
	fi
}
# both steps of one target; its lines go to stdout (a file per target)
one() {
	local bin=$1 name seeds work opts log rc
	name=$(basename "$bin"); name=${name#fuzz_}
	seeds=tests/fuzz/corpus/$name
	work=build/fuzz/corpus/$name
	mkdir -p "$work"
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		echo "FAIL $name/corpus: no binary $bin or no seed corpus $seeds"
		echo "FAIL $name/explore: not run"
		return
	fi
	opts=(-print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=build/fuzz/artifacts/"$name"-)
	[ -f tests/fuzz/"$name".dict ] && opts+=(-dict=tests/fuzz/"$name".dict)
	log=build/fuzz/logs/$name.corpus.log
	"$bin" "${opts[@]}" -runs=0 "$seeds" >"$log" 2>&1
	result "$name" corpus $? "$log"
	log=build/fuzz/logs/$name.explore.log
	"$bin" "${opts[@]}" -max_total_time="$secs" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	result "$name" explore $rc "$log"
	# the ledger of fuzzing time: date, target, seconds asked, inputs run, exit status
	echo "$(date -u +%FT%TZ) $name $secs $(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | \
		awk '{print $2}') rc=$rc" >>build/fuzz/ledger.txt
}
i=0
for bin in "$@"; do
	one "$bin" >"build/fuzz/logs/run.$i.out" 2>&1 &
	i=$((i + 1))
	while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
		wait -n
	done
done
wait
pass=0; fail=0
for ((j = 0; j < i; j++)); do
	cat "build/fuzz/logs/run.$j.out"
	pass=$((pass + $(grep -c '^ok ' "build/fuzz/logs/run.$j.out")))
	fail=$((fail + $(grep -c '^FAIL ' "build/fuzz/logs/run.$j.out")))
	rm -f "build/fuzz/logs/run.$j.out"
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" = 0 ]
