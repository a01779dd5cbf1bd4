#!/bin/sh
# tests/preload/cancel.sh — threads cancelled (pthread_cancel) while they
# use TLS connections, as a thread pool's shutdown does.
#
# A blocking read() is a cancellation point, and stays one under the
# shim: its wait (shim/wait.c) can be cancelled.  The thread that unwinds
# from it gives up its place among the waiters; before, the place kept its
# eventfd's number, and once the program had that number for a file of
# its own, the hand-over of the session at the next fork() wrote 8 bytes
# of wake-up into the program's file ("8 bytes in the reused
# descriptor").  Everywhere else a TLS call runs with cancellation
# disabled, and no thread can be cancelled holding one of the shim's locks
# (core/lock.h): a cancel that landed in the engine's send, with the
# connection's lock held, left every later call on that connection
# waiting for ever (the busy part hung).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim cancel_setup

P=$(free_port)
policy "$T/cli.conf" <<EOF
rules = ( { name = "cancel-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOF
start_peer echo server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
	--mode echo --count 51
out=$(TLSSHIM_LOG_FILE="$T/cli.log" timeout $((90 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/cli.conf" "$PROGS/cancel_client" localhost "$P" 2>&1)
rc=$?
stop "$PEER"
case "$out" in
*"wait: cancelled, 0 bytes in the reused descriptor"*)
	pass "a thread cancelled in a blocking TLS read unwinds; no wake-up is written later into the number its eventfd had" ;;
*)
	fail "cancelled in a blocking TLS read" "exit $rc; got: $out$(show "$T/cli.log")" ;;
esac
case "$out" in
*"busy: 50 of 50"*)
	pass "50 threads cancelled wherever they were in an echo loop: the connection goes on each time (no lock left held)" ;;
*)
	fail "threads cancelled in an echo loop" "exit $rc (142: the alarm, a call waited for ever); got: $out$(show "$T/cli.log")" ;;
esac
