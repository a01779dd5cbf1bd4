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
# no atexit handler runs; exit: the C library's, which runs them) without
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
