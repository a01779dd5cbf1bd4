#!/bin/sh
# tests/run.sh — run every test of the suite against one or more builds.
#
#   sh tests/run.sh --build build [--build build/asan] [--only PATTERN] [--jobs N]
#
# --build DIR:PATTERN[,PATTERN...] runs only the tests of that build whose
# name contains one of the patterns (make check runs a few tests with the
# ThreadSanitizer build this way: --build build/tsan:preload/threads,...).
#
# A test is a unit binary (BUILD/tests/test_*) or a script
# tests/{launcher,preload,interop,attack,infra}/*.sh.  Every test prints one
# line per case, "PASS name" or "FAIL name: reason"; a script that dies, or
# prints no case, or runs past its time limit counts as one failure.  A
# script with the line "# tlsshim-test: once" does not use the build under
# test (it builds its own, checks the runner, or checks the suite's own
# helpers and tools, which load no library) and runs with the first
# --build only.  A script with the line "# tlsshim-test: long" waits on
# real time (certificates that must expire, a compiler) and gets twice
# the time limit; the script sees its limit in TLSSHIM_TEST_TIME_LIMIT.
#
# Isolation: each test runs in its own network, PID and mount namespaces
# (unshare; lo is brought up inside), so ports never collide, not even
# with another copy of the suite running at the same time.  When the test
# ends, every process still alive in its PID namespace is a failure
# (named: pid and command line) and is killed.
#
# Wire audit: while a test runs, tcpdump records the loopback traffic of
# its namespace; afterwards tests/tools/wireaudit checks that every TCP
# connection that the test's policies (tests/lib.sh's policy()) mark TLS
# carried TLS records only, both ways ("PASS wire audit: ..." or
# "FAIL wire audit: ...").  Deliberate plaintext is declared by the test
# with audit_exclude (tests/lib.sh).
#
# Parallel: up to TLSSHIM_JOBS tests at once (default: the number of
# CPUs plus two: most tests spend part of their time waiting on a timer
# or a peer; measured on 2 cores, 3 jobs took the suite from 1165 s to
# 974 s, and later left about 170 s of the two CPUs idle in an 862-s
# suite that used 1,536 s of test CPU, hence a 4th); each one's summary line (and its output,
# when it failed) is printed as it finishes.  The last line printed is "N passed, N failed".
#
# Environment: TLSSHIM_JOBS, TLSSHIM_TEST_TIMEOUT (seconds per test,
# default 300), TLSSHIM_TEST_VERBOSE (print every test's output),
# TLSSHIM_AUDIT=0 (no capture, no audit), TLSSHIM_AUDIT_KEEP=DIR (keep the
# capture of each test whose audit failed there), TLSSHIM_SLOWEST (how
# many of the tests that used the most CPU to list at the end; default
# 12, 0 for none).
set -u
# The library refuses policy, cert and CA files other users can write: the
# files written here must not be, whatever umask the caller has (a CI
# container with umask 000 failed every test at its policy file).
umask 022
top=$(cd "$(dirname "$0")/.." && pwd)
builds=""
only=""
jobs=${TLSSHIM_JOBS:-}
while [ $# -gt 0 ]; do
	case "$1" in
	--build) builds="$builds $2"; shift 2 ;;
	--only) only="$2"; shift 2 ;;
	--jobs) jobs="$2"; shift 2 ;;
	*) echo "usage: $0 --build DIR[:PATTERN,...] [--build DIR] [--only PATTERN] [--jobs N]" >&2; exit 2 ;;
	esac
done
[ -n "$builds" ] || builds=build
[ -n "$jobs" ] || jobs=$(( $(nproc 2>/dev/null || echo 1) + 2 ))
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
script_timeout=${TLSSHIM_TEST_TIMEOUT:-300}
capture_kb_env=${TLSSHIM_CAPTURE_BUFFER_KB:-}
audit=${TLSSHIM_AUDIT:-1}

