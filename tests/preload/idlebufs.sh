#!/bin/sh
# A blocking reader's connection keeps its record buffers from one record
# to the next (no free and malloc of two 17 KiB buffers per round trip),
# and gives them back once idle: the linger thread's sweep frees them
# after TLS_IDLE_MS (200 ms) to 2 x TLS_IDLE_MS without a read or write.
# hot_bufs measures its own heap: at least 16 KiB (a record buffer) fewer
# in use once idle than right after the round trips (the buffers were kept, then
# freed); the connection still works afterwards, and its close frees its
# buffers and session at once (not at the next sweep).  Also across a
# fork() with the connection hot: the child inherits the watched
# connection (its fork handler lets go of it there) and exits; the session
# goes to a pump (both processes held the socket), and the parent's watch
# lets go of the parent's copy at its next sweep (the "idle" drop).
# Meanwhile the linger thread (nothing lingers: only the watched
# connection) wakes for its sweeps, not every 10 ms (each wake-up of a
# thread costs tens of microseconds of CPU).
# bulk: the connection first reads back 64 KiB that the kernel holds
# whole, so a recv fills the one-record read buffer and its buffers are
# of four records from then on (core/tls.c, RBUF_BULK; the mem target: an
# idle connection holds no record buffer, the four-record one included).
# No heap totals there: preload_bufcount.so (after the shim in
# LD_PRELOAD) counts the live blocks of exactly RBUF_BULK bytes (its value
# read from core/tls.c), through the C library's malloc or the
# sanitizers' allocation hooks.  One read that waits (SO_RCVTIMEO, nothing
# sent) makes the connection a reader whose last read had to wait, so
# that it keeps its buffers from the first round trip on whatever the
# timing (hot_bufs.c says why b5dbf0b's heap drop failed under the
# sanitizers without it): the count is 1 after each round trip (a sample
# a sweep came during is not counted), 0 once idle, 1 after the next
# round trip, and 0 right after close().
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

# RBUF_BULK's value: "4 * (16384 + 320 + 5)" in core/tls.c.
bulk_size=$(sed -n 's/^#define RBUF_BULK (\([0-9 +*()]*\))$/\1/p' "$TLSSHIM_TOP/core/tls.c")
bulk_size=$((${bulk_size:-0}))
[ "$bulk_size" -gt 65536 ] || fail "idle record buffers (bulk): RBUF_BULK" "not found in core/tls.c ($bulk_size)"

for mode in plain fork bulk; do
	P=$(free_port)
	policy "$T/c-$mode.conf" <<EOC
rules = ( { name = "idle-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 \
		>"$T/echo-$mode.out" 2>&1
	echo=$!
	wait_for "$T/echo-$mode.out" '^listening' 15
	arg=""
	[ "$mode" = plain ] || arg=$mode
	pre=$SHIM_PRELOAD
	[ "$mode" = bulk ] && pre="$SHIM_PRELOAD $PROGS/preload_bufcount.so"
	TLSSHIM_LOG_FILE="$T/log-$mode" timeout -k 2 $((30 * TS)) env LD_PRELOAD="$pre" \
		TLSSHIM_TEST_BUFSIZE="$bulk_size" TLSSHIM_CONFIG="$T/c-$mode.conf" \
		"$PROGS/hot_bufs" localhost "$P" $arg >"$T/out-$mode" 2>&1
	rc=$?
	wait_exit "$echo" 20
	# While only the watched connection is there (nothing lingers), the
	# linger thread wakes for the sweeps (every 200 ms), not every 10 ms.
	idle_ms=$(sed -n 's/^wakes [0-9]* in \([0-9]*\) ms$/\1/p' "$T/out-$mode")
	wakes=$(sed -n 's/^wakes \([0-9]*\) in [0-9]* ms$/\1/p' "$T/out-$mode")
	if [ -z "$idle_ms" ] || [ -z "$wakes" ]; then
		fail "idle record buffers ($mode): linger thread wake-ups" "no \"wakes\" line$(tail_of "$T/out-$mode")"
	else
		if [ "$wakes" -le $((idle_ms / 40 + 4)) ]; then
			pass "idle record buffers ($mode): the linger thread woke $wakes times in the $idle_ms ms until the sweep (at most $((idle_ms / 40 + 4)))"
		else
			fail "idle record buffers ($mode): linger thread wake-ups" "$wakes wake-ups in $idle_ms ms with only a watched connection (want at most $((idle_ms / 40 + 4)): a sweep every 200 ms, no 10 ms ticks)"
		fi
	fi
	if [ $rc -eq 0 ] && grep -q '^idle ' "$T/out-$mode" && grep -q '^wakes ' "$T/out-$mode" && grep -q '^again ok' "$T/out-$mode" &&
	   grep -Eq '^close (freed|done)' "$T/out-$mode" &&
	   { [ "$mode" != fork ] || grep -q '^child ok' "$T/out-$mode"; } &&
	   { [ "$mode" != bulk ] || { grep -q '^bulk ok' "$T/out-$mode" && grep -q '^waited' "$T/out-$mode" &&
	     grep -q '^held 1 in 40 of 40 ' "$T/out-$mode" && grep -q '^idle 0 ' "$T/out-$mode" &&
	     grep -q '^close freed it' "$T/out-$mode"; }; }; then
		pass "idle record buffers ($mode): kept while the blocking reader works, freed once idle ($(grep -E '^(hot|held|idle|close)' "$T/out-$mode" | tr '\n' ' '))"
	else
		fail "idle record buffers ($mode)" "exit $rc $(tail_of "$T/out-$mode" "$T/log-$mode" "$T/echo-$mode.out")"
	fi
done
