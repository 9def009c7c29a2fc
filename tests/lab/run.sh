#!/usr/bin/env bash
# run.sh - run the lab tests: every tests/lab/t_*.sh, or those named on the
# command line (t_ping, t_ping.sh or ping). Each runs in its own bash with
# a time limit, its own LAB_DIR (build/lab/<test>/: mxgate.log, test.out),
# and the lab is brought down after it whatever happened. Ends with the
# line "lab: N passed, M failed"; exits 1 if any failed.
#
# Environment: LAB_TEST_TIMEOUT (240 s per test), MXGATE, LAB_NS, LAB_DIR
# (base folder, default build/lab), LAB_PY.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export LAB_NS=${LAB_NS:-mxlab}
export LAB_CONTROL=${LAB_CONTROL:-0}   # tests that want Redis and mxgate-control say so
export MXGATE=${MXGATE:-$REPO/build/mxgate}
export LAB_PY=${LAB_PY:-/usr/bin/python3}
BASE=${LAB_DIR:-$REPO/build/lab}
TIMEOUT=${LAB_TEST_TIMEOUT:-240}

tests=()
if [ $# -gt 0 ]; then
	for a in "$@"; do
		a=${a%.sh}
		a=${a##*/}
		case $a in t_*) ;; *) a=t_$a ;; esac
		if [ -f "$HERE/$a.sh" ]; then
			tests+=("$HERE/$a.sh")
		else
			echo "lab: no such test: $a" >&2
			tests+=("missing:$a")
		fi
	done
else
	for t in "$HERE"/t_*.sh; do
		[ -f "$t" ] && tests+=("$t")
	done
fi
[ ${#tests[@]} -gt 0 ] || { echo "lab: no tests found"; echo "lab: 0 passed, 1 failed"; exit 1; }

# Why nothing can run, if that is so: then every test fails with that reason.
blocker=
if [ "$(id -u)" != 0 ]; then
	blocker="not root: the lab needs network namespaces, taps and nftables"
elif [ ! -x "$MXGATE" ]; then
	blocker="mxgate binary missing or not executable: $MXGATE (build it with make)"
elif [ ! -x "$LAB_PY" ]; then
	blocker="python missing: $LAB_PY"
fi

cur_dir=
tpid=
# Bring down the lab of the test that is running (or the last one).
cleanup() {
	[ -n "$tpid" ] && kill -TERM "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
	tpid=
	[ -z "$blocker" ] && LAB_DIR=${cur_dir:-$BASE} "$REPO/deploy/lab.sh" down >/dev/null 2>&1
}
trap 'cleanup; echo "lab: interrupted"; exit 130' INT TERM HUP

# A lab left over by a crashed run would make every test fail: clear it.
if [ -z "$blocker" ] && ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$LAB_NS"; then
	echo "lab: namespace $LAB_NS exists before the run: bringing it down"
	LAB_DIR=$BASE "$REPO/deploy/lab.sh" down
fi

passed=0
failed=0
t_all=$SECONDS
for t in "${tests[@]}"; do
	name=${t##*/}
	name=${name%.sh}
	name=${name#missing:}
	if [ "${t#missing:}" != "$t" ]; then
		echo "FAIL $name: no such test"
		failed=$((failed + 1))
		continue
	fi
	if [ -n "$blocker" ]; then
		echo "FAIL $name: $blocker"
		failed=$((failed + 1))
		continue
	fi
	cur_dir=$BASE/$name
	mkdir -p "$cur_dir"
	rm -f "$cur_dir"/mxgate.log "$cur_dir"/test.out "$cur_dir"/stats.prom "$cur_dir"/snap.prom
	start=$SECONDS
	# in the background, so that INT/TERM reach our trap at once
	LAB_DIR=$cur_dir timeout -k 10 "$TIMEOUT" bash "$t" >"$cur_dir/test.out" 2>&1 </dev/null &
	tpid=$!
	wait "$tpid"
	rc=$?
	tpid=
	LAB_DIR=$cur_dir "$REPO/deploy/lab.sh" down >>"$cur_dir/test.out" 2>&1
	dur=$((SECONDS - start))
	if [ $rc -eq 0 ]; then
		echo "PASS $name (${dur}s)"
		passed=$((passed + 1))
	else
		why="exit status $rc"
		[ $rc -eq 124 ] || [ $rc -eq 137 ] && why="timed out after ${TIMEOUT}s"
		echo "FAIL $name (${dur}s, $why)"
		echo "  --- last lines of $cur_dir/test.out:"
		tail -n 25 "$cur_dir/test.out" | sed 's/^/  | /'
		if [ -s "$cur_dir/mxgate.log" ]; then
			echo "  --- last lines of $cur_dir/mxgate.log:"
			tail -n 20 "$cur_dir/mxgate.log" | sed 's/^/  | /'
		fi
		failed=$((failed + 1))
	fi
done
cur_dir=
trap - INT TERM HUP
echo "lab: total $((SECONDS - t_all))s"
echo "lab: $passed passed, $failed failed"
[ $failed -eq 0 ]
