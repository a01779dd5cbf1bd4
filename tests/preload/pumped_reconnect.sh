#!/bin/sh
# connect() again on a number whose session went to a pump (shim/connect.c,
# pumped_connect).  The number's socket is the program's end of the pump's
# channel; once that end is neither connected nor connecting (its connect
# refused, shutdown() while it connected, connect(AF_UNSPEC)), the kernel
# connects it again wherever the program asks, and the library had passed
# such a connect() straight to the kernel ("connected: the kernel says
# EISCONN"): the session's policy was applied by no one, and the program's
# next write went out in clear to the port a rule makes TLS.  Found by
# h189; tests/preload/py/pumped_reconnect.py forks (the fork hands the
# session to a pump), and the child connects again:
#   * pumped_reconnect_refused: the fork while the handshake runs, the
#     server (plain, silent: the handshake times out) records what comes;
#     after its end's refusal the child connects three times (the kernel
#     says ECONNABORTED to the first and connected the second: before the
#     fix "secret plaintext" reached the server);
#   * pumped_reconnect_shutdown: the same, shutdown() while it connects,
#     then connect() (before: connected at once, in clear);
#   * pumped_reconnect_unspec: the handshake done (a TLS echo server
#     behind a recording relay), connect(AF_UNSPEC), then connect()
#     (before: the relay recorded the plaintext);
#   * pumped_reconnect_race: the same, but the disconnect comes from
#     "another holder" (preload_unspecrace.so) between the library's look
#     at the end's TCP state (connected) and its connect(): before h194 the
#     kernel, handed the program's address, connected the end again, and
#     the relay recorded the plaintext.  The library now hands the kernel
#     the address family alone: the kernel answers a connected or
#     connecting end as before (EISCONN, EALREADY, a blocking wait) and
#     cannot connect one that is neither (EINVAL, refused as above).
#   * pumped_reconnect_pending: connect() again while the end still
#     connects is the kernel's to answer, not refused: EALREADY
#     non-blocking, a blocking call waits for the handshake's end (here
#     its refusal, ECONNREFUSED); then refused as above;
#   * pumped_reconnect_connected: connect() again on a connected end:
#     EISCONN, and the session goes on (a line echoed through it).
# Now every such connect() fails (the end's error, else ECONNABORTED),
# the server gets no "secret", and a warning says why.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim

# silent_case MODE: the plain recording server, the policy, the client.
silent_case() {
	_n=pumped_reconnect_$1
	P=$(free_port)
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "up"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; server_name = "localhost";
            handshake_timeout_ms = $((1000 * TS)); } );
EOC
	start_peer "$_n.peer" server --plain --port "$P" --mode record --count 2 --record "$T/$_n.rec" \
		--timeout $((15 * TS))
	_peer=$PEER
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" "$PY" "$PYD/pumped_reconnect.py" "$P" "$1" >"$T/$_n.out" 2>&1
	_rc=$?
	# (it waits for a second connection, which only a connect in clear
	# makes: 3 s for it to take that in, then it is stopped)
	wait_exit "$_peer" 3
	judge "$_n" "$T/$_n.rec"
}

# judge NAME RECORD: no connect worked, nothing in clear, the warning.
judge() {
	if [ $_rc -eq 0 ] && ! grep -q 'secret' "$2" 2>/dev/null && ! grep -q '^child: reconnected' "$T/$1.out" &&
	   [ "$(grep -c '^child: connect [0-9]' "$T/$1.out")" -eq 3 ] &&
	   grep -q 'connect() again on a socket handed to a pump' "$T/$1.log"; then
		pass "$1: connect() again on a pumped number whose end is gone is refused (3 of 3), nothing in clear"
	else
		fail "$1: connect() again on a pumped number is refused" \
			"exit $_rc; $(grep -c secret "$2" 2>/dev/null) plaintext lines at the server; $(show "$T/$1.out" "$T/$1.log")"
	fi
}

silent_case refused
silent_case shutdown
silent_case pending
_n=pumped_reconnect_pending
if grep -q '^child: again EALREADY$' "$T/$_n.out" &&
   grep -q '^child: wait ECONNREFUSED$' "$T/$_n.out"; then
	pass "$_n: connect() again while the end connects: EALREADY; blocking: a wait"
else
	fail "$_n: connect() again while the end connects is the kernel's to answer" \
		"$(show "$T/$_n.out")"
fi

# done_case MODE [PRELOAD]: the handshake done, behind a recording relay;
# judged by $_judge (judge).
done_case() {
	_n=pumped_reconnect_$1
	P=$(free_port)
	Q=$(free_port)
	while [ "$Q" = "$P" ]; do Q=$(free_port); done
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "up"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOC
	start_peer "$_n.peer" server --port "$Q" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
		--mode echo --count 2 --timeout $((15 * TS))
	_peer=$PEER
	start_peer "$_n.relay" relay --port "$P" --to "$Q" --record "$T/$_n.wire"
	_relay=$PEER
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD${2:+ $2}" \
		TLSSHIM_CONFIG="$POLICY" "$PY" "$PYD/pumped_reconnect.py" "$P" "$1" >"$T/$_n.out" 2>&1
	_rc=$?
	stop "$_relay"
	stop "$_peer"
	${_judge:-judge} "$_n" "$T/$_n.wire.c2s"
}

done_case unspec
done_case race "$PROGS/preload_unspecrace.so"

# judge_connected NAME: no refusal, the session goes on.
judge_connected() {
	if [ $_rc -eq 0 ] && grep -q '^child: again EISCONN$' "$T/$1.out" &&
	   grep -q '^child: echo after$' "$T/$1.out" &&
	   ! grep -q 'connect() again on a socket handed to a pump' "$T/$1.log"; then
		pass "$1: connect() again on a connected end: EISCONN, the session goes on"
	else
		fail "$1: connect() again on a connected end is the kernel's to answer" \
			"exit $_rc; $(show "$T/$1.out" "$T/$1.log")"
	fi
}
_judge=judge_connected done_case connected
