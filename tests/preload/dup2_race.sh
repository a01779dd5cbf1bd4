#!/bin/sh
# Another thread's dup2() onto a number between the library's look at its
# socket and its connect() with the multicast host (shim/connect.c:
# again(), pumped_connect, shim_pumped_fastopen; nowhere_len reads
# IP_OPTIONS, then connects).  Where the kernel would connect a socket
# whose session stays (a TLS number whose handshake started, a pumped
# one) the library asks it with the program's address, the host swapped
# for 224.0.0.1, which TCP connects to nothing; a source-routed AF_INET
# socket gets the family and port alone (tcp_v4_connect routes it by the
# route's first hop, past the multicast host).  The look and the connect
# were two calls on the program's number: a fresh socket put there in
# between got the call meant for the old one.  With a source route
# (IP_OPTIONS, LSRR) the look had said "none" and the fresh socket was
# connected, SYN_SENT, a SYN to the hop (EINPROGRESS to the program),
# with no rule applied to that connect; without one, the kernel's
# ENETUNREACH on the fresh, CLOSE socket was judged a dead end, and a
# call on a connected session was refused (ECONNABORTED) where its answer
# was EISCONN (found by h208).  Now the look, the connect and the
# judgement of its answer are made on a copy of the number held for the
# call (shim_own_hold): one socket, whatever another thread puts at the
# number meanwhile; the call is answered as if it came before the dup2.
# tests/preload/py/dup2_race.py connects to a TLS echo server, echoes a
# line, then makes one more call to a plain rule's port with
# preload_dup2race.so putting the fresh socket at the number just after
# the library's IP_OPTIONS look; each case wants the kernel's EISCONN
# (the session's socket is connected) and the fresh socket now at the
# number still CLOSE (no SYN left it):
#   * dup2_race_again_srr, _again_plain: connect() on the TLS number
#     (again());
#   * dup2_race_pumped_srr, _pumped_plain: a fork, the child's connect()
#     on the pumped number (pumped_connect);
#   * dup2_race_fastopen_srr, _fastopen_plain: a fork, the child's
#     sendto(MSG_FASTOPEN) (shim_pumped_fastopen).
# The same look's window on the socket itself: another holder that sets
# a source route (setsockopt(IP_OPTIONS), LSRR) just after the look, on
# an end disconnected just after the state's look (both are needed on a
# pumped number: a CLOSE end is refused before), got the multicast host
# routed by the hop: SYN_SENT, EINPROGRESS, and through Fast Open the
# program's bytes in that SYN where a cookie or no-cookie mode allows.
# The copy cannot help (one socket); now a call the kernel connected all
# the same (EINPROGRESS, or the multicast host as peer) is aborted at once
# (connect(AF_UNSPEC)) and refused, and Fast Open asks with connect()
# (no data), its bytes sent after, without Fast Open, on an end found
# connected (nowhere_went, pumped_probe; h208):
#   * dup2_race_pumped_opt, _fastopen_opt: refused (ECONNRESET, the
#     abort's), the end CLOSE, the warning.
# And the connection table's word (shim_connect): a session was taken
# out of the number whatever its word named by then (a failed connect,
# EISCONN included; a socket matched afresh) and a new one put in over
# whatever was there, so a TLS connection another thread dup2()ed onto
# the number while its connect() ran lost its session, and the next
# write on it went out in clear (h208).  Now only a word the call found
# is changed (unplace, place); else the call is routed again.  A fresh
# socket's connect() to the TLS port, the TLS connection dup2()ed onto
# its number inside it; each wants EISCONN and a line echoed through
# the number (the session kept), the wire audit no stray bytes:
#   * dup2_race_session: just before the kernel's connect (the new
#     session placed);
#   * dup2_race_afresh: the socket's connect to a tls rule's port where
#     nothing listens refused first (before its handshake: matched
#     afresh), the dup2 just after again()'s look (getpeername);
#   * dup2_race_bound: to 0.0.0.0, the dup2 just after shim_dest_bound's
#     getsockname (before the new session is placed).
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim

# race_case MODE: the TLS echo server, the policy, the client.
race_case() {
	_n=dup2_race_$1
	P=$(free_port)
	Q=$(free_port)
	while [ "$Q" = "$P" ]; do Q=$(free_port); done
	R=$(free_port)
	while [ "$R" = "$P" ] || [ "$R" = "$Q" ]; do R=$(free_port); done
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "up"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; },
          { name = "clear"; direction = "connect"; port = $Q; action = "plain"; },
          { name = "none"; direction = "connect"; port = $R; ca = "$CERTS/ca.crt";
            server_name = "localhost"; } );
EOC
	start_peer "$_n.peer" server --port "$P" --cert "$CERTS/server.crt" \
		--key "$CERTS/server.key" --mode echo --count 1 --timeout $((15 * TS))
	_peer=$PEER
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout $((30 * TS)) \
		env LD_PRELOAD="$SHIM_PRELOAD${2:+ $2} $PROGS/preload_dup2race.so" \
		TLSSHIM_CONFIG="$POLICY" \
		"$PY" "$PYD/dup2_race.py" "$P" "$Q" "$R" "$1" >"$T/$_n.out" 2>&1
	_rc=$?
	stop "$_peer"
	case $1 in session|afresh|bound) _whole=1 ;; *) _whole="" ;; esac
	if [ -n "$_whole" ]; then
		if [ $_rc -eq 0 ] && grep -q '^call EISCONN$' "$T/$_n.out" &&
		   grep -q '^echo after$' "$T/$_n.out"; then
			pass "$_n: a TLS connection dup2()ed onto a number while its connect() ran:\
 EISCONN, and the number is still that connection's session (a line echoed through it)"
		else
			fail "$_n: a TLS connection dup2()ed onto a number while its connect() ran" \
				"exit $_rc; $(show "$T/$_n.out" "$T/$_n.log")"
		fi
	elif [ -n "$2" ]; then
		if [ $_rc -eq 0 ] && grep -Eq '^call (ECONNRESET|ECONNABORTED)$' "$T/$_n.out" &&
		   grep -q '^state 7$' "$T/$_n.out" &&
		   grep -q 'connected all the same .*; aborted' "$T/$_n.log"; then
			pass "$_n: a source route set on a disconnected end between the look and the\
 call: the connection aborted at once, the call refused"
		else
			fail "$_n: a source route set between the look and the call is aborted" \
				"exit $_rc; $(show "$T/$_n.out" "$T/$_n.log")"
		fi
	elif [ $_rc -eq 0 ] && grep -q '^call EISCONN$' "$T/$_n.out" &&
	   grep -q '^state 7$' "$T/$_n.out"; then
		pass "$_n: a fresh socket dup2()ed onto the number between the look and the connect:\
 the call is the session's (EISCONN), the fresh socket never connects"
	else
		fail "$_n: a dup2() onto the number between the look and the connect" \
			"exit $_rc; $(show "$T/$_n.out" "$T/$_n.log")"
	fi
}

for _m in again_srr again_plain pumped_srr pumped_plain fastopen_srr fastopen_plain; do
	race_case "$_m"
done

# The end itself given a source route just after the look, disconnected
# just after the state's look (preload_unspecrace.so).
for _m in pumped_opt fastopen_opt; do
	race_case "$_m" "$PROGS/preload_unspecrace.so"
done

# A fresh socket's connect() to a tls rule's port, the TLS connection
# dup2()ed onto its number inside the library's connect().
for _m in session afresh bound; do
	race_case "$_m"
done
