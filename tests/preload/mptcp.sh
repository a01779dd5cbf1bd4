#!/bin/sh
# MPTCP (protocol 262: mptcpize, or a program that asks for it) whose first
# subflow is reset while a second subflow carries the connection on (an
# endpoint on a second address; `ss -K` plays the adversary on the path).
# TCP_INFO on an MPTCP socket describes the first subflow only: TCP_CLOSE
# and zero counters once it is gone.
#  - connect() again, twice, on a non-blocking TLS client before its first
#    I/O (the idiom that asks how the connect went until EISCONN): the
#    session stays, and what the program sends next is TLS.  It was taken
#    for a failed connect (TCP_CLOSE) each time: a new session, then
#    EISCONN dropped it, and the line left in clear.
#  - an accepted MPTCP connection that carried plaintext (a byte read, the
#    peer closed since: its DATA_FIN counts as a byte unread in SIOCINQ),
#    then passed to a program under the shim: refused (the connection's
#    own counters, MPTCP_INFO), not adopted as a fresh TLS server
#    connection.
#  - an MPTCP client connection that fell back to TCP (the server speaks
#    plain TCP), inherited: unused, adopted as a fresh TLS client
#    connection (IPv4 and IPv6; both were refused); one byte read before
#    the server's FIN: refused (it was adopted).
#  - a TLS echo over MPTCP (server and client under the shim) whose
#    first subflow is reset midway: the rest goes over the second; the
#    wire audit places both subflows' bytes in the one data stream (DSS
#    mappings, MP_JOIN tokens) and counts one TLS connection.
# The MPTCP listener withheld from an exec or an SCM_RIGHTS to a program
# without the library: failclosed_tables.sh.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim

A=10.9.7.1
# A kernel without MPTCP: nothing to test (the cases below need it); a
# kernel with it where the namespace cannot be set up is a failure.
if [ "$(cat /proc/sys/net/mptcp/enabled 2>/dev/null)" != 1 ]; then
	pass "mptcp: not testable here (this kernel has no MPTCP, or it is disabled)"
	exit 0
fi
if ! ip addr add $A/32 dev lo || ! ip addr add 10.9.7.2/32 dev lo ||
   ! ip mptcp limits set subflows 2 add_addr_accepted 2 ||
   ! ip mptcp endpoint add 10.9.7.2 dev lo subflow || ! command -v ss >/dev/null; then
	fail mptcp_setup "cannot add the addresses and the MPTCP endpoint in the test's namespace (ip, ss)"
	exit 1
fi

# ---- a TLS client connects again after its first subflow was reset ----------
P=$(free_port)
policy "$T/client.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; address = "$A/32"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
# The peer is a plaintext server that speaks first (the client opens its
# second subflow only once fully established): its "hi" is plain.
audit_exclude "$P" "mptcp.sh: a plaintext MPTCP server that greets first"
name=mptcp_connect_again_after_first_subflow_reset_stays_tls
mkdir "$T/again"
bg "$PY" "$PYD/mptcp_subflow.py" server $A "$P" "$T/again" >"$T/$name.srv" 2>&1
srv=$!
wait_for "$T/$name.srv" '^ready' 10
TLSSHIM_LOG_FILE="$T/$name.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/client.conf" "$PY" "$PYD/mptcp_subflow.py" client $A "$P" "$T/again" >"$T/$name.out" 2>&1
wait_exit "$srv" $((10 * TS)) >/dev/null
if [ "$(lines "$T/$name.out" '^again: (ok|EISCONN)$')" -eq 2 ] && grep -q '^again: EISCONN$' "$T/$name.out" && grep -q '^got tls$' "$T/$name.srv"; then
	pass "$name"
else
	fail "$name" "client: $(tr '\n' '|' <"$T/$name.out") server: $(tr '\n' '|' <"$T/$name.srv") $(show "$T/$name.log")"
fi

# ---- an accepted connection that carried plaintext, then inherited ---------
P=$(free_port)
policy "$T/server.conf" <<EOC
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
audit_exclude "$P" "mptcp.sh: plaintext before the socket reaches the shim, which must refuse it"
name=mptcp_used_connection_first_subflow_reset_refused
timeout -k 2 $((20 * TS)) env MPTCP_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/server.conf" \
	"$PY" "$PYD/mptcp_subflow.py" used $A "$P" "$T/$name.log" >"$T/$name.out" 2>&1
if grep -q '^child: Connection reset by peer$' "$T/$name.out" &&
   [ "$(lines "$T/$name.log" 'already carried bytes outside this library \(0 sent, 1 read\)')" -eq 1 ]; then
	pass "$name"
else
	fail "$name" "got: $(tr '\n' '|' <"$T/$name.out") $(show "$T/$name.log")"
fi

# ---- an MPTCP client connection that fell back to TCP, inherited -------------
# The server speaks plain TCP (mptcpize against an ordinary server).  SOL_MPTCP
# on it reaches the subflow's IP layer: ENOPROTOOPT on IPv6 was taken for a
# kernel that cannot tell; SIOCOUTQ says 1 before any data: unused ones
# were refused.  SIOCINQ counts the FIN as a byte: one byte read hid.
fallback_case() { # NAME ADDR CIDR EXPECT [read1]
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; address = "$3"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	[ -z "$5" ] || audit_exclude "$P" "mptcp.sh: plaintext before the socket reaches the shim, which must refuse it"
	timeout -k 2 $((20 * TS)) env MPTCP_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/$1.conf" \
		"$PY" "$PYD/mptcp_subflow.py" fallback "$2" "$P" "$T/$1.log" $5 >"$T/$1.out" 2>&1
	if grep -q '^child: done$' "$T/$1.out" && [ "$(lines "$T/$1.log" "$4")" -eq 1 ]; then
		pass "$1"
	else
		fail "$1" "got: $(tr '\n' '|' <"$T/$1.out") $(show "$T/$1.log")"
	fi
}
fallback_case mptcp_fallback_ipv4_unused_adopted 127.0.0.1 127.0.0.1/32 'inherited fd 3 becomes a TLS client connection'
fallback_case mptcp_fallback_ipv6_unused_adopted ::1 ::1/128 'inherited fd 3 becomes a TLS client connection'
fallback_case mptcp_fallback_one_byte_read_before_fin_refused 127.0.0.1 127.0.0.1/32 \
	'already carried bytes outside this library \(0 sent, 1 read\)' read1

# ---- a TLS echo whose first subflow is reset midway ---------------------------
P=$(free_port)
policy "$T/echo.conf" <<EOC
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
          { name = "out"; direction = "connect"; address = "$A/32"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; } );
EOC
name=mptcp_tls_echo_over_two_subflows
mkdir "$T/echo"
TLSSHIM_LOG_FILE="$T/$name.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/echo.conf" "$PY" "$PYD/mptcp_subflow.py" echo $A "$P" "$T/echo" >"$T/$name.out" 2>&1 &
pid=$!
if wait_for "$T/$name.out" '^reset ' 10; then
	set -- $(sed -n 's/^reset //p' "$T/$name.out")
	ss -K -tn src "$1" dst "$2" >/dev/null
	: >"$T/echo/killed"
fi
wait "$pid"
if grep -q '^echo ok$' "$T/$name.out"; then
	pass "$name (the wire audit checks its bytes on both subflows)"
else
	fail "$name" "got: $(tr '\n' '|' <"$T/$name.out") $(show "$T/$name.log")"
fi
