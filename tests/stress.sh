#!/bin/sh
# tests/stress.sh — make check under load (make check-stress).
#
#   sh tests/stress.sh [ROUNDS]          (default 5, or TLSSHIM_STRESS_ROUNDS)
#
# Each round runs "make check" (both builds) while, beside it, another
# copy of the suite runs over and over (tests/run.sh on the default build;
# its namespaces keep its ports apart) and a CPU hog keeps every core busy
# (a shell loop per CPU at nice 10, TLSSHIM_STRESS_HOG_NICE: the machine is
# never idle, and the two suites already oversubscribe it twice; bounded:
# it stops with the round, at the latest after 1 hour).  Prints, per round, whether make check passed and how long
# it took, and what the copy beside it did; exits non-zero if any round
# failed.  Logs: $TLSSHIM_STRESS_LOGS (default /tmp/tlsshim-stress.PID).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
rounds=${1:-${TLSSHIM_STRESS_ROUNDS:-5}}
logs=${TLSSHIM_STRESS_LOGS:-/tmp/tlsshim-stress.$$}
mkdir -p "$logs"
ncpu=$(nproc 2>/dev/null || echo 2)
bad=0
pids=""
# tree PID...: the pids and all their descendants.
tree() {
	cat /proc/[0-9]*/stat 2>/dev/null |
	sed -n 's/^\([0-9][0-9]*\) (.*) [A-Za-z] \([0-9][0-9]*\) .*/\1 \2/p' |
	awk -v roots="$*" 'BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
		{ parent[$1] = $2 }
		END { for (p in parent) { q = p; d = 0
			while (q != "" && q != 0 && d < 64) { if (q in want) { print p; break }; q = parent[q]; d++ } } }'
}
# stop_load: end the copy beside and the hogs, with everything they started
# (the copy's tests/run.sh passes TERM on to its tests' namespaces).
# a hog that ended at its time limit leaves a pid anyone may have now
. "$top/tests/tools/ours.inc"
stop_load() {
	[ -n "$pids" ] || return 0
	_roots=""
	for p in $pids; do ours "$p" && _roots="$_roots $p"; done
	# shellcheck disable=SC2046,SC2086
	[ -z "$_roots" ] || kill $(tree $_roots) 2>/dev/null
	for p in $pids; do wait "$p" 2>/dev/null; done
	pids=""
}
trap 'pids="$pids ${mk:-}"; stop_load; exit 130' INT TERM

echo "stress: $rounds rounds of make check beside another copy of the suite and $ncpu CPU hogs; logs in $logs"
# Build both once, so that the copy beside the first round has something to run.
make --no-print-directory test-build >"$logs/build.log" 2>&1 &&
make --no-print-directory BUILD=build/asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	test-build >>"$logs/build.log" 2>&1 || { echo "stress: the build failed, see $logs/build.log"; exit 1; }
r=1
while [ "$r" -le "$rounds" ]; do
	: >"$logs/beside.$r.log"
	# another copy of the suite, over and over, until the round ends
	( n=0; while :; do n=$((n + 1)); echo "=== copy run $n" >>"$logs/beside.$r.log"
		sh tests/run.sh --build build >>"$logs/beside.$r.log" 2>&1; done ) &
	pids="$pids $!"
	i=0
	while [ "$i" -lt "$ncpu" ]; do
		nice -n "${TLSSHIM_STRESS_HOG_NICE:-10}" timeout 3600 sh -c 'while :; do :; done' &
		pids="$pids $!"
		i=$((i + 1))
	done
	start=$(date +%s)
	make --no-print-directory check >"$logs/round.$r.log" 2>&1 &
	mk=$!
	wait "$mk"
	rc=$?
	mk=""
	secs=$(( $(date +%s) - start ))
	stop_load
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$logs/round.$r.log" | tail -n 1)
	beside=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$logs/beside.$r.log" | tr '\n' ';' | sed 's/;$//; s/;/; /g')
	if [ "$rc" -eq 0 ]; then verdict=PASS; else verdict=FAIL; bad=$((bad + 1)); fi
	printf 'round %d: %s make check: %s in %dm%02ds (beside it, completed copies: %s)\n' \
		"$r" "$verdict" "${last:-no summary line}" $((secs / 60)) $((secs % 60)) "${beside:-none}"
	if [ "$rc" -ne 0 ]; then
		grep -E '^\[|^    \| FAIL|^FAIL' "$logs/round.$r.log" | grep -v ' 0 failed' | head -n 20 | sed 's/^/    /'
	fi
	r=$((r + 1))
done
echo "stress: $((rounds - bad)) of $rounds rounds passed"
[ "$bad" -eq 0 ]
