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
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

for mode in plain fork; do
	P=$(free_port)
	policy "$T/c-$mode.conf" <<EOC
rules = ( { name = "idle-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 \
		>"$T/echo-$mode.out" 2>&1
	echo=$!
	wait_for "$T/echo-$mode.out" '^listening' 15
	arg=""
	[ "$mode" = fork ] && arg=fork
	TLSSHIM_LOG_FILE="$T/log-$mode" timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/c-$mode.conf" "$PROGS/hot_bufs" localhost "$P" $arg >"$T/out-$mode" 2>&1
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
	   { [ "$mode" = plain ] || grep -q '^child ok' "$T/out-$mode"; }; then
		pass "idle record buffers ($mode): kept while the blocking reader works, freed once idle ($(grep -E '^(hot|idle|close)' "$T/out-$mode" | tr '\n' ' '))"
	else
		fail "idle record buffers ($mode)" "exit $rc $(tail_of "$T/out-$mode" "$T/log-$mode" "$T/echo-$mode.out")"
	fi
done
