#!/bin/sh
# tests/preload/longjmp.sh — a signal handler that leaves the TLS call it
# interrupted with siglongjmp(), as alarm() timeouts of old daemons do
# (helper-60's F1, F2, F3).
#
# preload_jumpin.so raises the signal at an exact place inside the call:
# in the wait of a blocking read() (ppoll), or inside the engine with the
# connection's lock held (OpenSSL's send or recv of a record).  Before:
#  - exit, cancel: the wait's cleanup record stayed on glibc's chain; the
#    thread's pthread_exit(), or its cancellation in a later read(),
#    jumped into the dead frame (SIGSEGV, or a use-after-free of the
#    connection in the linger thread);
#  - write, read, flush (the send of what the socket could not take at
#    first, helper-63's F3): the lock stayed held for ever: every later call of that
#    thread failed with EDEADLK ("called from a signal handler", with no
#    handler running), and another thread's write() waited for ever;
#  - shut: shutdown() from a handler that interrupted its own thread's
#    write() returned 0 and tore the stream under that write.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim longjmp_setup

P=$(free_port)
policy "$T/cli.conf" <<EOF2
rules = ( { name = "lj-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOF2
start_peer echo server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
	--mode echo --count 6

run_part() {
	TLSSHIM_LOG_FILE="$T/$1.log" timeout -k 2 $((90 * TS)) env LD_PRELOAD="$SHIM_PRELOAD $PROGS/preload_jumpin.so" \
		TLSSHIM_CONFIG="$T/cli.conf" "$PROGS/longjmp_client" localhost "$P" "$1" 2>&1
}

out=$(run_part exit); rc=$?
case "$rc:$out" in
"0:exit: joined")
	pass "a thread leaves its blocking TLS read() by siglongjmp, closes, and ends with pthread_exit()" ;;
*)
	fail "pthread_exit() after a siglongjmp out of a TLS read()" "exit $rc (139: SIGSEGV); got: $out$(show "$T/exit.log")" ;;
esac

out=$(run_part cancel); rc=$?
case "$rc:$out" in
"0:cancel: joined")
	pass "after a siglongjmp out of a TLS read(), cancellation is as before and a second read() is cancelled cleanly" ;;
*)
	fail "cancel after a siglongjmp out of a TLS read()" "exit $rc (139: SIGSEGV); got: $out$(show "$T/cancel.log")" ;;
esac

for part in write read flush; do
	out=$(run_part $part); rc=$?
	case "$rc:$out" in
	"0:$part: this thread ECONNRESET, other thread ECONNRESET, close 0")
		if grep -q "non-local jump" "$T/$part.log"; then
			pass "a siglongjmp out of the TLS engine in $part(): the connection fails cleanly (ECONNRESET, for this thread and another; a warning), no lock is left held"
		else
			fail "siglongjmp out of the engine in $part()" "no warning in the log$(show "$T/$part.log")"
		fi ;;
	*)
		fail "siglongjmp out of the engine in $part()" "exit $rc; got: $out$(show "$T/$part.log")" ;;
	esac
done

out=$(run_part shut); rc=$?
case "$rc:$out" in
"0:shut: handler EDEADLK, echo intact")
	pass "shutdown() from a handler that interrupted its own thread's TLS write() fails with EDEADLK and leaves the stream alone" ;;
*)
	fail "shutdown() from a handler inside the thread's own write()" "exit $rc; got: $out$(show "$T/shut.log")" ;;
esac
stop "$PEER"
