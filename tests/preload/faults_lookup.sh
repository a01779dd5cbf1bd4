#!/bin/sh
# tests/preload/faults_lookup.sh — the kernel does not answer the
# questions that tell an accepted connection's rule (getsockname, or
# getsockopt SO_PROTOCOL, fails: preload_lookupfail.so injects ENOBUFS on
# connected sockets).  The library must not guess "plain": each such
# connection is closed with an error line, the program never sees it, no
# byte is echoed in clear to a plain client on the TLS port, and the
# server lives on (its accept() goes on waiting).
# A TCP socket whose SO_PROTOCOL says 256 (IPPROTO_SMC, TCP on the wire or
# falling back to it; this kernel has no SMC, so the injector,
# TLSSHIM_TEST_LOOKUPFAIL=protocol=N, makes the answer up) is TCP to the
# library: TLS to a connect rule's server and from an accept rule's
# client.  Saying 132 (SCTP, or any protocol the library does not know):
# the connect() a tls rule names fails with ECONNREFUSED, its connection
# accepted on a tls port is closed, such a connection inherited through
# exec is refused, each with an error line, and no byte goes in clear;
# a listener on a tls port is withheld from an exec without the library.
# (The old library took both for "not TCP": plaintext, and the listener
# passed on.)
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

# ---- SO_PROTOCOL 256 (SMC) or 132 (SCTP) on a TLS-ruled connection ----------
P=$(free_port)
policy "$T/proto_out.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
OUT=$POLICY
name=connect_smc_protocol_is_tls
if ! start_peer "$name.srv" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
	--timeout $((10 * TS)) --record "$T/$name.rec"; then
	fail "$name" "the TLS server never started$(show "$T/$name.srv.err")"
else
	echo "smc-secret-$$" | TLSSHIM_LOG_FILE="$T/$name.log" TLSSHIM_TEST_LOOKUPFAIL=protocol=256 \
		timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD $INJ" TLSSHIM_CONFIG="$OUT" \
		"$PROGS/client" 127.0.0.1 "$P" >"$T/$name.out" 2>"$T/$name.err"
	# (the TLS server records what it decrypted)
	if grep -q "^smc-secret-$$\$" "$T/$name.out" && grep -q "^smc-secret-$$\$" "$T/$name.rec"; then
		pass "$name"
	else
		fail "$name" "no TLS echo: client '$(cat "$T/$name.out" "$T/$name.err")' recorded '$(cat "$T/$name.rec" 2>/dev/null)'$(show "$T/$name.log")"
	fi
	stop "$PEER"
fi

P=$(free_port)
policy "$T/proto_out2.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
OUT=$POLICY
name=connect_sctp_protocol_refused_not_plain
audit_exclude "$P" "$name: a plain server on the TLS port records what reaches it (it must get nothing)"
if ! start_peer "$name.srv" server --plain --port "$P" --timeout $((10 * TS)) --record "$T/$name.rec"; then
	fail "$name" "the plain server never started$(show "$T/$name.srv.err")"
else
	echo "sctp-secret-$$" | TLSSHIM_LOG_FILE="$T/$name.log" TLSSHIM_TEST_LOOKUPFAIL=protocol=132 \
		timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD $INJ" TLSSHIM_CONFIG="$OUT" \
		"$PROGS/client" 127.0.0.1 "$P" >"$T/$name.out" 2>"$T/$name.err"
	if [ -s "$T/$name.rec" ] || grep -q '^conn' "$T/$name.srv.out"; then
		fail "$name" "the server got a connection: '$(cat "$T/$name.rec" 2>/dev/null)'$(show "$T/$name.log")"
	elif ! grep -q '^client: connect: Connection refused' "$T/$name.err" ||
	     ! grep -q 'error: 127.0.0.1:'"$P"' rule "out": connect on fd [0-9]* over protocol 132, not TCP .* where the policy says TLS; refused' "$T/$name.log"; then
		fail "$name" "no refusal: $(cat "$T/$name.err")$(show "$T/$name.log")"
	else
		pass "$name"
	fi
	stop "$PEER"
fi

