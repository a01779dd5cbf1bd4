#!/bin/sh
# tlsshim benchmarks: what `make bench` runs (see bench/README.md).
#
#   sh bench/run.sh            # after: make all test-build and the build/bench/* programs (make bench does it all)
#
# Environment (all optional):
#   BENCH_QUICK=1              small sizes and one run of everything (development)
#   BENCH_RUNS=5               measured runs per variant (median, min, max)
#   BENCH_BYTES=1000000000     bytes per bulk transfer
#   BENCH_CONNS=2000           connections per ping-pong run
#   BENCH_MEM_CONNS=100        idle TLS connections for the memory measurement ("1000 10000": a row each)
#   BENCH_MEM_PER_CLIENT=10000 connections per memory-client process
#   BENCH_MEM_STUNNEL_MAX=10000  stunnel (a thread per connection) is not run above this count
#   BENCH_REDIS_REQUESTS=100000  redis-benchmark -n (requests per test, SET and GET)
#   BENCH_REDIS_CLIENTS=50     redis-benchmark -c
#   BENCH_LAT_N=20000          timed round trips per latency run (lat)
#   BENCH_THR_CONNS=1000       connections per thread-scaling run (thr, 1 2 4 threads)
#   BENCH_POLICY_RULES="100 1000 10000"  policy sizes for the matching bench
#   BENCH_VARIANTS="..."       subset of: plaintext shim shim-srv shim-cli native stunnel passthru shim-kh
#   BENCH_WORKLOADS="..."      subset of: bulk pp ppr lat thr redis mem policy
#   BENCH_PORT=24100           first loopback port (uses 24100-24176, 24200-24214)
#   BENCH_DEADLINE=840         seconds after which no new measurement starts
#   BENCH_TARGET_NOISE=0.02    how close to a target's bound counts as met (results.txt's targets)
#   BUILD=build                build directory
#   BENCH_OUT=$BUILD/bench     where the results and logs go
# Results: $BUILD/bench/results.txt and results.json; logs in $BUILD/bench/.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD

certs=$BUILD/bench-certs
mkdir -p "$certs" "$BUILD/bench"
if ! sh certs/mkcerts.sh "$certs" >"$BUILD/bench/mkcerts.log" 2>&1; then
	cat "$BUILD/bench/mkcerts.log" >&2
	echo "bench: certs/mkcerts.sh failed" >&2
	exit 1
fi
export BENCH_CERTS="$certs"

for f in "$BUILD/bench/native" "$BUILD/bench/hold" "$BUILD/bench/lat" "$BUILD/bench/match"; do
	[ -x "$f" ] || { echo "bench: $f missing (make $f)" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "bench: python3 is needed" >&2; exit 1; }

# The whole run is bounded: the driver stops starting measurements after
# BENCH_DEADLINE seconds; this is the hard stop behind it.
exec timeout -k 10 ${BENCH_HARD_TIMEOUT:-1200} python3 bench/bench.py
