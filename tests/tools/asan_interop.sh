#!/bin/sh
# tests/tools/asan_interop.sh BUILD [JOBS] — recomputes the Makefile's
# ASAN_INTEROP: the interop scripts make check runs on the ASan build
# (docs/design.md, "Testing").  The ASan pass is there to catch memory
# errors in the library's code; an interop script earns its place there
# when it makes the library run a line or take a branch that no unit,
# preload, launcher or attack test does.
#
# BUILD is a default build with its test programs (make test-build).  The
# library is built again with --coverage (-O0) into BUILD/cov; the unit,
# preload, launcher and attack tests run once against it, then each interop
# script alone (JOBS runs at a time, default 3), each writing its .gcda files
# under its own GCOV_PREFIX in BUILD/asancover; tests/tools/asancover.py
# compares them and prints, per script, what it adds, then the new list
# (a set chosen greedily that still reaches every library line and branch
# outcome that some interop script reaches and the other tests do not).
# Failed cases are printed too; an interop script with one is kept.
# It takes about the CPU of the default build's run of those tests (700 s
# in all when measured; on a loaded 2-core machine, 40 minutes).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
# seed DIR: a .gcda for every object of the library under DIR (GCOV_PREFIX;
# one process that loads it and exits), writable by everyone: daemons that
# drop root (nginx's workers, postgres, ...) merge their counts into them.
seed() {
	GCOV_PREFIX=$1 LD_PRELOAD=$cov/libtlsshim.so /bin/true
	chmod -R a+rwX "$1"
}
# --one COV OUT DIR PATTERNS: tests/run.sh on the coverage build COV, the
# tests matching PATTERNS, their counts into DIR, the output in DIR.log.
if [ "${1:-}" = --one ]; then
	cov=$2 out=$3 d=$4
	seed "$d"
	GCOV_PREFIX=$d TLSSHIM_TEST_CERTS_FROM="$out/certs" TLSSHIM_SLOWEST=0 \
		sh "$top/tests/run.sh" --build "$cov:$5" >"$d.log" 2>&1
	echo "$(basename "$d"): $(tail -n 1 "$d.log")"
	grep '^FAIL' "$d.log" | head -n 5
	exit 0
fi
B=$(cd "${1:?usage: $0 BUILD [JOBS]}" && pwd) || exit 2
jobs=${2:-3}
cov=$(mkdir -p "$B/cov" && cd -P "$B/cov" && pwd)
out=$B/asancover
make -s -C "$top" -j"$jobs" BUILD="$cov" OPT="-O0 -g" SAN="--coverage" PROGS_FROM="$B" test-build || exit 1
rm -rf "$out"
mkdir -p "$out/interop"
sh "$top/certs/mkcerts.sh" "$out/certs" >/dev/null || exit 1

# Where a process that dropped GCOV_PREFIX from its environment writes: it
# must not change (else its counts belong to no run, and a script that
# reached code only there may be missing from the list).
find "$cov/obj" -name '*.gcda' -delete
LD_PRELOAD=$cov/libtlsshim.so /bin/true
chmod -R a+rwX "$cov/obj"
sum_default() { find "$cov/obj" -name '*.gcda' -exec cat {} + | cksum; }
before=$(sum_default)

# The baseline: everything but interop, infra and the scripts that build
# their own library ("# tlsshim-test: once"), in two runs (every other
# test: each run's slow tests come first); then each interop script alone.
n=0 pats1="" pats2=""
for t in "$top"/tests/unit/test_*.c "$top"/tests/preload/*.sh "$top"/tests/launcher/*.sh "$top"/tests/attack/*.sh; do
	case "$t" in
	*.c) t=tests/$(basename "$t" .c) ;;
	*) grep -q '^# tlsshim-test: once' "$t" && continue; t=${t#"$top/tests/"} ;;
	esac
	n=$((n + 1))
	if [ $((n % 2)) = 1 ]; then pats1="$pats1,$t"; else pats2="$pats2,$t"; fi
done
{
	echo "$out/base1 ${pats1#,}"
	echo "$out/base2 ${pats2#,}"
	for t in "$top"/tests/interop/*.sh; do
		echo "$out/interop/$(basename "$t" .sh) interop/$(basename "$t")"
	done
} | xargs -P "$jobs" -L 1 sh "$0" --one "$cov" "$out"
[ "$(sum_default)" = "$before" ] ||
	echo "WARNING: some process wrote its counts to $cov/obj, without GCOV_PREFIX (a daemon that clears its environment, as nginx's workers and sshd's sessions do): they are in no run; a script that reaches far fewer lines than its kin may be short of them (reset $cov/obj, run it alone with --one, and compare)"
seed "$out/seed"
python3 "$top/tests/tools/asancover.py" "$cov" "$out/seed" "$out/base1,$out/base2" "$out"/interop/*/