for proto in 256 132; do
	P=$(free_port)
	policy "$T/proto_in$proto.conf" <<EOC
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
	[ "$proto" = 256 ] && name=accept_smc_protocol_is_tls || name=accept_sctp_protocol_closed_not_plain
	export TLSSHIM_LOG_FILE="$T/$name.log"
	[ "$proto" = 132 ] && audit_exclude "$P" "$name: a plain client talks to the TLS port on purpose (it must get no echo)"
	bg env TLSSHIM_TEST_LOOKUPFAIL=protocol=$proto LD_PRELOAD="$SHIM_PRELOAD $INJ" TLSSHIM_CONFIG="$POLICY" \
		"$PROGS/echo_server" "$P" >"$T/$name.out" 2>"$T/$name.err"
	srv=$!
	if ! wait_for "$T/$name.out" '^listening' 10; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"
		continue
	fi
	if [ "$proto" = 256 ]; then
		peer client --port "$P" --ca "$CERTS/ca.crt" --server-name localhost --send "smc-$$" \
			--timeout $((10 * TS)) >"$T/$name.cli" 2>&1
		if grep -q '^echo ok' "$T/$name.cli"; then
			pass "$name"
		else
			fail "$name" "no TLS echo: $(tr '\n' '|' <"$T/$name.cli")$(show "$TLSSHIM_LOG_FILE")"
		fi
	else
		peer raw --port "$P" --send "plain-secret-$$" --record "$T/$name.raw" --timeout $((10 * TS)) \
			>"$T/$name.cli" 2>&1
		if [ -s "$T/$name.raw" ]; then
			fail "$name" "the plain client got '$(cat "$T/$name.raw")' from the TLS port$(show "$TLSSHIM_LOG_FILE")"
		elif ! grep -q 'error: 127\.0\.0\.1:[0-9]* rule "in": connection accepted on fd [0-9]* over protocol 132, not TCP .* where the policy says TLS; connection closed' "$TLSSHIM_LOG_FILE"; then
			fail "$name" "no error line$(show "$TLSSHIM_LOG_FILE" "$T/$name.cli")"
		elif ! alive "$srv"; then
			fail "$name" "echo_server died$(show "$T/$name.err")"
		else
			pass "$name"
		fi
	fi
	stop "$srv"
done

# ---- SO_PROTOCOL 132: an inherited connection, a listener at exec ----------
P=$(free_port)
policy "$T/proto_inh.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; },
          { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
# (",type=5": a connected SOCK_SEQPACKET one, SCTP's one-to-many style,
# as SCTP_SOCKOPT_PEELOFF makes: refused alike; the old library took it
# for "not TCP")
for lf in protocol=132 protocol=132,type=5; do
[ "$lf" = protocol=132 ] && name=inherited_sctp_protocol_connection_refused ||
	name=inherited_sctp_seqpacket_connection_refused
audit_exclude "$P" "$name: a plain server on the TLS port records what reaches it (it must get nothing)"
if ! start_peer "$name.srv" server --plain --port "$P" --timeout $((10 * TS)) --record "$T/$name.rec"; then
	fail "$name" "the plain server never started$(show "$T/$name.srv.err")"
else
	# (a parent without the library connects; sh inherits the socket)
	TLSSHIM_LOG_FILE="$T/$name.log" TLSSHIM_TEST_LOOKUPFAIL=$lf TLSSHIM_CONFIG="$POLICY" \
		timeout -k 2 $((20 * TS)) "$PY" -c '
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
os.dup2(s.fileno(), 7)
os.environ["LD_PRELOAD"] = sys.argv[2]
os.execv("/bin/sh", ["sh", "-c", "printf \"%s\\n\" \"$0\" >&7 && echo wrote", sys.argv[3]])' \
		"$P" "$SHIM_PRELOAD $INJ" "inh-secret-$$" >"$T/$name.out" 2>&1
	stop "$PEER"
	if [ -s "$T/$name.rec" ]; then
		fail "$name" "the server got '$(cat "$T/$name.rec")'$(show "$T/$name.log")"
	elif grep -q '^wrote' "$T/$name.out" ||
	     ! grep -q 'error: .* rule "out": fd 7 (not made through this library) is a connection over protocol 132, not TCP' "$T/$name.log"; then
		fail "$name" "not refused: $(tr '\n' '|' <"$T/$name.out")$(show "$T/$name.log")"
	else
		pass "$name"
	fi
fi
done

name=exec_sctp_protocol_tls_listener_withheld
TLSSHIM_LOG_FILE="$T/$name.log" TLSSHIM_TEST_LOOKUPFAIL=protocol=132 timeout -k 2 $((20 * TS)) \
	env LD_PRELOAD="$SHIM_PRELOAD $INJ" TLSSHIM_CONFIG="$POLICY" "$PROGS/sysdeny" none execlisten "$P" x \
	>"$T/$name.out" 2>&1
if grep -q -x 'listener withheld' "$T/$name.out" && grep -q 'not passed on (close-on-exec)' "$T/$name.log"; then
	pass "$name"
else
	fail "$name" "$(tr '\n' '|' <"$T/$name.out")$(show "$T/$name.log")"
fi
