#!/bin/sh
# tests/attack/handshake.sh — attacks on the handshake of a shimmed server,
# and plaintext peers on either side.
#
# strip-*, downgrade-*: tls_peer.py client -> mitm.py (rewrites the
#   ClientHello: only RC4/3DES suites; only TLS 1.0/1.1) -> echo_server -1
#   under the shim.  The proxy applied the rewrite; the handshake fails on
#   both sides; the server's read fails with ECONNRESET; no data reached or
#   left the program; the shim logged one line naming the reason
#   (cipher / protocol version).
# alter-hs-server-*: the same path, one bit of the ClientHello's random
#   flipped (the transcripts differ): the handshake fails on both sides,
#   the server's read fails with ECONNRESET, the shim logs a line, no data.
# alter-hs-client-*: client under the shim -> mitm.py (one bit of the
#   ServerHello's random flipped) -> tls_peer.py server: connect() fails
#   with ECONNREFUSED ("client: connect: Connection refused", exit 2),
#   nothing is printed, the shim logs a line.
# plaintext-to-server: a plain client sends "GET / HTTP/1.0" in clear to a
#   shimmed server: the server's read fails with ECONNRESET, nothing comes
#   back in clear, the shim logs a line.
# plaintext-from-server: a shimmed client connects to a plaintext server
#   that talks first: connect fails with ECONNREFUSED, the client prints
#   nothing of the server's text and sends none of its input, the shim logs
#   a line.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/attack.inc"

server_policy() { # server_policy DIR PORT
	policy "$1/policy.conf" <<EOP
rules = ( { name = "in"; direction = "accept"; port = $2;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOP
}

start_echo() { # start_echo DIR PORT: echo_server -1 under the shim
	bg env TLSSHIM_LOG=warn TLSSHIM_LOG_FILE="$1/shim.log" LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" "$PROGS/echo_server" -1 "$2" >"$1/echo.out" 2>"$1/echo.err"
	epid=$!
	wait_grep "$1/echo.out" "listening on" 50
}

hs_case() { # hs_case strip|downgrade|alter-hs tls13|tls12 REASON_EREGEX
	mode=$1 ver=$2 reason=$3
	d=$T/$mode-$ver
	mkdir -p "$d"
	case $mode in
	alter-hs) begin "attack/alter-hs-server-$ver" ;;
	*) begin "attack/$mode-$ver" ;;
	esac
	sp=$(free_port)
	extra=""
	[ "$ver" = tls12 ] && extra=--tls12
	server_policy "$d" "$sp"
	start_echo "$d" "$sp"
	start_mitm "$d" "$mode" c2s "$sp"
	timeout $((15 * TS)) $PEER client --port "$MP" --ca "$CERTS/ca.crt" --timeout $((3 * TS)) $extra \
		>"$d/out" 2>"$d/client.err"
	crc=$?
	wait_exit "$epid" 50
	erc=$rc
	wait_grep "$d/mitm.log" "conn [0-9]+: closed" 50   # the proxy has finished the connection
	stop "$MITM_PID"
	need "mitm did not apply $mode" grep -q "applied $mode" "$d/mitm.log"
	need "client handshake did not fail (exit $crc, want 3)" [ "$crc" -eq 3 ]
	need "client received data" [ ! -s "$d/out" ]
	need "echo_server exit status $erc, want 1 (read error)" [ "$erc" -eq 1 ]
	need "echo_server stderr lacks 'echo_server: read: Connection reset by peer'" \
		grep -q 'echo_server: read: Connection reset by peer' "$d/echo.err"
	need "no tlsshim log line naming the reason (/$reason/)" shim_log_line "$d/shim.log" "$reason"
	finish "$d"
}

