#!/bin/sh
# tests/fuzz/run.sh — run the libFuzzer targets (tests/fuzz/fuzz_*.c).
#
#   sh tests/fuzz/run.sh --build DIR --certs DIR [--seconds N] [--replay] [--corpus DIR]
#
# --build: where "make fuzz-build" put them (BUILD/fuzz).  --certs: made by
# certs/mkcerts.sh (the targets load server.crt, server.key, ca.crt).
# For each target: first every input of tests/fuzz/corpus/TARGET once (the
# seeds and the regression inputs of crashes found before), then, unless
# --replay, N seconds of fuzzing (default 5) starting from them.  New
# inputs go to --corpus DIR/TARGET when given (make fuzz keeps them in
# BUILD/fuzz/corpus across runs), else to a temporary directory.
#
# One line per target and stage: "PASS ..." with the figures libFuzzer
# reports (runs, executions per second, cov: edges covered, ft: features,
# corpus size), or "FAIL ...: reason" followed by the report; a crash,
# leak, sanitizer report, timeout or out-of-memory input is a failure and
# is kept in BUILD/artifacts/ (add it to tests/fuzz/corpus/TARGET/ once
# fixed, as a regression input).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build="" certs="" seconds=5 replay=0 keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--certs) certs=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--replay) replay=1; shift ;;
	--corpus) keep=$2; shift 2 ;;
	*) echo "usage: $0 --build DIR --certs DIR [--seconds N] [--replay] [--corpus DIR]" >&2; exit 2 ;;
	esac
done
[ -n "$build" ] && [ -n "$certs" ] || { echo "usage: $0 --build DIR --certs DIR [--seconds N] [--replay] [--corpus DIR]" >&2; exit 2; }
case "$certs" in /*) ;; *) certs=$(pwd)/$certs ;; esac
case "$build" in /*) ;; *) build=$(pwd)/$build ;; esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tlsshim-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$build/artifacts"
export TLSSHIM_TEST_CERTS="$certs"
export TMPDIR="$tmp"
# Our own sanitizer settings (not the test runner's, which would send the
# report to a file): every finding ends the run with a report on stderr.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$top/tests/fuzz/lsan.supp:print_suppressions=0"
failed=0
n=0
for bin in "$build"/fuzz_*; do
	[ -x "$bin" ] || continue
	t=$(basename "$bin")
	n=$((n + 1))
	seeds="$top/tests/fuzz/corpus/$t"
	dict=""
	[ -f "$top/tests/fuzz/$t.dict" ] && dict="-dict=$top/tests/fuzz/$t.dict"
	common="-timeout=30 -max_len=4096 -rss_limit_mb=1536 -print_final_stats=1 -artifact_prefix=$build/artifacts/$t- $dict"
	# 1. every committed input once
	nseed=$(ls "$seeds" 2>/dev/null | wc -l)
	# shellcheck disable=SC2086
	"$bin" $common -runs=0 "$seeds" >"$tmp/$t.replay" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ] && grep -q '^Done ' "$tmp/$t.replay"; then
		cov=$(sed -n 's/.*DONE *\(cov: [0-9]*\) \(ft: [0-9]*\).*/\1, \2/p' "$tmp/$t.replay" | tail -n 1)
		echo "PASS $t: the $nseed inputs of tests/fuzz/corpus/$t (seeds and regressions) run clean ($cov)"
	else
		failed=$((failed + 1))
		echo "FAIL $t: an input of tests/fuzz/corpus/$t fails (exit $rc):"
		grep -v '^#\|^INFO\|^MS:' "$tmp/$t.replay" | tail -n 40 | sed 's/^/    /'
		continue
	fi
	[ "$replay" = 1 ] && continue
	# 2. fuzzing
	if [ -n "$keep" ]; then out="$keep/$t"; else out="$tmp/corpus-$t"; fi
	mkdir -p "$out"
	start=$(date +%s)
	# shellcheck disable=SC2086
	"$bin" $common -max_total_time="$seconds" "$out" "$seeds" >"$tmp/$t.log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log" | tail -n 1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$tmp/$t.log" | tail -n 1)
	last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$tmp/$t.log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.*\(cov: [0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*\(ft: [0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\)\/.*/\1/p')
	if [ "$rc" -eq 0 ] && grep -q '^Done ' "$tmp/$t.log"; then
		echo "PASS $t: ${secs}s of fuzzing, no crash, leak or sanitizer report (${runs:-?} runs, ${eps:-?} exec/s, $cov, $ft, corpus ${corp:-?} inputs)"
	else
		failed=$((failed + 1))
		art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$tmp/$t.log" | tail -n 1)
		echo "FAIL $t: fuzzing found a failing input after ${secs}s (exit $rc; input kept: ${art:-none}):"
		grep -v '^#[0-9]\|^INFO\|^MS:\|^stat::' "$tmp/$t.log" | tail -n 60 | sed 's/^/    /'
	fi
done
if [ "$n" -eq 0 ]; then
	echo "FAIL fuzz: no fuzz target in $build (make fuzz-build; it needs clang, see .ci/packages)"
	exit 1
fi
[ "$failed" -eq 0 ]