work=$(mktemp -d /tmp/tlsshim-tests.XXXXXX)
# (searchable, not readable: the daemons' own users reach a test's $T
# below it, as they reached /tmp/tlsshim-t.*)
chmod 711 "$work"
running=""
. "$top/tests/tools/ours.inc"
cleanup() {
	# tests/infra/runner.sh: a process that takes a finished job's pid
	[ -z "${TLSSHIM_RUNNER_AT_EXIT:-}" ] || $TLSSHIM_RUNNER_AT_EXIT $running
	for _p in $running; do ours "$_p" && kill "$_p" 2>/dev/null; done
	# each test's timeout process passes the signal on to its namespace
	for _f in "$work"/j.*/tpid; do [ -f "$_f" ] && kill "$(cat "$_f")" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
passed=0
failed=0
cpu=0
# now: $_now, whole seconds since boot (/proc/uptime: a built-in read,
# not a date process twice a job).
now() {
	_now=0
	{ read -r _now _ </proc/uptime; } 2>/dev/null
	_now=${_now%.*}
}
now; suite_start=$_now
# The system's Python when there is one (as on CI): a version manager's
# python3 shim can take a second to start on a busy machine.
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
	mkdir -p "$work/bin" && ln -s /usr/bin/python3 "$work/bin/python3" && PATH="$work/bin:$PATH"
	export PATH
fi

# Go's build cache (tests/lib.sh go_build): the caller's own (go env
# GOCACHE, ~/.cache/go-build), which Go keeps safe for concurrent use and
# trims itself, so that a suite after the first on a machine finds Go's
# runtime compiled: the c-shared build of goruntime.sh compiles the whole
# standard library again (-shared), 15 s of CPU in a cache of the suite's
# own, 2.6 s in a warm one.  TLSSHIM_GOCACHE=DIR chooses another; one of
# the suite's own when Go names none.
gocache=${TLSSHIM_GOCACHE:-}
if [ -z "$gocache" ] && command -v go >/dev/null 2>&1; then
	gocache=$(go env GOCACHE 2>/dev/null)
	case "$gocache" in /*) ;; *) gocache="" ;; esac
fi
[ -n "$gocache" ] || gocache="$work/gocache"

# ---------------------------------------------------------------- isolation
ISO=""
for cand in "unshare --net --pid --fork --mount-proc --kill-child" \
	    "unshare -r --net --pid --fork --mount-proc --kill-child"; do
	# shellcheck disable=SC2086
	if $cand sh -c 'ip link set lo up && [ "$$" = 1 ]' >"$work/iso.log" 2>&1; then
		ISO=$cand
		break
	fi
done
# A TCP hash table of each test's own.  A new network namespace shares
# the host's table of connections (262,144 buckets on a 23-GB machine),
# and every read of /proc/net/tcp or tcp6 walks all of it, whatever few
# sockets the namespace has: 3.4 ms of CPU per file.  The suite reads
# them all the time: lib.sh's free_port (both files per port) and
# listening, tests/progs/waitlisten (both every 20 ms: a third of a CPU
# while it waits), relay_idle, nsrun.sh at every test's end.  A namespace
# made from one whose net.ipv4.tcp_child_ehash_entries is set gets a
# table of that size (Linux 6.1): each test's namespaces are made from a
# throwaway one where it is 8192 (0.08 ms a file), so the host's own
# setting is left alone.  Without it (an older kernel, or not root): as
# before.
if [ "$ISO" = "unshare --net --pid --fork --mount-proc --kill-child" ]; then
	printf '%s\n' 'echo 8192 >/proc/sys/net/ipv4/tcp_child_ehash_entries 2>/dev/null' 'exec "$@"' \
		>"$work/ehash.sh"
	# shellcheck disable=SC2086
	if unshare --net sh "$work/ehash.sh" $ISO \
		sh -c 'ip link set lo up && [ "$(cat /proc/sys/net/ipv4/tcp_ehash_entries)" = 8192 ]' \
		>>"$work/iso.log" 2>&1; then
		ISO="unshare --net sh $work/ehash.sh $ISO"
	fi
fi
if [ -z "$ISO" ]; then
	echo "FAIL isolation unavailable: neither 'unshare --net --pid' nor 'unshare -r' works here ($(tr '\n' ' ' <"$work/iso.log" | cut -c1-200)); the tests run without namespaces, one at a time, without the wire audit"
	failed=$((failed + 1))
	jobs=1
	audit=0
fi
if [ "$audit" != 0 ] && ! command -v tcpdump >/dev/null 2>&1; then
	echo "FAIL wire audit unavailable: tcpdump is not installed (.ci/packages lists it)"
	failed=$((failed + 1))
	audit=0
fi
export TLSSHIM_AUDIT="$audit"

# ---------------------------------------------------------------- the jobs
# One line per job in $work/jobs: ID BUILD-DIR LABEL KIND PATH NAME.
n=0
: >"$work/jobs"
once_all=$(grep -l '^# tlsshim-test: once' "$top"/tests/*/*.sh 2>/dev/null | tr '\n' ' ')
# (and the big captures' scripts: one grep here, not one per job)
bigcap_all=$(grep -l '^# tlsshim-test: big-capture' "$top"/tests/*/*.sh 2>/dev/null | tr '\n' ' ')
long_all=$(grep -l '^# tlsshim-test: long' "$top"/tests/*/*.sh 2>/dev/null | tr '\n' ' ')
once_listed=""
for b in $builds; do
	bonly=""
	case "$b" in *:*) bonly=$(echo "${b#*:}" | tr ',' ' '); b=${b%%:*} ;; esac
	case "$b" in /*) B="$b" ;; *) B="$top/$b" ;; esac
	label=$(basename "$B")
	[ "$label" = build ] && label=default
	certs="$work/certs-$label"
	# One set of certificates, a copy per build (each build's tests get
	# their own files; mkcerts takes 3 s before the first job can start).
	# TLSSHIM_TEST_CERTS_FROM=DIR: a copy of DIR's (made by mkcerts), for
	# a run nested in a test (tests/infra/runner.sh: 3 s of CPU each).
	first_certs=${first_certs:-${TLSSHIM_TEST_CERTS_FROM:-}}
	if [ -n "${first_certs:-}" ] && cp -a "$first_certs" "$certs" 2>"$work/mkcerts-$label.log"; then
		:
	elif ! sh "$top/certs/mkcerts.sh" "$certs" >"$work/mkcerts-$label.log" 2>&1; then
		echo "FAIL [$label] certs/mkcerts.sh: see below"; cat "$work/mkcerts-$label.log"
		failed=$((failed + 1)); continue
	fi
	[ -n "${first_certs:-}" ] && [ -d "$first_certs" ] || first_certs=$certs
	# The build's sanitizer and the path of its runtime, once (not nm
	# and the compiler driver for every job of it).
	if nm -D "$B/libtlsshim.so" 2>/dev/null | grep -q __asan_init; then
		echo "asan $(${CC:-cc} -print-file-name=libasan.so)"
	elif nm -D "$B/libtlsshim.so" 2>/dev/null | grep -q __tsan_init; then
		echo "tsan $(${CC:-cc} -print-file-name=libtsan.so)"
	else echo none; fi >"$work/san-$label"
	if [ "$audit" != 0 ] && [ ! -x "$B/tools/wireaudit" ]; then
		echo "FAIL [$label] wire audit: $B/tools/wireaudit is missing (make test-build)"
		failed=$((failed + 1))
	fi
	tests=""
	for t in "$B"/tests/test_*; do [ -x "$t" ] && tests="$tests $t"; done
	for d in launcher preload interop attack infra; do
		for t in "$top"/tests/$d/*.sh; do [ -f "$t" ] && tests="$tests $t"; done
	done
	# (Shell built-ins only in this loop, which runs for every test of
	# every build before the first job starts: a sed and a grep or two
	# per test took 5 s of CPU and, on a loaded machine, 40 s of wall.)
	for t in $tests; do
		name=${t#"$top/"}
		name=${name#"$B/"}
		# "# tlsshim-test: once": the test does not use the build under
		# test (it builds its own, or tests the runner): the first build
		# that lists it only.
		case " $once_listed " in *" $t "*) continue ;; esac
		if [ -n "$only" ]; then case "$name" in *$only*) ;; *) continue ;; esac; fi
		if [ -n "$bonly" ]; then
			_keep=0
			for _p in $bonly; do case "$name" in *$_p*) _keep=1 ;; esac; done
			[ "$_keep" = 1 ] || continue
		fi
		n=$((n + 1))
		echo "$n $B $label $t $name" >>"$work/jobs"
		case " $once_all " in *" $t "*) once_listed="$once_listed $t" ;; esac
	done
done
# The slowest tests first, so that they do not end up last on their own.
# (Measured: the ASan runs take 2 to 10 times the default ones.)
# (The last line: long in the clean .ci/run of 7fc6bb1, 14 to 43 s of wall
# time on the ASan build, and not in this list then; four of them were
# among the last ten to end.  tests/run.sh prints when each test started.)
slow="preload/soak.sh preload/failclosed_race.sh interop/ocsp.sh preload/pump.sh preload/asyncio.sh
 launcher/build.sh interop/redis.sh preload/faults_halfopen.sh test_engine_alloc test_policy_scale
 interop/java.sh interop/node.sh preload/identity.sh interop/nginx.sh preload/epoll_idle.sh
 preload/linger.sh preload/threads.sh interop/postgres.sh preload/faults_timeout.sh infra/runner.sh
 attack/shim_server.sh attack/shim_client.sh interop/slapd.sh interop/reload.sh interop/pkcs11.sh
 interop/sni.sh preload/refuse.sh preload/server.sh attack/records_nginx.sh interop/resume.sh
 preload/goruntime.sh preload/failclosed_pass.sh preload/escape.sh
 launcher/keyholder.sh launcher/unreachable.sh attack/records_reader.sh interop/host.sh
 launcher/check.sh preload/flags.sh preload/faults_reset.sh infra/fuzz.sh test_reload preload/forklock.sh
 interop/mariadb.sh interop/varnish.sh"
# The other builds' runs of them first, in the list's order, then the
# default build's, then every other job in the order of the jobs.  The
# test is named by its path after its last "/tests/" (a unit test of
# make check's build/ too: its job name is build/tests/test_...).  One
# awk: two greps per slow test cost 2 s of CPU before the first job.
awk -v slow="$slow" '
	BEGIN { n = split(slow, s, " "); for (i = 1; i <= n; i++) if (!(s[i] in rank)) rank[s[i]] = i }
	{
		p = $4
		sub(/.*\/tests\//, "", p)
		if (!(p in rank)) { rest = rest $0 "\n"; next }
		if ($3 == "default") dflt[rank[p]] = dflt[rank[p]] $0 "\n"
		else other[rank[p]] = other[rank[p]] $0 "\n"
	}
	END {
		for (i = 1; i <= n; i++) printf "%s", other[i]
		for (i = 1; i <= n; i++) printf "%s", dflt[i]
		printf "%s", rest
	}' "$work/jobs" >"$work/order"

# run_job ID B LABEL PATH NAME: one test, in its namespaces; writes
# $work/j.ID/result: "P F SECS" and $work/j.ID/report (what to print).
run_job() {
	_id=$1 B=$2 label=$3 t=$4 name=$5
	J=$work/j.$_id
	mkdir -p "$J/audit" "$J/tmp"
	chmod 711 "$J" "$J/tmp"
	: >"$J/out"
	# tests/lib.sh makes $T in here; what is left after the test is a
	# failure (a cleanup that did not run)
	export TLSSHIM_TEST_TMP="$J/tmp"
	: >"$J/audit/policies"
	: >"$J/audit/excludes"
	: >"$J/audit/ports"
	export TLSSHIM_BUILD="$B"
	export TLSSHIM_TOP="$top"
	export TLSSHIM_LIB="$B/libtlsshim.so"
	export TLSSHIM_LAUNCHER="$B/tlsshim"
	export TLSSHIM_PROGS="$B/progs"
	export TLSSHIM_TEST_CERTS="$work/certs-$label"
	export TLSSHIM_GOCACHE="$gocache"
	export TLSSHIM_GOKEEP="$work/gokeep"
	export TLSSHIM_AUDIT_DIR="$J/audit"
	# The capture's kernel buffer (tests/tools/nsrun.sh): 64 MiB, where
	# the whole capture of most tests fits twice over, so no packet can
	# be dropped however late tcpdump runs; 512 MiB for a test with the
	# line "# tlsshim-test: big-capture" (bulk transfers, to 3 GB).  The
	# kernel allocates and maps all of it for every test: 512 MiB cost
	# 0.2 s of CPU per test here (3 % of the suite's).
	_bigcap=0
	case " $bigcap_all " in *" $t "*) _bigcap=1 ;; esac
	if [ -n "${capture_kb_env:-}" ]; then
		TLSSHIM_CAPTURE_BUFFER_KB=$capture_kb_env
	elif [ $_bigcap = 1 ]; then
		TLSSHIM_CAPTURE_BUFFER_KB=524288
	else
		TLSSHIM_CAPTURE_BUFFER_KB=65536
	fi
	export TLSSHIM_CAPTURE_BUFFER_KB
	export TLSSHIM_TEST_NAME="[$label] $name"
	_san=none _sanrt=""
	read -r _san _sanrt <"$work/san-$label"
	if [ "$_san" = asan ]; then
		asan=$_sanrt
		# tools/sanfirst.so initialises the runtime before any
		# constructor of the program's libraries can call into the
		# library's instrumented code (tests/tools/sanfirst.c).
		_sf=""
		[ -f "$B/tools/sanfirst.so" ] && _sf="$B/tools/sanfirst.so "
		export SHIM_PRELOAD="$asan $_sf$TLSSHIM_LIB"
		# Host programs (python, curl, ...) are not ours: their leaks are not
		# our findings.  Every other ASan/UBSan finding aborts the process.
		export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=86:log_path=$J/asan"
		export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=86:log_path=$J/ubsan"
	elif [ "$_san" = tsan ]; then
		# ThreadSanitizer (make check-tsan): its runtime must be loaded
		# first, before the C library's, as libasan; the programs are
		# not instrumented, so what it sees are the shim's accesses and
		# the locks and threads of everyone (interceptors).  Every report
		# is a failure (exit status 66, and the report file).  Threads a
		# program never joins (report_thread_leaks) are its own business;
		# a program may fork while threads run (die_after_fork=0), which
		# is what the fork tests check.  Suppressions: tests/tsan.supp.
		tsan=$_sanrt
		export SHIM_PRELOAD="$tsan $TLSSHIM_LIB"
		export TSAN_OPTIONS="exitcode=66:log_path=$J/tsan:die_after_fork=0:report_thread_leaks=0:second_deadlock_stack=1:suppressions=$top/tests/tsan.supp"
		unset ASAN_OPTIONS UBSAN_OPTIONS 2>/dev/null || true
	else
		export SHIM_PRELOAD="$TLSSHIM_LIB"
		unset ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS 2>/dev/null || true
	fi
	if [ -n "${TLSSHIM_VALGRIND:-}" ]; then
		# make check-valgrind: every program a test starts under the shim
		# (tests/lib.sh: shim, shimmed, shimbg) runs under memcheck, one
		# log per process; vgcheck.py reads them when the test ends.
		mkdir -p "$J/vg"
		export SHIM_WRAP="valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --num-callers=40 --fullpath-after= --log-file=$J/vg/%p.log"
	else
		unset SHIM_WRAP 2>/dev/null || true
	fi
	case "$t" in *.sh) cmd="sh $t" ;; *) cmd="$t" ;; esac
	_tmo=$script_timeout
	case " $long_all " in *" $t "*) _tmo=$((script_timeout * 2)) ;; esac
	export TLSSHIM_TEST_TIME_LIMIT=$_tmo
	now; _start=$_now
	if [ -n "$ISO" ]; then
		# shellcheck disable=SC2086
		timeout -k 10 $((_tmo + 120)) $ISO sh "$top/tests/tools/nsrun.sh" \
			"$J" "$_tmo" "$name" $cmd >>"$J/out" 2>&1 </dev/null 3>&- &
		echo $! >"$J/tpid"
		wait $!
		rm -f "$J/tpid"
	else
		# shellcheck disable=SC2086
		timeout -k 5 "$_tmo" $cmd >>"$J/out" 2>&1 </dev/null 3>&-
		echo $? >"$J/rc"
	fi
	now; _secs=$((_now - _start))
	rc=125
	{ read -r rc <"$J/rc"; } 2>/dev/null
	p=$(grep -c '^PASS ' "$J/out")
	f=$(grep -c '^FAIL ' "$J/out")
	san=""
	for _sf in "$J"/asan.* "$J"/ubsan.* "$J"/tsan.*; do
		[ -e "$_sf" ] || continue
		san=$(cat "$J"/asan.* "$J"/ubsan.* "$J"/tsan.* 2>/dev/null | head -60)
		break
	done
	if [ -n "$san" ]; then
		f=$((f + 1))
		echo "FAIL [$label] $name: sanitizer report" >>"$J/out"
		echo "$san" >>"$J/out"
	fi
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		f=$((f + 1))
		echo "FAIL [$label] $name: timed out after ${_tmo}s (exit $rc)" >>"$J/out"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "FAIL [$label] $name: exited with status $rc" >>"$J/out"
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "FAIL [$label] $name: ran no case" >>"$J/out"
	fi
	_left=""
	for _lf in "$J/tmp"/* "$J/tmp"/.[!.]* "$J/tmp"/..?*; do
		[ -e "$_lf" ] || [ -L "$_lf" ] || continue
		_left=$(cd "$J/tmp" && find . -mindepth 1 -maxdepth 2 2>/dev/null | head -n 5 | tr '\n' ' ')
		break
	done
	if [ -n "$_left" ]; then
		f=$((f + 1))
		echo "FAIL [$label] $name: files left behind in its temporary directory (its cleanup did not run): $_left" >>"$J/out"
		rm -rf "$J/tmp"
	fi
	if [ -n "${TLSSHIM_VALGRIND:-}" ]; then
		python3 "$top/tests/tools/vgcheck.py" "$top" "$J"/vg/*.log >>"$J/out" 2>&1
		p=$(grep -c '^PASS ' "$J/out")
		f=$(grep -c '^FAIL ' "$J/out")
	fi
	if [ "$TLSSHIM_AUDIT" != 0 ]; then
		# (its lines counted with built-ins as they are appended)
		audit_job >"$J/audit.lines" 2>&1
		while IFS= read -r _al || [ -n "$_al" ]; do
			case "$_al" in
			"PASS "*) p=$((p + 1)) ;;
			"FAIL wire audit"*) f=$((f + 1)) ;;
			esac
			printf '%s\n' "$_al"
		done <"$J/audit.lines" >>"$J/out"
	fi
	# CPU time of the test and its audit (this subshell's waited-for
	# children; dash and bash print "0m1.5s 0m0.2s" for user and system):
	# what to cut first when make check is slow.
	times >"$J/times"       # (not in a pipe: that would be a subshell's own)
	_cpu=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] + 0.5 }' "$J/times")
	echo "$p $f $_secs ${_cpu:-0}" >"$J/result"
	# For the table of the slowest tests at the end: CPU, wall time, and
	# when the test started (seconds into the suite: the order's effect).
	echo "${_cpu:-0} $_secs $((_start - suite_start)) [$label] $name" >"$J/cpuline"
	{
		printf '%-9s %-40s %3d passed %3d failed  %4ss  cpu %ss\n' "[$label]" "$name" "$p" "$f" "$_secs" "${_cpu:-?}"
		if [ "$f" -gt 0 ] || [ -n "${TLSSHIM_TEST_VERBOSE:-}" ]; then
			sed 's/^/    | /' "$J/out" | tail -n 80
		fi
	} >"$J/report"
	rm -f "$J/wire.pcap"
}

# audit_job: the wire audit of the job in $J (see tests/tools/wireaudit.c).
audit_job() {
	# A capture over 24 MB in the small buffer: it fitted, but not twice
	# over; the test must say it is big (see the buffer in run_job).
	# (TLSSHIM_CAPTURE_LIMIT_KB: another limit, for tests/infra/runner.sh's
	# check of this check, which then moves less.)
	_capsz=$(stat -c %s "$J/wire.pcap" 2>/dev/null || echo 0)
	_caplim=$(( ${TLSSHIM_CAPTURE_LIMIT_KB:-24576} * 1024 ))
	if [ $_bigcap = 0 ] && [ -z "$capture_kb_env" ] && [ "$_capsz" -gt "$_caplim" ]; then
		echo "FAIL wire audit: the capture took $((_capsz / 1048576)) MB, more than $((_caplim / 1048576)) MB: a test that moves that much must have the line '# tlsshim-test: big-capture' (a 512 MiB capture buffer; the 64 MiB one could drop packets on a busy machine)"
	fi
	_cap=""
	{ read -r _cap <"$J/capture"; } 2>/dev/null
	if [ ! -s "$J/tcpdump.err" ] || [ "$_cap" = capture-failed ]; then
		echo "FAIL wire audit: tcpdump did not start: $(tr '\n' ' ' <"$J/tcpdump.err" 2>/dev/null | cut -c1-300)"
		return
	fi
	if [ -n "$_cap" ]; then
		echo "FAIL wire audit: the capture is incomplete ($_cap): $(tr '\n' ' ' <"$J/tcpdump.err" | cut -c1-300)"
		return
	fi
	_drop=$(sed -n 's/^\([0-9][0-9]*\) packets\{0,1\} dropped by kernel.*/\1/p' "$J/tcpdump.err")
	if [ -z "$_drop" ]; then
		echo "FAIL wire audit: tcpdump did not report its statistics: $(tr '\n' ' ' <"$J/tcpdump.err" | cut -c1-300)"
		return
	fi
	if [ "$_drop" -ne 0 ]; then
		echo "FAIL wire audit: tcpdump dropped $_drop packets: the capture cannot prove anything ($(tr '\n' ' ' <"$J/tcpdump.err" | cut -c1-200))"
		return
	fi
	# (the policies' rules read with libconfig by the audit tool itself:
	# a Python parser's start-up per test before, about 30 s of CPU over
	# make check; no policy, no rules)
	if [ -s "$J/audit/policies" ]; then
		"$B/tools/wireaudit" --policy-rules "$J/audit/policies" >"$J/rules" 2>"$J/rules.err"
		[ ! -s "$J/rules.err" ] || sed 's/^/    note: /' "$J/rules.err"
	else
		: >"$J/rules"
	fi
	_ex=""
	if [ -s "$J/audit/excludes" ]; then
		for _port in $(cut -d' ' -f1 "$J/audit/excludes" | sort -u); do _ex="$_ex --exclude $_port"; done
	fi
	# shellcheck disable=SC2086
	"$B/tools/wireaudit" --test "[$label] $name" --rules "$J/rules" $_ex "$J/wire.pcap" >"$J/audit.out" 2>&1
	_arc=$?
	# its last "audited N TLS connections, B bytes..." line (built-ins)
	_sum="" _n="" _b=""
	while IFS= read -r _al || [ -n "$_al" ]; do
		case "$_al" in "audited "*) _sum=$_al ;; esac
	done <"$J/audit.out"
	_b=${_sum#audited }
	_n=${_b%% TLS connections, *}
	_b=${_b#* TLS connections, }
	_b=${_b%% bytes*}
	case "$_sum" in
	"audited "*" TLS connections, "*" bytes"*) case "$_n$_b" in ''|*[!0-9]*) _n="" _b="" ;; esac ;;
	*) _n="" _b="" ;;
	esac
	_x=""
	if [ -s "$J/audit/excludes" ]; then
		_x="; excluded (deliberate plaintext): $(sort -u "$J/audit/excludes" | sed 's/^\([0-9]*\)@[^ ]* /port \1 (one client): /; s/^\([0-9]*\) /port \1: /' | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
	fi
	if [ "$_arc" -eq 0 ] && [ -n "$_n" ]; then
		echo "PASS wire audit: $_n TLS connections, $_b bytes, TLS records only$_x"
	else
		echo "FAIL wire audit: stray bytes on connections the policy marks TLS (${_sum:-wireaudit exit $_arc})$_x"
		grep -v '^audited ' "$J/audit.out" | sed 's/^/    /' | head -n 30
		if [ -n "${TLSSHIM_AUDIT_KEEP:-}" ]; then
			mkdir -p "$TLSSHIM_AUDIT_KEEP"
			_k="$TLSSHIM_AUDIT_KEEP/$(echo "$label-$name" | tr '/' '_').pcap"
			cp "$J/wire.pcap" "$_k" 2>/dev/null && cp "$J/rules" "${_k%.pcap}.rules" &&
				echo "    (capture kept: $_k, the rules next to it)"
		fi
	fi
}

