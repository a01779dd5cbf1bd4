#!/bin/sh
# bench/uml.sh — run bench/run.sh inside user-mode Linux, for the rows this
# machine's limits forbid: `make bench-uml` (see bench/README.md).
#
# The memory row at 100,000 connections needs one process with 100,000
# descriptors.  Where the hard RLIMIT_NOFILE is lower and root lacks
# CAP_SYS_RESOURCE (a container), no process on the host may raise it.  A
# user-mode Linux kernel (Debian's user-mode-linux package: a Linux kernel
# that runs as an ordinary process, no privilege or accelerator needed) is a
# machine of its own: its init is root with every capability, so the bench
# inside raises the limit, and its loopback carries the connections.  Its
# root file system is the host's own (hostfs, read-write), so the programs,
# the build and the results are the host's: nothing is copied.
#
# What it measures: memory is the same programs' memory (the same binaries,
# libraries and allocator); times and CPU are not comparable with the host's
# (one virtual CPU, system calls trapped by ptrace), so use it for the mem
# workload and read only its KiB per connection and its held/served counts.
#
#   sh bench/uml.sh                  environment as for bench/run.sh, plus
#   UML_MEM=16G                      the user-mode kernel's memory
#   UML_TIMEOUT=14400                seconds before the whole run is killed
# Defaults: BENCH_WORKLOADS=mem BENCH_MEM_CONNS="1000 10000 100000"
#           BENCH_VARIANTS="plaintext shim native" BENCH_RUNS=1
# Results: $BUILD/bench-uml/results.txt and results.json (BENCH_OUT), the
# kernel's own messages in $BUILD/bench-uml/console.log.
#
# Internally: this script is also the user-mode kernel's init, PID 1, with
# tlsshim_uml_env (from the kernel's command line) naming its settings.
set -eu

if [ $$ -eq 1 ] && [ -n "${tlsshim_uml_env:-}" ]; then
	# Whatever happens, power off at the end: an init that exits panics
	# the kernel.
	envfile=$tlsshim_uml_env
	rc=1
	(
		set -e
		mount -t proc proc /proc
		mount -t sysfs sys /sys
		mount -t tmpfs tmpfs /run
		ip link set lo up
		. "$envfile"
		# Room for the connections: the listen backlog, the ephemeral
		# ports, descriptors per process and in all.
		sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
			net.ipv4.ip_local_port_range="1024 65000" fs.nr_open=1048576 fs.file-max=4000000
		ulimit -Hn 1048576
		ulimit -n 1048576
		cd "$UML_ROOT"
		echo "uml: $(uname -sr), $(nproc) cpu, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo), RLIMIT_NOFILE $(ulimit -Hn)"
		sh bench/run.sh
	) && rc=0 || rc=$?
	echo "$rc" > "$(dirname "$envfile")/rc"
	sync
	poweroff -f
	echo o > /proc/sysrq-trigger
	exit "$rc"
fi

cd "$(dirname "$0")/.."
root=$(pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
out=${BENCH_OUT:-$BUILD/bench-uml}
mkdir -p "$out"

if ! command -v linux.uml >/dev/null 2>&1; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "bench-uml: installing user-mode-linux"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends user-mode-linux >/dev/null ||
			{ echo "bench-uml: apt-get install user-mode-linux failed" >&2; exit 1; }
	else
		echo "bench-uml: needs Debian's user-mode-linux (sudo apt-get install -y user-mode-linux)" >&2
		exit 1
	fi
fi

# The user-mode kernel maps each page a process of its uses into the host
# process that runs it, one mapping each when they are scattered: a server
# with 100,000 connections (1.5-2.5 GB) needs far more than the host's
# default vm.max_map_count (65530), else the kernel dies ("UML ran out of
# memory on the host side").
want_maps=${UML_MAX_MAP_COUNT:-1048576}
maps=$(cat /proc/sys/vm/max_map_count 2>/dev/null || echo 0)
if [ "$maps" -lt "$want_maps" ]; then
	if echo "$want_maps" 2>/dev/null > /proc/sys/vm/max_map_count; then
		echo "bench-uml: vm.max_map_count raised from $maps to $want_maps (the user-mode kernel maps each page)"
	else
		echo "bench-uml: warning: vm.max_map_count is $maps and could not be raised to $want_maps;" \
			"the rows above about 10,000 connections may fail (\"UML ran out of memory on the host side\")" >&2
	fi
fi

# What the bench inside reads: the host's settings, with the memory rows
# as the default workload.
envfile=$out/env
# one `export NAME='value'` line, the value quoted for the shell
setting() {
	printf "export %s='%s'\n" "$1" "$(printf '%s' "$2" | sed "s/'/'\\\\''/g")"
}
{
	echo "# written by bench/uml.sh for the user-mode kernel's init"
	setting PATH "$PATH"
	setting HOME "${HOME:-/root}"
	setting BUILD "$BUILD"
	setting BENCH_OUT "$out"
	setting BENCH_WORKLOADS "${BENCH_WORKLOADS:-mem}"
	setting BENCH_MEM_CONNS "${BENCH_MEM_CONNS:-1000 10000 100000}"
	setting BENCH_VARIANTS "${BENCH_VARIANTS:-plaintext shim native}"
	setting BENCH_RUNS "${BENCH_RUNS:-1}"
	# 100,000 connections take 20-30 minutes a variant in there
	setting BENCH_DEADLINE "${BENCH_DEADLINE:-20000}"
	setting BENCH_HARD_TIMEOUT "${BENCH_HARD_TIMEOUT:-30000}"
	for v in $(env | sed -n 's/^\(BENCH_[A-Z0-9_]*\)=.*/\1/p' | sort -u); do
		case $v in
		BENCH_OUT | BENCH_WORKLOADS | BENCH_MEM_CONNS | BENCH_VARIANTS | BENCH_RUNS | BENCH_DEADLINE | BENCH_HARD_TIMEOUT) ;;
		*) eval "setting $v \"\$$v\"" ;;
		esac
	done
	setting UML_ROOT "$root"
} > "$envfile"
rm -f "$out/rc"

# The kernel's memory is a file it maps: in /dev/shm when that has room
# (else it would be written back to disk).
mem=${UML_MEM:-16G}
tmp=$out
if [ -d /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR == 2 {print $4}')" -gt "$(numfmt --from=iec "$mem" | awk '{print int($1 / 1024)}')" ]; then
	tmp=/dev/shm
fi
echo "bench-uml: user-mode Linux, mem=$mem (memory file in $tmp), results in $out"
# con0: the init's output here, line by line (loglevel=1 keeps the kernel's
# own messages out of it); what the kernel writes to stderr goes to
# console.log.
set +e
TMPDIR=$tmp timeout -k 10 "${UML_TIMEOUT:-14400}" linux.uml mem="$mem" \
	root=/dev/root rootfstype=hostfs rootflags=/ rw loglevel=1 \
	init="$root/bench/uml.sh" tlsshim_uml_env="$envfile" \
	con=null con0=fd:0,fd:1 ssl=null < /dev/null 2> "$out/console.log"
urc=$?
set -e
if [ ! -f "$out/rc" ]; then
	echo "bench-uml: the user-mode kernel ended (exit $urc) before the bench did; see $out/console.log" >&2
	exit 1
fi
rc=$(cat "$out/rc")
[ "$rc" -eq 0 ] || echo "bench-uml: the bench inside failed (exit $rc)" >&2
exit "$rc"
