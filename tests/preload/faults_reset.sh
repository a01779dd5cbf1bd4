#!/bin/sh
# tests/preload/faults_reset.sh — a peer that resets the connection (RST,
# SO_LINGER 0) in the middle of the handshake, of a record, or of its
# close_notify, against a shimmed server and a shimmed client; and a peer
# that sends every byte of its session alone (slowloris).
#
# The peer is tests/preload/py/rawtls.py (Python ssl over memory BIOs, so
# that it decides every byte on the wire).
# Server side: echo_server -1 under the shim.  A reset anywhere is an
#   error for the program: its read fails with ECONNRESET (exit 1), the
#   shim logs a line, the program exits normally (no crash, no hang), and
#   the half record's plaintext never appears.  The byte-at-a-time client
#   gets its echo and a clean close (exit 0).
# Client side: client under the shim.  A reset during the handshake makes
#   connect() fail with ECONNREFUSED (exit 2); during a record or the
#   close_notify, the read fails with ECONNRESET (exit 3), after what came
#   in full records; the half record's plaintext is never printed.  The
#   byte-at-a-time server's echo arrives whole (exit 0).
# Half-open: a client that stops reading and never closes after its
#   first echo (rawtls.py hold: the server's close_notify and FIN sit
#   unread in its socket); echo_server -c (one answer, then close) under
#   the shim: its close() does not wait for the silent peer, so the next
#   TLS client is served while the first one still holds its connection.
# Half-closed connections (FIN one way, data the other) are covered by
# tests/preload/server.sh and client.sh (client's shutdown(SHUT_WR)).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim faults_reset_setup
RAW=$PYD/rawtls.py

# --- a shimmed server ------------------------------------------------------
# srv_case MODE WANT-RC WANT-ERR PEER-WANT
srv_case() {
	mode=$1 want_rc=$2 want_err=$3 peer_want=$4
	name=server_peer_$mode
	P=$(free_port)
	policy "$T/$name.conf" <<EOF
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; stop "$SRV"; return
	fi
	timeout $((40 * TS)) "$PY" "$RAW" client "$mode" "$P" "$CERTS/ca.crt" "$T/$name.got" \
		>"$T/$name.peer" 2>&1
	wait_exit "$SRV" 20; rc=$?
	if [ "$rc" -ne "$want_rc" ]; then
		fail "$name" "echo_server exited $rc, want $want_rc$(show "$T/$name.err" "$T/$name.peer" "$TLSSHIM_LOG_FILE")"
	elif [ -n "$want_err" ] && ! grep -q "^echo_server: read: $want_err\$" "$T/$name.err"; then
		fail "$name" "echo_server's read did not fail with '$want_err'$(show "$T/$name.err")"
	elif [ -z "$want_err" ] && [ -s "$T/$name.err" ]; then
		fail "$name" "echo_server reported an error$(show "$T/$name.err")"
	elif ! grep -q -E -e "$peer_want" "$T/$name.peer"; then
		fail "$name" "the peer did not get /$peer_want/$(show "$T/$name.peer")"
	elif [ "$want_rc" -ne 0 ] && [ "$(lines "$TLSSHIM_LOG_FILE" '.')" -lt 1 ]; then
		fail "$name" "no log line for the reset connection"
	elif [ -f "$T/$name.got" ] && grep -q 'SECRET-HALF-RECORD' "$T/$name.got"; then
		fail "$name" "the half record's plaintext came back"
	elif grep -q -i 'sanitizer\|runtime error' "$T/$name.err"; then
		fail "$name" "sanitizer report$(show "$T/$name.err")"
	else
		pass "$name"
	fi
}

srv_case rst-handshake 1 'Connection reset by peer' '^rst sent'
srv_case rst-record 1 'Connection reset by peer' '^echo GOOD-1$'
srv_case rst-close 1 'Connection reset by peer' '^echo GOOD-1$'
srv_case slow 0 '' '^echo ok$'
# the slow client must also have seen the server's close_notify
if ! grep -q '^close_notify$' "$T/server_peer_slow.peer"; then
	fail server_peer_slow_clean_close "the byte-at-a-time client did not get close_notify$(show "$T/server_peer_slow.peer")"
else
	pass server_peer_slow_clean_close
fi

