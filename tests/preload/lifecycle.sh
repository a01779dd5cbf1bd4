#!/bin/sh
# The end of a process and numbers closed behind the shim's back:
# a program that ends with _exit() (skipping atexit), or with exit(),
# without closing its socket still ends its session with close_notify;
# an fd closed with a raw syscall (as the C library sometimes does) and
# handed out again by open() is a plain file again, never a TLS
# connection.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
# exit_case HOW: exit_client.py writes a line and ends with HOW (_exit:
# no atexit handler runs; exit: the C library's, which runs them;
# quick_exit: its at_quick_exit handlers) without
# closing its socket; the peer must see the line and a close_notify.
exit_case() {
	P=$(free_port)
	policy "$T/c-$1.conf" <<EOC
rules = ( { name = "life-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	start_peer "peer-$1" server --port "$P" --cert "$CERTS/server.crt" \
		--key "$CERTS/server.key" --mode record --record "$T/rec-$1" --status "$T/st-$1"
	TLSSHIM_LOG_FILE="$T/log-$1" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PY" "$PYD/exit_client.py" "$P" "$1" >"$T/out-$1" 2>&1
	wait_exit "$PEER" 10
	if grep -q "^eof clean" "$T/st-$1" && grep -q "bye via $1" "$T/rec-$1"; then
		pass "$1() without close: the session still ends with close_notify"
	else
		fail "$1 sends close_notify" "$(cat "$T/st-$1" "$T/out-$1" "$T/log-$1" 2>/dev/null)$(tail_of "$T/peer-$1.out" "$T/peer-$1.err")"
	fi
}
exit_case _exit
exit_case exit
# (quick_exit: the C library's own _exit at its end, which no wrapper
# sees; before h189 the session ended with a bare FIN)
exit_case quick_exit

# exit_heap_small: _exit() on 300 sessions with a 4 MiB exit heap (what
# strict overcommit, or a RLIMIT_AS, leaves core/alloc.c's heap_map;
# exit_many.py sets RLIMIT_AS just before os._exit).  Each session's
# close takes its record buffers (the ticket's peek, the alert: 17 KB,
# SSL_MODE_RELEASE_BUFFERS) and releases them: before h189 the exit heap
# took nothing back, and the sessions past about 250 ended with a bare
# FIN (53 of 300 ragged).  Every session must end with close_notify.
# (AddressSanitizer's reserve does not fit under such a RLIMIT_AS: there
# the same 300 with the full heap.)
P=$(free_port)
policy "$T/c-many.conf" <<EOC
rules = ( { name = "many-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOC
bg "$PY" "$PYD/exit_many.py" server "$P" 300 "$CERTS/server.crt" "$CERTS/server.key" >"$T/many.srv" 2>&1
msrv=$!
wait_for "$T/many.srv" '^ready' 10
room=10
asan_build && room=0
TLSSHIM_LOG_FILE="$T/log-many" timeout $((60 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	"$PY" "$PYD/exit_many.py" client "$P" 300 $room >"$T/out-many" 2>&1
wait_exit "$msrv" 30
if grep -q '^open 300$' "$T/out-many" && grep -q '^clean 300 ragged 0$' "$T/many.srv"; then
	pass "exit_heap_small: _exit() on 300 sessions with a 4 MiB exit heap: every one ends with close_notify"
else
	fail "exit_heap_small: _exit() on 300 sessions, a 4 MiB exit heap: close_notify on each" \
		"$(cat "$T/many.srv" "$T/out-many" 2>/dev/null | tr '\n' '|' | head -c 600) $(tail_of "$T/log-many")"
fi

P=$(free_port)
policy "$T/s.conf" <<EOC
rules = ( { name = "life-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
echo "contents of a plain file" >"$T/file"
out=$(TLSSHIM_LOG_FILE="$T/log2" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	"$PY" "$PYD/stale_fd.py" "$P" "$T/file" 2>&1)
if [ "$out" = "True contents of a plain file" ]; then
	pass "a number closed behind the shim and reopened by open() reads as the plain file"
else
	fail "stale entry cleared on open()" "$out $(cat "$T/log2")"
fi
