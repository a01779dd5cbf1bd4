#!/bin/sh
# tests/infra/fuzz.sh — the libFuzzer targets (tests/fuzz/), a smoke run.
#  * every input of tests/fuzz/corpus/TARGET (seeds, and the inputs of
#    crashes found and fixed before: regressions) runs clean;
#  * with the default build: TLSSHIM_FUZZ_SECONDS (default 5) of fuzzing
#    per target finds no crash, leak, hang or sanitizer report.
# The targets are a build of their own (clang, libFuzzer, ASan+UBSan), made
# by "make fuzz-build" in BUILD/fuzz; run with a sanitizer build (make
# check-asan: BUILD/asan) the script replays the corpus only.  "make fuzz"
# fuzzes for longer (tests/fuzz/README).
# The same binaries whatever the build under test: the script runs with
# the first build only (make check ran it again with the ASan build,
# where it replayed the same inputs through the same binaries: 5 s
# of CPU for nothing).
# tlsshim-test: once
. "$TLSSHIM_TOP/tests/lib.sh"
fz=""
for d in "$TLSSHIM_BUILD/fuzz" "$(dirname "$TLSSHIM_BUILD")/fuzz"; do
	if ls "$d"/fuzz_* >/dev/null 2>&1; then fz=$d; break; fi
done
if [ -z "$fz" ]; then
	fail "fuzz targets built" "none in $TLSSHIM_BUILD/fuzz: run make fuzz-build (make check does; it needs clang, .ci/packages lists it)"
	exit 1
fi
# No network traffic here (socketpairs only): the wire audit sees none.
if [ "$(dirname "$fz")" = "$TLSSHIM_BUILD" ]; then
	sh "$TLSSHIM_TOP/tests/fuzz/run.sh" --build "$fz" --certs "$TLSSHIM_TEST_CERTS" \
		--seconds "${TLSSHIM_FUZZ_SECONDS:-5}"
else
	sh "$TLSSHIM_TOP/tests/fuzz/run.sh" --build "$fz" --certs "$TLSSHIM_TEST_CERTS" --replay
fi
