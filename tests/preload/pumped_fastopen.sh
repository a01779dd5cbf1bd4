#!/bin/sh
# TCP Fast Open (sendto, sendmsg or sendmmsg with MSG_FASTOPEN) on a number
# whose session went to a pump (shim/connect.c, shim_pumped_fastopen).
# Fast Open connects in the call that sends, as connect() does; once the
# number's end of the pump's channel is neither connected nor connecting
# (its connect refused), the kernel connects it again wherever the call
# asks.  pumped_connect refused connect() there (h189), but Fast Open was
# judged by the destination's rule alone: refused to a TLS port
# (EOPNOTSUPP), passed to a plain one, where the kernel connected the
# number anew and the child's "secret plaintext" went out, while the
# number still stood for the pumped session (getpeername named the TLS
# server; found by h195).  Now it is what connect() is on the number:
# refused (the end's error, else ECONNABORTED) with the warning, whatever
# the destination; the kernel's answer otherwise, asked with a multicast
# host (EISCONN on a connected end).  tests/preload/py/pumped_fastopen.py
# forks while the handshake runs (the server, plain and silent, never
# answers: handshake_timeout_ms ends it), and the child, after its end's
# refusal, asks three times for the plain port (the kernel says
# ECONNABORTED to the first and connected the second) and once for the
# TLS one:
#   * pumped_fastopen_sendto, _sendmsg, _sendmmsg: one call each way; the
#     plain port's recording server must get no connection's bytes;
#   * pumped_fastopen_tfoconnect: TCP_FASTOPEN_CONNECT, then connect()
#     and write(): connect() is refused there (pumped_connect, h189), to
#     the TLS port too (ECONNABORTED, not EOPNOTSUPP); pinned;
#   * pumped_fastopen_connected: the handshake done, Fast Open to the
#     plain port on the connected end: the kernel's EISCONN, and the
#     session goes on (a line echoed through it);
#   * pumped_fastopen_race: the handshake done, and "another holder"
#     (preload_unspecrace.so) disconnects the end between the library's
#     look at its state (connected) and the call: the kernel, given the
#     multicast host, connects nothing, and both calls are refused; the
#     plain port gets no byte;
#   * pumped_fastopen_race_long: the same race through sendmsg() with a
#     msg_namelen of 200: the kernel's sendmsg takes the first 128 bytes
#     of a longer name, and the library, which let a name longer than a
#     sockaddr_storage through unchanged (the kernel's EINVAL for
#     connect and sendto), gave the kernel the program's address: the
#     end was connected to the plain port and the plaintext went there
#     (h200); now the name is taken as the kernel takes it;
#   * pumped_fastopen_race_srr: the same race, sendto(), non-blocking, on
#     a socket with a loose source route (IP_OPTIONS, LSRR via 127.0.0.1):
#     tcp_v4_connect routes by the route's first hop, past the multicast
#     host: the end went SYN_SENT, a SYN to the hop (h200; with a Fast
#     Open cookie or no-cookie mode, the plaintext in it); now the call
#     names the family and port alone (EINVAL before any route): refused,
#     never SYN_SENT.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim

# fastopen_case MODE [CALL [TLS-PORT-ERROR]]: the silent TLS-port server,
# the plain port's recording server, the policy, the client; CALL: the
# warning's name of the call (MODE(MSG_FASTOPEN)).
fastopen_case() {
	_n=pumped_fastopen_$1
	P=$(free_port)
	Q=$(free_port)
	while [ "$Q" = "$P" ]; do Q=$(free_port); done
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "up"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; handshake_timeout_ms = $((1000 * TS)); },
          { name = "clear"; direction = "connect"; port = $Q; action = "plain"; } );
EOC
	start_peer "$_n.peer" server --plain --port "$P" --mode record --count 2 \
		--record "$T/$_n.rec" --timeout $((15 * TS))
	_peer=$PEER
	start_peer "$_n.plain" server --plain --port "$Q" --mode record --count 1 \
		--record "$T/$_n.plain" --timeout $((15 * TS))
	_plain=$PEER
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" "$PY" "$PYD/pumped_fastopen.py" "$P" "$Q" "$1" \
		>"$T/$_n.out" 2>&1
	_rc=$?
	# (a connection to either comes only from a Fast Open that worked:
	# 3 s for it to take that in, then each is stopped)
	wait_exit "$_plain" 3
	stop "$_peer"
	stop "$_plain"
	if [ $_rc -eq 0 ] &&
	   ! grep -q 'secret' "$T/$_n.rec" "$T/$_n.plain" 2>/dev/null &&
	   ! grep -q '^child: sent' "$T/$_n.out" &&
	   [ "$(grep -c '^child: fastopen [0-9]' "$T/$_n.out")" -eq 4 ] &&
	   grep -Eq "^child: fastopen 3 (${3:-EOPNOTSUPP|ENOTSUP})\$" "$T/$_n.out" &&
	   grep -q "${2:-$1(MSG_FASTOPEN)} again on a socket handed to a pump" "$T/$_n.log"; then
		pass "$_n: $1 (Fast Open) on a pumped number whose end is refused is refused\
 (4 of 4), nothing in clear"
	else
		fail "$_n: MSG_FASTOPEN on a pumped number whose end is refused is refused" \
			"exit $_rc; $(grep -c secret "$T/$_n.plain" 2>/dev/null) plaintext lines at\
 the plain port; $(show "$T/$_n.out" "$T/$_n.log")"
	fi
}

