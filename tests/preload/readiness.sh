#!/bin/sh
# Readiness on TLS fds: poll/select report plaintext buffered inside the
# TLS layer; a non-blocking connect completes only after the verified
# handshake (poll POLLOUT, then SO_ERROR), and a refused handshake shows
# as ECONNREFUSED through SO_ERROR.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
HERE=$TLSSHIM_TOP/tests/preload

# A client that sends 200 lines in one go and expects them back; the
# server under test reads 1 byte per wake-up.

for mode in poll select; do
	P=$(free_port)
	policy "$T/srv.conf" <<EOC
rules = ( { name = "poll-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
	flag=""; [ $mode = select ] && flag=-s
	shimbg "$PROGS/poll_server" $flag -b 1 -n 2 "$P" >"$T/srv.out" 2>&1
	srv=$!
	wait_port "$P"
	# wait_port's probe connection counts as one: allow for it.
	out=$(timeout $((30 * TS)) "$PY" "$PYD/readiness_lines_client.py" "$P" "$CERTS/ca.crt" 2>&1)
	wait_exit "$srv" 10
	if [ "$out" = "echo ok" ]; then
		pass "$mode: 1-byte reads see plaintext buffered inside TLS (200 lines echoed)"
	else
		fail "$mode: 1-byte reads see plaintext buffered inside TLS" "$out$(tail_of "$T/srv.out")"
	fi
done

# Non-blocking connect: Python's create_connection(timeout=) is connect()
# returning EINPROGRESS, poll(POLLOUT), getsockopt(SO_ERROR).
for cert in server wrongname; do
	P=$(free_port)
	policy "$T/cli.conf" <<EOC
rules = ( { name = "py-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	bg "$PY" "$HERE/tls_echo_server.py" "$P" "$CERTS/$cert.crt" "$CERTS/$cert.key" 1 >"$T/echo.out" 2>&1
	echo_pid=$!
	wait_for "$T/echo.out" '^listening' 15
	out=$(TLSSHIM_LOG_FILE="$T/log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PY" "$PYD/nb_connect_client.py" "$P" 2>&1)
	wait_exit "$echo_pid" 20
	if [ $cert = server ]; then
		if [ "$out" = "SECRET-PLAINTEXT-4711 over a non-blocking socket" ]; then
			pass "non-blocking connect: handshake completes behind poll(POLLOUT), data echoed"
		else
			fail "non-blocking connect: handshake completes behind poll(POLLOUT)" "$out$(tail_of "$T/log" "$T/echo.out")"
		fi
	else
		if [ "$out" = "connect error: 111" ] && grep -qi "hostname mismatch" "$T/log" &&
		   ! grep -q SECRET "$T/echo.out"; then
			pass "non-blocking connect: wrong name gives ECONNREFUSED via SO_ERROR, logged, no data sent"
		else
			fail "non-blocking connect: wrong name refused" "$out / $(cat "$T/log" "$T/echo.out")"
		fi
	fi
done

# TCP Fast Open would connect and send in one call, never calling
# connect(): to a TLS destination it is refused, nothing reaches the peer.
P=$(free_port)
policy "$T/tfo.conf" <<EOC
rules = ( { name = "tfo-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$PYD/tfo_server.py" "$P" >"$T/tfo-srv" 2>&1
tfo=$!
wait_for "$T/tfo-srv" '^listening' 15
out=$(TLSSHIM_LOG_FILE="$T/tfo.log" timeout $((10 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/tfo.conf" \
	"$PY" "$PYD/tfo_client.py" "$P" 2>&1)
wait_exit "$tfo" 10
if [ "$out" = "errno 95" ] && has_no "$T/tfo-srv" SECRET && grep -q "MSG_FASTOPEN" "$T/tfo.log"; then
	pass "MSG_FASTOPEN to a TLS destination: EOPNOTSUPP, logged, nothing sent"
else
	fail "MSG_FASTOPEN refused" "$out / $(cat "$T/tfo-srv" "$T/tfo.log")"
fi
# unbound (its TCP upstreams) and wget2 (--tcp-fastopen, on by default) then
# connect() the same socket, non-blocking: a TLS session, echoed by a real
# TLS server.
P=$(free_port)
policy "$T/tfo2.conf" <<EOC
rules = ( { name = "tfo-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 \
	>"$T/tfo2-srv" 2>&1
tfo=$!
wait_for "$T/tfo2-srv" '^listening' 15
out=$(TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/tfo2.log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/tfo2.conf" "$PY" "$PYD/tfo_client.py" "$P" fallback 2>&1)
wait_exit "$tfo" 10
if [ "$out" = "errno 95
fallback echo ok" ] && grep -q 'rule "tfo-out": connected TLSv1' "$T/tfo2.log"; then
	pass "MSG_FASTOPEN refused, then connect() on the same socket (unbound, wget2): TLS, echoed"
else
	fail "MSG_FASTOPEN refused, then connect()" "$out / $(cat "$T/tfo2-srv" "$T/tfo2.log")"
fi
