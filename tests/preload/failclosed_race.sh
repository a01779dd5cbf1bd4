#!/bin/sh
# Fail closed under races (classes 1 and 2): tests/progs/fc_race.c.
#  * a writer thread racing close() of its fd (60 connections): each write
#    goes out encrypted or fails with EBADF/EPIPE; every write that
#    returned reached the peer, over TLS.
#  * a writer thread racing exit() (60 child processes): every child ends
#    (status 0, no SIGPIPE); the peer got whole lines, in order.
#  * a writer thread racing fork() while the live session is handed to a
#    pump (200 connections), and the same racing system(), posix_spawn(),
#    popen() and fdopen(), and fork() racing writes through fresh dup()s:
#    no write fails, the peer got every line exactly once and in order.
# Everything crosses a recording relay: the sentinel never in clear, TLS
# records only.  One peer (mode count) and relay serve every case; each
# case's records are moved aside when its connections have ended.  Two
# worker processes share each case's connections (wall time on a busy
# machine).
# On the ASan build each race runs fewer connections (close 21, exit 27,
# fork 48, the others 16): every point of each mode's cycle (the lines
# written before the race: i % 7 for close, i % 9 for exit, 1 + i % 8 for
# the fork family) is still taken at least twice, so every library path
# the race reaches runs under ASan; the default build keeps the full
# counts, where the race has its many tries.  (ASan: about 48 s of CPU
# for this script, most of it in the 200 forks of the fork case.)
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim
[ -x "$PROGS/fc_race" ] || { fail setup "$PROGS/fc_race missing (make test-build)"; exit 1; }

if ! fc_start peer --mode count; then
	fail "race: setup" "peer or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi
fc_policy "$T/race.conf"

# race MODE N DESCRIPTION [LINES-OPTS]
race() {
	_m=$1 _c=$2 _d=$3 _lo=${4:-}
	TLSSHIM_LOG_FILE="$T/$_m.log" timeout -k 2 $((34 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/race.conf" "$PROGS/fc_race" "$_m" 127.0.0.1 "$R" "$_c" "$SENT" 2 \
		>"$T/$_m.out" 2>"$T/$_m.err"
	rc=$?
	# The last bytes drain through the relay and the peer.
	srv_settled peer "$_c" 5
	fc_collect peer "$_m"
	fc_wire "$_m" --min-conns "$_c"
	wrc=$?
	# shellcheck disable=SC2086
	lines=$(wire lines --dir "$T/$_m.srv" --sentinel "$SENT" --prog "$T/$_m.out" $_lo 2>&1)
	lrc=$?
	if [ $rc -eq 0 ] && [ $wrc -eq 0 ] && [ $lrc -eq 0 ]; then
		pass "$_d ($WIRE_OUT; $lines)"
	else
		fail "$_d" "exit $rc; $WIRE_OUT; $lines; program: $(grep -E ' BAD|HANG|fail|done' "$T/$_m.out" | head -n 6 | tr '\n' '|') $(head -c 300 "$T/$_m.err") peer: $(srv_status "$_m" | cut -c1-300) log: $(log_tail "$T/$_m.log")"
	fi
}

if asan_build; then
	NCLOSE=21 NEXIT=27 NFORK=48 NEXEC=16 NDUP=16
else
	NCLOSE=60 NEXIT=60 NFORK=200 NEXEC=20 NDUP=30
fi
race close $NCLOSE \
	"writer thread racing close() of its TLS fd, $NCLOSE connections: writes encrypted or EBADF/EPIPE, never in clear" \
	--exact
race exit $NEXIT \
	"writer thread racing exit(), $NEXIT child processes: every child ends with status 0; whole lines over TLS only"
race fork $NFORK \
	"writer thread racing fork() (live session handed to the pump), $NFORK connections: every line once, in order, over TLS" \
	--exact
race system $NEXEC \
	"writer thread racing system(\"true\"), $NEXEC connections: every line once, in order, over TLS" --exact
race spawn $NEXEC \
	"writer thread racing posix_spawn(/bin/true), $NEXEC connections: every line once, in order, over TLS" --exact
race popen $NEXEC \
	"writer thread racing popen(\"true\"), $NEXEC connections: every line once, in order, over TLS" --exact
race fdopen $NDUP \
	"writer thread racing fdopen() of its fd, $NDUP connections: every line once, in order, over TLS; the reply read with fgets" \
	--exact
race forkdup $NDUP \
	"fork() racing a writer that writes through fresh dup()s of the fd, $NDUP connections: no hang, every line once, over TLS" \
	--exact
fc_stop
