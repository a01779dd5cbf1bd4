#!/bin/sh
# tests/preload/faults_lookup.sh — the kernel does not answer the
# questions that tell an accepted connection's rule (getsockname, or
# getsockopt SO_PROTOCOL, fails: preload_lookupfail.so injects ENOBUFS on
# connected sockets).  The library must not guess "plain": each such
# connection is closed with an error line, the program never sees it, no
# byte is echoed in clear to a plain client on the TLS port, and the
# server lives on (its accept() goes on waiting).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim faults_lookup_setup
INJ=$PROGS/preload_lookupfail.so
[ -f "$INJ" ] || { fail faults_lookup_setup "$INJ missing (make test-build)"; exit 0; }

for mode in getsockname protocol; do
	name=accept_${mode}_fails_connection_closed_not_plain
	P=$(free_port)
	policy "$T/$name.conf" <<EOC
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
	export TLSSHIM_LOG_FILE="$T/$name.log"
	audit_exclude "$P" "$name: a plain client talks to the TLS port on purpose (it must get no echo)"
	bg env TLSSHIM_TEST_LOOKUPFAIL="$mode" LD_PRELOAD="$SHIM_PRELOAD $INJ" TLSSHIM_CONFIG="$POLICY" \
		"$PROGS/echo_server" "$P" >"$T/$name.out" 2>"$T/$name.err"
	srv=$!
	if ! wait_for "$T/$name.out" '^listening' 10; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"
		continue
	fi
	peer raw --port "$P" --send "plain-secret-$$" --record "$T/$name.raw" --timeout $((10 * TS)) \
		>"$T/$name.cli" 2>&1
	wait_for "$TLSSHIM_LOG_FILE" 'cannot tell which rule applies' 10
	if [ -s "$T/$name.raw" ]; then
		fail "$name" "the plain client got '$(cat "$T/$name.raw")' from the TLS port$(show "$T/$name.out" "$TLSSHIM_LOG_FILE")"
	elif ! grep -q "error: accept on fd [0-9]*: cannot tell which rule applies to a new connection (No buffer space available); connection closed" "$TLSSHIM_LOG_FILE"; then
		fail "$name" "no error line$(show "$TLSSHIM_LOG_FILE" "$T/$name.cli")"
	elif grep -q "^accepted\|^conn" "$T/$name.out"; then
		fail "$name" "the program saw the connection$(show "$T/$name.out")"
	elif ! alive "$srv"; then
		fail "$name" "echo_server died$(show "$T/$name.err")"
	else
		pass "$name"
	fi
	stop "$srv"
done