# ---------------------------------------------------------------- the loop
mkfifo "$work/done"
exec 3<>"$work/done"
nrun=0
finish_one() {
	read -r _fid <&3 || return 1
	cat "$work/j.$_fid/report"
	# (built-in reads: two processes a job less)
	set -- 0 1 0 0
	{ read -r _r1 _r2 _r3 _r4 <"$work/j.$_fid/result" && set -- "$_r1" "$_r2" "$_r3" "$_r4"; } 2>/dev/null
	passed=$((passed + $1))
	failed=$((failed + $2))
	# The failures again at the end: CI keeps only the last lines.
	if [ "$2" -gt 0 ]; then
		head -n 1 "$work/j.$_fid/report" >>"$work/failures"
		grep -E '^    \| (FAIL|not ok)' "$work/j.$_fid/report" | head -n 6 | cut -c1-300 >>"$work/failures"
	fi
	cpu=$((cpu + ${4:-0}))
	{ read -r _cl <"$work/j.$_fid/cpuline" && printf '%s\n' "$_cl" >>"$work/cpulines"; } 2>/dev/null
	nrun=$((nrun - 1))
	rm -rf "$work/j.$_fid"
}
while read -r id B label t name; do
	while [ "$nrun" -ge "$jobs" ]; do finish_one || break; done
	( run_job "$id" "$B" "$label" "$t" "$name"; echo "$id" >&3 ) &
	running="$running $!"
	nrun=$((nrun + 1))
done <"$work/order"
while [ "$nrun" -gt 0 ]; do finish_one || break; done
exec 3>&-
# What to cut first when the suite is slow: the TLSSHIM_SLOWEST (default
# 12) tests that used the most CPU, with their wall time and start.
if [ -s "$work/cpulines" ] && [ "${TLSSHIM_SLOWEST:-12}" -gt 0 ] 2>/dev/null; then
	echo "the ${TLSSHIM_SLOWEST:-12} tests that used the most CPU (cpu, wall, started at):"
	sort -k1,1nr -k2,2nr "$work/cpulines" | head -n "${TLSSHIM_SLOWEST:-12}" |
		awk '{ printf "  %4ds cpu %4ds wall  +%ds  %s %s\n", $1, $2, $3, $4, $5 }'
fi
if [ -s "$work/failures" ]; then
	echo "failures (their output is above):"
	head -n 60 "$work/failures"
fi
now
echo "suite took $((_now - suite_start))s with $jobs jobs; the tests used ${cpu}s of CPU"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
