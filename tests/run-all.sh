#!/usr/bin/env bash
# run-all.sh UNIT_TEST... - the whole suite: unit tests, the fuzz targets
# in $FUZZ_BINS (tests/fuzz/run.sh, a short bounded run each), then the lab
# tests. Ends with the project's closing line "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
ulog=$(mktemp); llog=$(mktemp); flog=$(mktemp)
trap 'rm -f "$ulog" "$llog" "$flog"' EXIT
tests/run-unit.sh "$@" 2>&1 | tee "$ulog"
if [ -n "$FUZZ_BINS" ]; then
	# shellcheck disable=SC2086
	tests/fuzz/run.sh $FUZZ_BINS 2>&1 | tee "$flog"
else
	echo "fuzz: 0 passed, 0 failed" >"$flog"
fi
tests/lab/run.sh 2>&1 | tee "$llog"
sum() { grep -E "^$1: [0-9]+ passed, [0-9]+ failed" "$2" | tail -1 | sed -E "s/^$1: ([0-9]+) passed, ([0-9]+) failed.*/\\$3/"; }
up=$(sum unit "$ulog" 1); uf=$(sum unit "$ulog" 2)
lp=$(sum lab "$llog" 1); lf=$(sum lab "$llog" 2)
fp=$(sum fuzz "$flog" 1); ff=$(sum fuzz "$flog" 2)
# a runner that died without its line counts as one failure
[ -z "$up" ] && up=0 uf=1
[ -z "$lp" ] && lp=0 lf=1
[ -z "$fp" ] && fp=0 ff=1
echo "$((up + fp + lp)) passed, $((uf + ff + lf)) failed"
[ $((uf + ff + lf)) = 0 ]