alter_hs_client() { # alter_hs_client tls13|tls12
	ver=$1
	d=$T/alter-hs-client-$ver
	mkdir -p "$d"
	begin "attack/alter-hs-client-$ver"
	extra=""
	[ "$ver" = tls12 ] && extra=--tls12
	start_server "$d" $extra
	sp=$SP speer=$SPID
	start_mitm "$d" alter-hs s2c "$sp"
	policy "$d/policy.conf" <<EOP
rules = ( { name = "out"; direction = "connect"; port = $MP;
            ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOP
	echo "client input" | timeout $((10 * TS)) env TLSSHIM_LOG=warn TLSSHIM_LOG_FILE="$d/shim.log" \
		LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PROGS/client" 127.0.0.1 "$MP" >"$d/out" 2>"$d/client.err"
	crc=$?
	wait_exit "$speer" 50
	wait_grep "$d/mitm.log" "conn [0-9]+: closed" 50   # the proxy has finished the connection
	stop "$MITM_PID"
	need "mitm did not apply alter-hs" grep -q "applied alter-hs" "$d/mitm.log"
	need "client exit status $crc, want 2 (connect error)" [ "$crc" -eq 2 ]
	need "client stderr lacks 'client: connect: Connection refused'" \
		grep -q 'client: connect: Connection refused' "$d/client.err"
	need "the client printed data" [ ! -s "$d/out" ]
	need "no tlsshim log line about the failed handshake" shim_log_line "$d/shim.log"
	finish "$d"
}

plain_to_server() {
	d=$T/plaintext-to-server
	mkdir -p "$d"
	begin attack/plaintext-to-server
	sp=$(free_port)
	audit_exclude "$sp" "plaintext-to-server: a plain client sends GET in clear to the TLS server on purpose"
	server_policy "$d" "$sp"
	start_echo "$d" "$sp"
	timeout $((10 * TS)) $PEER plain --port "$sp" --send 'GET / HTTP/1.0\r\n\r\n' --timeout $((3 * TS)) \
		>"$d/out" 2>"$d/client.err"
	wait_exit "$epid" 50
	erc=$rc
	need "plaintext echoed back in clear" has_no "$d/out" "GET"
	need "plaintext echoed back in clear" has_no "$d/out" "HTTP/1.0"
	need "echo_server exit status $erc, want 1 (read error)" [ "$erc" -eq 1 ]
	need "echo_server stderr lacks 'echo_server: read: Connection reset by peer'" \
		grep -q 'echo_server: read: Connection reset by peer' "$d/echo.err"
	need "no tlsshim log line about the failed handshake" shim_log_line "$d/shim.log"
	finish "$d"
}

plain_from_server() {
	d=$T/plaintext-from-server
	mkdir -p "$d"
	begin attack/plaintext-from-server
	sp=$(free_port)
	audit_exclude "$sp" "plaintext-from-server: a plaintext server talks first to the shimmed TLS client on purpose"
	bg $PEER plainserver --port "$sp" --ready "$d/ready" --timeout $((5 * TS)) >"$d/server.got" 2>"$d/server.err"
	spid=$!
	wait_grep "$d/ready" ready 50
	policy "$d/policy.conf" <<EOP
rules = ( { name = "out"; direction = "connect"; port = $sp;
            ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOP
	echo "client secret input" | timeout $((10 * TS)) env TLSSHIM_LOG=warn TLSSHIM_LOG_FILE="$d/shim.log" \
		LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PROGS/client" 127.0.0.1 "$sp" >"$d/out" 2>"$d/client.err"
	crc=$?
	wait_exit "$spid" 60
	need "client exit status $crc, want 2 (connect error)" [ "$crc" -eq 2 ]
	need "client stderr lacks 'client: connect: Connection refused'" \
		grep -q 'client: connect: Connection refused' "$d/client.err"
	need "the client printed the server's plaintext" has_no "$d/out" "secret plaintext"
	need "the client's input went to the wire in clear" has_no "$d/server.got" "client secret input"
	need "no tlsshim log line about the failed handshake" shim_log_line "$d/shim.log"
	finish "$d"
}

if [ ! -f "$TLSSHIM_LIB" ] || [ ! -x "$PROGS/echo_server" ] || [ ! -x "$PROGS/client" ]; then
	fail attack/handshake "not built: $TLSSHIM_LIB or $PROGS/{echo_server,client} missing (make test-build)"
	exit 0
fi
hs_case strip tls13 'cipher'
hs_case strip tls12 'cipher'
hs_case downgrade tls13 'protocol|version'
hs_case downgrade tls12 'protocol|version'
hs_case alter-hs tls13 '.'
hs_case alter-hs tls12 '.'
alter_hs_client tls13
alter_hs_client tls12
plain_to_server
plain_from_server