# --- a shimmed client ------------------------------------------------------
# cli_case MODE WANT-RC WANT-ERR WANT-OUT
cli_case() {
	mode=$1 want_rc=$2 want_err=$3 want_out=$4
	name=client_peer_$mode
	P=$(free_port)
	policy "$T/$name.conf" <<EOF
rules = ( { name = "out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	bg "$PY" "$RAW" server "$mode" "$P" "$CERTS/server.crt" "$CERTS/server.key" >"$T/$name.peer" 2>&1
	peer=$!
	if ! wait_for "$T/$name.peer" '^ready' 10; then
		fail "$name" "rawtls server did not start$(show "$T/$name.peer")"; stop "$peer"; return
	fi
	printf 'hello from the client\n' >"$T/$name.in"
	shimmed "$PROGS/client" localhost "$P" <"$T/$name.in" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	wait_exit "$peer" 20
	if [ "$rc" -ne "$want_rc" ]; then
		fail "$name" "client exited $rc, want $want_rc$(show "$T/$name.err" "$T/$name.peer" "$TLSSHIM_LOG_FILE")"
	elif [ -n "$want_err" ] && [ "$(cat "$T/$name.err")" != "$want_err" ]; then
		fail "$name" "want '$want_err' on stderr$(show "$T/$name.err")"
	elif [ -z "$want_err" ] && [ -s "$T/$name.err" ]; then
		fail "$name" "client reported an error$(show "$T/$name.err")"
	elif [ "$(cat "$T/$name.out")" != "$want_out" ]; then
		fail "$name" "client printed '$(head -c 200 "$T/$name.out")', want '$want_out'"
	elif [ "$want_rc" -ne 0 ] && [ "$(lines "$TLSSHIM_LOG_FILE" '.')" -lt 1 ]; then
		fail "$name" "no log line for the reset connection"
	else
		pass "$name"
	fi
}

cli_case rst-handshake 2 'client: connect: Connection refused' ''
cli_case rst-record 3 'client: read: Connection reset by peer' ''
cli_case rst-close 3 'client: read: Connection reset by peer' 'REPLY-1'
cli_case slow 0 '' 'hello from the client'

# --- records that arrived before the peer's reset ---------------------------
# The peer (rawtls.py rst-records) sends 40 full records and resets at once;
# the program (py/rst_reader.py) reads only after the RST is in.  Linux
# leaves the receive queue at a reset: a TCP program gets every byte, then
# ECONNRESET (the plain control case).  Under the shim: the same 40320
# bytes, then ECONNRESET (pump: fd 0 handed to a pump); write-first writes before it
# reads (its send meets the reset, which failed the connection at once:
# the records were lost, "got 0 0").
rst_case() {
	how=$1 size=$2 want=$3 ended=${4:-}
	name=client_reads_records_before_reset_$how${ended:+_after_$ended}
	mode=rst${ended:+-close}-records
	P=$(free_port)
	if [ "$how" = plain ] || [ "$how" = plain-write-first ]; then
		bg "$PY" "$PYD/rst_reader.py" plain-server "$P" ${ended:+fin} >"$T/$name.peer" 2>&1
	else
		policy "$T/$name.conf" <<EOF
rules = ( { name = "out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOF
		export TLSSHIM_LOG_FILE="$T/$name.log"
		bg "$PY" "$RAW" server "$mode" "$P" "$CERTS/server.crt" "$CERTS/server.key" >"$T/$name.peer" 2>&1
	fi
	peer=$!
	if ! wait_for "$T/$name.peer" '^ready' 10; then
		fail "$name" "the peer did not start$(show "$T/$name.peer")"; stop "$peer"; return
	fi
	if [ "$how" = plain ] || [ "$how" = plain-write-first ]; then
		bg timeout $((30 * TS)) "$PY" "$PYD/rst_reader.py" "${how#plain-}" "$size" "$P" "$T/$name.go" >"$T/$name.out" 2>&1
	else
		shimbg "$PY" "$PYD/rst_reader.py" "$how" "$size" "$P" "$T/$name.go" >"$T/$name.out" 2>&1
	fi
	rd=$!
	wait_for "$T/$name.peer" '^(rst sent|reset|timeout|alert)' 20
	: >"$T/$name.go"
	wait_exit "$rd" 20
	wait_exit "$peer" 10
	got=$(grep -v -e '^connected' -e '^write ' "$T/$name.out" | tr '\n' ' ')
	if ! grep -q '^rst sent' "$T/$name.peer"; then
		fail "$name" "the peer did not reset$(show "$T/$name.peer" "$T/$name.out")"
	elif [ "$got" != "$want " ]; then
		fail "$name" "got '$got', want '$want'$(show "$T/$name.out" "$T/$name.peer")"
	else
		pass "$name"
	fi
}
rst_case plain 100 'got 40320 40 end reset'
rst_case pump 100 'got 40320 40 end reset'
rst_case write-first 100 'got 40320 40 end reset'
# The peer ended its stream cleanly (close_notify; a FIN for plain TCP)
# before its reset: the reads end at the end of the stream, as TCP's do
# (plain: the write gets EPIPE, the reads 40320 bytes then 0).  A write
# that met the reset made them end with ECONNRESET instead (the drain
# stopped at the close_notify, then the connection was failed), so one
# response read two ways.
rst_case plain-write-first 100 'got 40320 40 end eof' close_notify
rst_case read 100 'got 40320 40 end eof' close_notify
rst_case write-first 100 'got 40320 40 end eof' close_notify

# --- half-open: a peer gone silent ------------------------------------------
name=server_close_does_not_wait_for_a_silent_peer
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" -c "$P"; then
	bg "$PY" "$RAW" client hold "$P" "$CERTS/ca.crt" >"$T/$name.peer" 2>&1
	holder=$!
	if wait_for "$T/$name.peer" '^holding' 10; then
		peer client --port "$P" --ca "$CERTS/ca.crt" --send "next client" --finish read-eof \
			--timeout $((20 * TS)) >"$T/$name.cli" 2>&1
		if ! grep -q '^echo ok' "$T/$name.cli"; then
			fail "$name" "the next client was not served$(show "$T/$name.cli" "$T/$name.err" "$TLSSHIM_LOG_FILE")"
		elif ! alive "$holder"; then
			fail "$name" "the silent peer had already gone: the test proves nothing$(show "$T/$name.peer")"
		elif [ "$(lines "$T/$name.out" '^accepted')" -ne 2 ]; then
			fail "$name" "echo_server did not accept both$(show "$T/$name.out")"
		else
			pass "$name"
		fi
	else
		fail "$name" "the holding client did not get its echo$(show "$T/$name.peer" "$T/$name.err")"
	fi
	stop "$holder"
	stop "$SRV"
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi
