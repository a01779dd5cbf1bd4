#!/bin/sh
# tests/run.sh — run every test of the suite against one or more builds.
#
#   sh tests/run.sh --build build [--build build/asan] [--only PATTERN]
#
# A test is a unit binary (BUILD/tests/test_*) or a script
# tests/{preload,interop,attack,launcher}/*.sh.  Every test prints one line
# per case, "PASS name" or "FAIL name: reason"; a script that dies, or
# prints no case, or runs past its time limit counts as one failure.
# The last line printed is "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
builds=""
only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--build) builds="$builds $2"; shift 2 ;;
	--only) only="$2"; shift 2 ;;
	*) echo "usage: $0 --build DIR [--build DIR] [--only PATTERN]" >&2; exit 2 ;;
	esac
done
[ -n "$builds" ] || builds=build

work=$(mktemp -d /tmp/tlsshim-tests.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
passed=0
failed=0
failures=""
script_timeout=${TLSSHIM_TEST_TIMEOUT:-300}

for b in $builds; do
	case "$b" in /*) B="$b" ;; *) B="$top/$b" ;; esac
	label=$(basename "$B")
	[ "$label" = build ] && label=default
	export TLSSHIM_BUILD="$B"
	export TLSSHIM_TOP="$top"
	export TLSSHIM_LIB="$B/libtlsshim.so"
	export TLSSHIM_LAUNCHER="$B/tlsshim"
	export TLSSHIM_PROGS="$B/progs"
	if nm -D "$TLSSHIM_LIB" 2>/dev/null | grep -q __asan_init; then
		asan=$(${CC:-cc} -print-file-name=libasan.so)
		export SHIM_PRELOAD="$asan $TLSSHIM_LIB"
		# Host programs (python, curl, ...) are not ours: their leaks are not
		# our findings.  Every other ASan/UBSan finding aborts the process.
		export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=86:log_path=$work/asan-$label"
		export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=86:log_path=$work/ubsan-$label"
	else
		export SHIM_PRELOAD="$TLSSHIM_LIB"
		unset ASAN_OPTIONS UBSAN_OPTIONS 2>/dev/null || true
	fi
	export TLSSHIM_TEST_CERTS="$work/certs-$label"
	if ! sh "$top/certs/mkcerts.sh" "$TLSSHIM_TEST_CERTS" >"$work/mkcerts-$label.log" 2>&1; then
		echo "FAIL [$label] certs/mkcerts.sh: see below"; cat "$work/mkcerts-$label.log"
		failed=$((failed + 1)); continue
	fi
	tests=""
	for t in "$B"/tests/test_*; do [ -x "$t" ] && tests="$tests $t"; done
	for d in launcher preload interop attack; do
		for t in "$top"/tests/$d/*.sh; do [ -f "$t" ] && tests="$tests $t"; done
	done
	for t in $tests; do
		name=$(echo "$t" | sed "s|^$top/||; s|^$B/||")
		if [ -n "$only" ]; then case "$name" in *$only*) ;; *) continue ;; esac; fi
		out="$work/out"
		rm -f "$work"/asan-"$label".* "$work"/ubsan-"$label".* 2>/dev/null
		start=$(date +%s)
		case "$t" in
		*.sh) timeout -k 5 "$script_timeout" sh "$t" >"$out" 2>&1 ;;
		*) timeout -k 5 "$script_timeout" "$t" >"$out" 2>&1 ;;
		esac
		rc=$?
		secs=$(( $(date +%s) - start ))
		p=$(grep -c '^PASS ' "$out")
		f=$(grep -c '^FAIL ' "$out")
		san=$(cat "$work"/asan-"$label".* "$work"/ubsan-"$label".* 2>/dev/null | head -40)
		if [ -n "$san" ]; then
			f=$((f + 1))
			echo "FAIL [$label] $name: sanitizer report" >>"$out"
			echo "$san" >>"$out"
		fi
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1
			echo "FAIL [$label] $name: exited with status $rc (124: timed out after ${script_timeout}s)" >>"$out"
		fi
		if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
			f=1
			echo "FAIL [$label] $name: ran no case" >>"$out"
		fi
		passed=$((passed + p))
		failed=$((failed + f))
		printf '%-7s %-40s %3d passed %3d failed  %4ss\n' "[$label]" "$name" "$p" "$f" "$secs"
		if [ "$f" -gt 0 ] || [ -n "${TLSSHIM_TEST_VERBOSE:-}" ]; then
			sed 's/^/    | /' "$out" | tail -n 80
		fi
	done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