fastopen_case sendto
fastopen_case sendmsg
fastopen_case sendmmsg
fastopen_case tfoconnect "connect()" ECONNABORTED

# done_case MODE [PRELOAD]: the handshake done (a TLS echo server), the
# plain port's recording server, the policy, the client.
done_case() {
	_n=pumped_fastopen_$1
	P=$(free_port)
	Q=$(free_port)
	while [ "$Q" = "$P" ]; do Q=$(free_port); done
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "up"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; },
          { name = "clear"; direction = "connect"; port = $Q; action = "plain"; } );
EOC
	start_peer "$_n.peer" server --port "$P" --cert "$CERTS/server.crt" \
		--key "$CERTS/server.key" --mode echo --count 2 --timeout $((15 * TS))
	_peer=$PEER
	start_peer "$_n.plain" server --plain --port "$Q" --mode record --count 1 \
		--record "$T/$_n.plain" --timeout $((15 * TS))
	_plain=$PEER
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout $((30 * TS)) \
		env LD_PRELOAD="$SHIM_PRELOAD${2:+ $2}" TLSSHIM_CONFIG="$POLICY" \
		"$PY" "$PYD/pumped_fastopen.py" "$P" "$Q" "$1" >"$T/$_n.out" 2>&1
	_rc=$?
	wait_exit "$_plain" 3
	stop "$_plain"
	stop "$_peer"
}

# The connected end: the kernel's answer, the session goes on.
done_case connected
if [ $_rc -eq 0 ] && grep -q '^child: again EISCONN$' "$T/$_n.out" &&
   grep -q '^child: echo after$' "$T/$_n.out" && ! grep -q 'secret' "$T/$_n.plain" 2>/dev/null &&
   ! grep -q 'again on a socket handed to a pump' "$T/$_n.log"; then
	pass "$_n: MSG_FASTOPEN on a connected end: EISCONN, the session goes on"
else
	fail "$_n: MSG_FASTOPEN on a connected end is the kernel's to answer" \
		"exit $_rc; $(show "$T/$_n.out" "$T/$_n.log")"
fi

# race_case MODE CALL PASS FAIL: another holder disconnects the end just
# after the look (preload_unspecrace.so); CALL(MSG_FASTOPEN) must be
# refused both times, with the warning naming CALL, no byte sent, no SYN.
race_case() {
	done_case "$1" "$PROGS/preload_unspecrace.so"
	if [ $_rc -eq 0 ] && ! grep -q 'secret' "$T/$_n.plain" 2>/dev/null &&
	   ! grep -q '^child: sent' "$T/$_n.out" && ! grep -q '^child: syn' "$T/$_n.out" &&
	   [ "$(grep -c '^child: fastopen [0-9]' "$T/$_n.out")" -eq 2 ] &&
	   grep -q "$2(MSG_FASTOPEN) again on a socket handed to a pump" "$T/$_n.log"; then
		pass "$_n: $3"
	else
		fail "$_n: $4" "exit $_rc; $(show "$T/$_n.out" "$T/$_n.log")"
	fi
}

# The race: another holder disconnects the end just after the look.
race_case race sendto "an end disconnected between the look and the call: refused (2 of 2),\
 nothing in clear" "an end disconnected between the look and the call is refused"
# The same race, sendmsg() with a name longer than a sockaddr_storage.
race_case race_long sendmsg "sendmsg(MSG_FASTOPEN), msg_namelen 200, on an end disconnected\
 between the look and the call: refused (2 of 2), nothing in clear" \
	"a long msg_namelen on an end disconnected in the race is refused"
# The same race on a source-routed socket (IP_OPTIONS, LSRR).
race_case race_srr sendto "a source-routed end disconnected between the look and the call:\
 refused (2 of 2), never SYN_SENT" \
	"a source-routed end disconnected in the race is refused, never SYN_SENT"
