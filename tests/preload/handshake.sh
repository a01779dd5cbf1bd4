#!/bin/sh
# tests/preload/handshake.sh — the server handshake is lazy: accept()
# returns at once (before any TLS byte), the handshake runs on the first
# I/O, and handshake_timeout_ms bounds how long a silent client can hold
# an iterative server.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim handshake_setup

# accept_policy PORT [EXTRA-KEYS]
accept_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "lazy-in"; direction = "accept"; port = $1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ${2:-} }
);
EOF
}

# A silent TCP client (sends nothing, not even a ClientHello): the
# program's accept() returns anyway ("accepted" printed).  When the silent
# client leaves, the program's read fails with ECONNRESET, and the next
# (real TLS) client is served.
name=accept_returns_before_handshake
P=$(free_port)
accept_policy "$P"
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" "$P"; then
	bg "$PY" "$TLSPEER" silent --port "$P" --hold 20 >"$T/$name.silent" 2>&1
	silent=$!
	if wait_for "$T/$name.out" '^accepted' 10; then
		stop "$silent"
		peer client --port "$P" --ca "$CERTS/ca.crt" --send "after the silent one" >"$T/$name.cli" 2>&1
		wait_for "$T/$name.err" 'read:' 5
		if ! grep -q '^echo ok' "$T/$name.cli"; then
			fail "$name" "the TLS client after the silent one failed$(show "$T/$name.cli" "$T/$name.err" "$T/$name.log")"
		elif ! grep -q '^echo_server: read: Connection reset by peer$' "$T/$name.err"; then
			fail "$name" "the silent connection's read did not fail with ECONNRESET$(show "$T/$name.err" "$T/$name.log")"
		else
			pass "$name"
		fi
	else
		fail "$name" "accept() did not return for a client that sent nothing$(show "$T/$name.out" "$T/$name.log")"
	fi
	stop "$silent"
	stop "$SRV"
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi

# handshake_timeout_ms = 1000 * TS (long enough for the waiting client's own
# handshake on a busy machine): the silent client holds the iterative server
# only that long: its handshake fails ("timeout" in the log, ECONNRESET in
# the program, the connection closed), then the waiting TLS client gets its
# echo (it waits in the listen queue meanwhile).
name=handshake_timeout_frees_iterative_server
P=$(free_port)
accept_policy "$P" "handshake_timeout_ms = $((1000 * TS));"
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" "$P"; then
	bg "$PY" "$TLSPEER" silent --port "$P" --hold 20 >"$T/$name.silent" 2>&1
	silent=$!
	if wait_for "$T/$name.out" '^accepted' 10; then
		peer client --port "$P" --ca "$CERTS/ca.crt" --send "served after the timeout" \
			--timeout $((20 * TS)) >"$T/$name.cli" 2>&1
		wait_exit "$silent" 10
		if ! grep -q '^echo ok' "$T/$name.cli"; then
			fail "$name" "the TLS client was not served$(show "$T/$name.cli" "$T/$name.err" "$T/$name.log")"
		elif [ "$(lines "$T/$name.log" 'time')" -ne 1 ]; then
			fail "$name" "expected one log line naming the timeout$(show "$T/$name.log")"
		elif ! grep -q '^echo_server: read: Connection reset by peer$' "$T/$name.err"; then
			fail "$name" "the silent connection's read did not fail with ECONNRESET$(show "$T/$name.err")"
		elif ! grep -q '^closed$' "$T/$name.silent"; then
			fail "$name" "the silent client's connection was not closed$(show "$T/$name.silent")"
		else
			pass "$name"
		fi
	else
		fail "$name" "accept() did not return for a client that sent nothing"
	fi
	stop "$silent"
	stop "$SRV"
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi
