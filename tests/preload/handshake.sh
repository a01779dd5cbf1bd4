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

# A blocking server's first handshake step waits for the ClientHello
# before it reads (shim/tlsio.c): right after accept() the ClientHello is
# usually still on its way, and a recv() first would only say EAGAIN (one
# system call more per connection, the blocking read emulation's). strace
# shows, for every accepted socket, which came first: ppoll() on it or
# recvfrom() on it. Three clients, each served.
name=first_step_waits_for_the_client_hello
P=$(free_port)
accept_policy "$P"
export TLSSHIM_LOG_FILE="$T/$name.log"
if ! command -v strace >/dev/null; then
	fail "$name" "strace not installed (strace)"
else
	shimbg strace -f -qq -e trace=accept,accept4,recvfrom,ppoll -o "$T/$name.trace" \
		"$PROGS/echo_server" "$P" >"$T/$name.out" 2>"$T/$name.err"
	SRV=$!
	if wait_for "$T/$name.out" '^listening' $((20 * TS)); then
		served=0
		for i in 1 2 3; do
			peer client --port "$P" --ca "$CERTS/ca.crt" --send "client $i" \
				--timeout $((20 * TS)) >"$T/$name.cli$i" 2>&1
			grep -q '^echo ok' "$T/$name.cli$i" && served=$((served + 1))
		done
		# echo_server first: strace then writes the rest of its trace and ends.
		for c_ in $(_tree "$SRV"); do [ "$c_" != "$SRV" ] && kill "$c_" 2>/dev/null; done
		wait_exit "$SRV" 10 || stop "$SRV"
		# "N ppoll first, M recvfrom first" over the accepted sockets
		order=$(awk '
			/ accept4?\(/ && $NF ~ /^[0-9]+$/ { open_[$NF] = 1; next }
			/ ppoll\(\[\{fd=/ { f = $0; sub(/.*ppoll\(\[\{fd=/, "", f); sub(/[^0-9].*/, "", f)
				if (f in open_) { p++; delete open_[f] }; next }
			/ recvfrom\(/ { f = $0; sub(/.* recvfrom\(/, "", f); sub(/[^0-9].*/, "", f)
				if (f in open_) { r++; delete open_[f] } }
			END { printf "%d ppoll first, %d recvfrom first\n", p, r }' "$T/$name.trace")
		if [ "$served" -ne 3 ]; then
			fail "$name" "$served of 3 clients served$(show "$T/$name.cli1" "$T/$name.err" "$T/$name.log")"
		elif [ "$order" != "3 ppoll first, 0 recvfrom first" ]; then
			fail "$name" "$order$(show "$T/$name.trace")"
		else
			pass "$name ($order)"
		fi
	else
		fail "$name" "echo_server never listened$(show "$T/$name.err")"
		_stop_tree "$SRV"
	fi
fi
