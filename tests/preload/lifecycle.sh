#!/bin/sh
# The end of a process and numbers closed behind the shim's back:
# a program that ends with _exit() (skipping atexit) still ends its
# session with close_notify; an fd closed with a raw syscall (as the C
# library sometimes does) and handed out again by open() is a plain file
# again, never a TLS connection.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
P=$(free_port)
policy "$T/c.conf" <<EOC
rules = ( { name = "life-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
start_peer peer server --port "$P" --cert "$CERTS/server.crt" \
	--key "$CERTS/server.key" --mode record --record "$T/rec" --status "$T/st"
TLSSHIM_LOG_FILE="$T/log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	"$PY" "$PYD/exit_client.py" "$P" >"$T/out" 2>&1
wait_exit "$PEER" 10
if grep -q "^eof clean" "$T/st" && grep -q "bye via _exit" "$T/rec"; then
	pass "_exit() without close: the session still ends with close_notify"
else
	fail "_exit sends close_notify" "$(cat "$T/st" "$T/out" "$T/log" 2>/dev/null)$(tail_of "$T/peer.out" "$T/peer.err")"
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
