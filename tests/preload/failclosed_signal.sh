#!/bin/sh
# Fail closed with signal handlers (class 12): tests/progs/fc_signal.c.
# A thread writes 16 KiB at a time on a TLS connection while signals
# (pthread_kill SIGUSR1, or a 1 ms SIGALRM timer) interrupt it, often
# inside the shim with the connection's lock held:
#  * the handler calls _exit(7): 20 runs, none may hang (each bounded by
#    timeout), each ends with status 7;
#  * the handler calls write() and then close() on the connection: 20 runs,
#    none may hang; the calls may fail (EDEADLK when the interrupted thread
#    holds the connection), and the writer stops with an error.
#  * the handler calls _exit(7) having interrupted malloc() with its lock
#    held (tests/progs/preload_malloclock.so raises the signal there):
#    status 7, not a hang, and the close_notify still goes out (OpenSSL's
#    allocations at _exit take no lock: core/alloc.c).  Skipped under
#    ASan/TSan, whose malloc comes before any preload.
# Every run goes through a recording relay: TLS records only, the sentinel
# never in clear.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim
[ -x "$PROGS/fc_signal" ] || { fail setup "$PROGS/fc_signal missing (make test-build)"; exit 1; }
RUNS=20

if ! fc_start peer --mode record; then
	fail "signals: setup" "peer or relay did not start"
	exit 1
fi
fc_policy "$T/sig.conf"

# one MODE RUN: one run in the background, bounded by timeout; pid in $!.
# (The handler's write and close may first wait for the Python relay and
# server to drain the megabytes the writer had queued.  fc_signal gave the
# handler 8 s, and one run of 20 ran out of them in 2 of about 9 copies of
# this script beside make check-stress; it now gives 30 s, which only a
# hang uses up, and a failure says where the thread waits.)
one() {
	TLSSHIM_LOG_FILE="$T/$1.log" timeout -k 1 $((40 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/sig.conf" "$PROGS/fc_signal" "$1" 127.0.0.1 "$R" "$SENT" "$2" \
		>"$T/$1.$2.out" 2>&1 &
}

# judge MODE RUN STATUS WANT-STATUS
judge() {
	if [ "$3" -eq 124 ] || [ "$3" -eq 137 ]; then
		HANGS=$((HANGS + 1))
		NOTES="$NOTES run $2 HANG ($(tr '\n' '|' <"$T/$1.$2.out" | cut -c1-120));"
	elif [ "$3" -ne "$4" ]; then
		BADS=$((BADS + 1))
		NOTES="$NOTES run $2 exit $3 ($(tr '\n' '|' <"$T/$1.$2.out" | cut -c1-200));"
	fi
}

# runs MODE WANT-STATUS: RUNS runs, two at a time; sets HANGS, BADS, and
# a summary in NOTES.
runs() {
	HANGS=0 BADS=0 NOTES=""
	_r=0
	while [ $_r -lt $RUNS ]; do
		one "$1" $_r
		_p1=$!
		one "$1" $((_r + 1))
		_p2=$!
		wait $_p1
		judge "$1" $_r $? "$2"
		wait $_p2
		judge "$1" $((_r + 1)) $? "$2"
		_r=$((_r + 2))
	done
}

runs exit 7
srv_settled peer $RUNS 10
fc_collect peer exit
fc_wire exit --min-conns $RUNS
wrc=$?
if [ $HANGS -eq 0 ] && [ $BADS -eq 0 ] && [ $wrc -eq 0 ]; then
	pass "_exit() from a signal handler that interrupted a TLS write (SIGUSR1/SIGALRM), $RUNS runs: no hang, status 7 each ($WIRE_OUT; $(lines "$T/exit.log" 'busy') runs skipped close_notify as busy)"
else
	fail "_exit() from a signal handler interrupting a TLS write" "$HANGS hangs, $BADS bad exits of $RUNS:$NOTES $WIRE_OUT; log: $(log_tail "$T/exit.log")"
fi

runs io 0
srv_settled peer $RUNS 10
fc_collect peer io
fc_wire io --min-conns $RUNS
wrc=$?
# What the handler's calls returned, over all runs.
summary=$(cat "$T"/io.*.out 2>/dev/null | grep -E '^handler' | sort | uniq -c | tr -s ' \n' ' ')
odd=$(cat "$T"/io.*.out 2>/dev/null | grep -E '^handler write' | grep -v -E ': (ok|EDEADLK|EBADF|EPIPE)$' | head -n 3 | tr '\n' '|')
if [ $HANGS -eq 0 ] && [ $BADS -eq 0 ] && [ $wrc -eq 0 ] && [ -z "$odd" ]; then
	pass "write() and close() on the TLS fd from a signal handler interrupting a TLS write, $RUNS runs: no hang, nothing in clear ($summary; $WIRE_OUT)"
else
	fail "write()/close() from a signal handler interrupting a TLS write" "$HANGS hangs, $BADS bad exits of $RUNS:$NOTES unexpected: $odd; $summary; $WIRE_OUT; log: $(log_tail "$T/io.log")"
fi
# _exit from a handler that interrupted malloc (the lock held): the size
# that raises the signal.
MSIZE=424243
TLSSHIM_LOG_FILE="$T/malloc.log" TLSSHIM_TEST_MALLOCSIG=$MSIZE timeout -k 1 $((20 * TS)) \
	env LD_PRELOAD="$SHIM_PRELOAD $PROGS/preload_malloclock.so" TLSSHIM_CONFIG="$T/sig.conf" \
	"$PROGS/fc_signal" exit-malloc 127.0.0.1 "$R" "$SENT" $MSIZE >"$T/malloc.out" 2>&1
st=$?
srv_settled peer 1 10
fc_collect peer malloc
fc_wire malloc --min-conns 1
wrc=$?
if [ $st -eq 3 ]; then
	pass "_exit() from a handler that interrupted malloc: not run (this build's malloc is its sanitizer's: $(head -n 1 "$T/malloc.out"))"
elif [ $st -eq 7 ] && [ $wrc -eq 0 ] && srv_status malloc | grep -q 'eof clean'; then
	pass "_exit() from a signal handler that interrupted malloc() with its lock held: status 7, close_notify sent ($(srv_status malloc); $WIRE_OUT)"
else
	fail "_exit() from a signal handler that interrupted malloc()" "status $st (124: hung, waiting for malloc's lock), peer: $(srv_status malloc); $WIRE_OUT; $(tr '\n' '|' <"$T/malloc.out" | cut -c1-200); log: $(log_tail "$T/malloc.log")"
fi
fc_stop
