#!/bin/sh
# daemon() forks inside the C library and the parent exits at once: the
# surviving process keeps its sessions (it may use them, and its close
# sends close_notify).  close_range()/closefrom() on a TLS fd end the
# session with close_notify like close().
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
P=$(free_port)
policy "$T/c.conf" <<EOC
rules = ( { name = "dmn-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
if start_peer peer server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
	--mode echo --status "$T/st"; then
	TLSSHIM_LOG_FILE="$T/log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PROGS/daemon_client" localhost "$P" "$T/out"
	wait_for "$T/st" '^eof' 10
	wait_exit "$PEER" 10
	if [ "$(cat "$T/out" 2>/dev/null)" = "first: one
second: two" ] && grep -q "^eof clean" "$T/st"; then
		pass "daemon(): the surviving process keeps using the session and ends it with close_notify"
	else
		fail "daemon() keeps sessions" "$(cat "$T/out" "$T/st" "$T/log" 2>/dev/null)$(tail_of "$T/peer.out" "$T/peer.err")"
	fi
else
	fail "daemon() keeps sessions" "the TLS peer did not start$(tail_of "$T/peer.out" "$T/peer.err")"
fi

# daemon() without noclose puts /dev/null on 0 to 2 with the C library's
# own dup2: a session's pump end there (stdout) is forgotten, and
# getpeername() on it says ENOTSOCK as the kernel's (it answered with the
# TLS connection's addresses); the session on its own number goes on.
P=$(free_port)
policy "$T/s.conf" <<EOC
rules = ( { name = "dmn-stdout"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
if start_peer peer-s server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
	--mode echo --status "$T/st-s"; then
	TLSSHIM_LOG_FILE="$T/log-s" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PROGS/daemon_client" localhost "$P" "$T/out-s" stdout >/dev/null
	wait_for "$T/st-s" '^eof' 10
	wait_for "$T/out-s" '^stdout' 10
	wait_exit "$PEER" 10
	if [ "$(cat "$T/out-s" 2>/dev/null)" = "first: one
second: two
stdout: ENOTSOCK" ]; then
		pass "daemon() puts /dev/null on a pumped stdout: getpeername() there says ENOTSOCK, the session goes on"
	else
		fail "daemon() and a pumped stdout" "$(cat "$T/out-s" "$T/st-s" "$T/log-s" 2>/dev/null | tr '\n' '|')"
	fi
else
	fail "daemon() and a pumped stdout" "the TLS peer did not start$(tail_of "$T/peer-s.out" "$T/peer-s.err")"
fi

for how in closerange closefrom; do
	P=$(free_port)
	policy "$T/r.conf" <<EOC
rules = ( { name = "cr-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	if ! start_peer "peer-$how" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
		--mode echo --status "$T/st-$how"; then
		fail "$how on a TLS fd sends close_notify" "the TLS peer did not start$(tail_of "$T/peer-$how.out" "$T/peer-$how.err")"
		continue
	fi
	out=$(TLSSHIM_LOG_FILE="$T/log-$how" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PY" "$PYD/closefrom_client.py" "$P" "$how" "$T/st-$how" 2>&1)
	wait_exit "$PEER" 10
	if grep -q "^eof clean" "$T/st-$how" && [ "$out" = "peer saw the end before exit: True" ]; then
		pass "$how on a TLS fd sends close_notify"
	else
		fail "$how on a TLS fd sends close_notify" "client: $out; peer: $(cat "$T/st-$how" "$T/log-$how" 2>/dev/null)"
	fi
done
