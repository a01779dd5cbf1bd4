#!/bin/sh
# tlsshim benchmarks: what `make bench` runs (see bench/README.md).
#
#   sh bench/run.sh            # after: make all test-build build/bench/native build/bench/hold
#
# Environment (all optional):
#   BENCH_RUNS=5               measured runs per variant (median, min, max)
#   BENCH_BYTES=1000000000     bytes per bulk transfer
#   BENCH_CONNS=2000           connections per ping-pong run
#   BENCH_MEM_CONNS=100        idle TLS connections for the memory measurement
#   BENCH_REDIS_REQUESTS=100000  redis-benchmark -n (requests per test, SET and GET)
#   BENCH_REDIS_CLIENTS=50     redis-benchmark -c
#   BENCH_VARIANTS="..."       subset of: plaintext shim shim-srv shim-cli native stunnel
#   BENCH_WORKLOADS="..."      subset of: bulk pp ppr redis mem
#   BENCH_PORT=24100           first loopback port (uses 24100-24164, 24200-24211)
#   BENCH_DEADLINE=840         seconds after which no new measurement starts
#   BUILD=build                build directory
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

for f in "$BUILD/bench/native" "$BUILD/bench/hold"; do
	[ -x "$f" ] || { echo "bench: $f missing (make $f)" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "bench: python3 is needed" >&2; exit 1; }

# The whole run is bounded: the driver stops starting measurements after
# BENCH_DEADLINE seconds; this is the hard stop behind it.
exec timeout -k 10 ${BENCH_HARD_TIMEOUT:-1200} python3 bench/bench.py
