#!/bin/sh
# tests/preload/passthrough.sh — what the shim must leave alone or refuse
# outright: action "deny" (connect and accept), action "plain", sockets
# that match no rule (other port, other address), first match wins, UDP
# sockets and AF_UNIX sockets under catch-all rules; a pass-through
# connection leaves the thread's cancellation state alone.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim passthrough_setup

MARK=SECRET-PLAINTEXT-1234
printf 'plain text, as without the shim\n' >"$T/small.in"

# plain_echo NAME [ARGS]: an unshimmed echo_server; pid in SRV.
plain_echo() {
	_pe_name=$1; shift
	bg "$PROGS/echo_server" "$@" >"$T/$_pe_name.out" 2>"$T/$_pe_name.err"
	SRV=$!
	wait_for "$T/$_pe_name.out" '^listening' 10
}

# plain_round NAME SIDE PORT: under the policy written for PORT, an echo of
# small.in through a plain connection: SIDE "accept", echo_server -1 under
# the shim and an unshimmed client; "connect", an unshimmed echo_server -1
# and the client under the shim.  A pass when both exit 0 and the echo is
# exact.
plain_round() {
	name=$1
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if [ "$2" = accept ]; then start_echo "$name" -1 "$3"; else plain_echo "$name" -1 "$3"; fi ||
		{ fail "$name" "echo_server never listened$(show "$T/$name.err")"; return; }
	if [ "$2" = accept ]; then
		timeout $((10 * TS)) "$PROGS/client" 127.0.0.1 "$3" <"$T/small.in" >"$T/$name.got" 2>"$T/$name.cerr"
	else
		shimmed "$PROGS/client" localhost "$3" <"$T/small.in" >"$T/$name.got" 2>"$T/$name.cerr"
	fi
	rc=$?
	wait_exit "$SRV" 10; src=$?
	if [ "$rc" -eq 0 ] && [ "$src" -eq 0 ] && cmp -s "$T/small.in" "$T/$name.got"; then
		pass "$name"
	else
		fail "$name" "$2 side plain: client exit $rc, server exit $src$(show "$T/$name.cerr" "$T/$name.err" "$T/$name.log")"
	fi
}

# --- deny, connect side: ECONNREFUSED and no TCP connection at all --------
# The server accepts exactly one connection.  After the denied client, an
# unshimmed sentinel connects: if the denied connect() had reached the
# server, it would be first in the listen queue and the sentinel unseen.
name=deny_connect_refused_without_tcp_connection
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "no-way-out"; direction = "connect"; port = $P; action = "deny"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_peer "$name.srv" server --plain --port "$P" --record "$T/$name.rec" --status "$T/$name.st"; then
	printf '%s\n' "$MARK" | shimmed "$PROGS/client" localhost "$P" >"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	peer raw --port "$P" --send "sentinel" >/dev/null 2>&1
	wait_exit "$PEER" 10
	if [ "$rc" -ne 2 ] || [ "$(cat "$T/$name.err")" != "client: connect: Connection refused" ]; then
		fail "$name" "expected exit 2 'client: connect: Connection refused', got $rc$(show "$T/$name.err")"
	elif ! has_no "$T/$name.rec" "$MARK"; then
		fail "$name" "the denied program's data reached the server"
	elif ! grep -q sentinel "$T/$name.rec" 2>/dev/null; then
		fail "$name" "the server's first connection was not the sentinel: the denied connect reached it$(show "$T/$name.st")"
	else
		pass "$name"
	fi
else
	fail "$name" "server did not start"
fi

# --- deny, accept side: the connection is closed, nothing echoed ---------
name=deny_accept_closes_connection
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "no-way-in"; direction = "accept"; port = $P; action = "deny"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" "$P"; then
	peer raw --port "$P" --send "$MARK" --record "$T/$name.back" --timeout $((10 * TS)) >"$T/$name.cli" 2>&1
	if ! grep -q -E '^(eof|reset)$' "$T/$name.cli"; then
		fail "$name" "the connection was not closed$(show "$T/$name.cli")"
	elif [ -s "$T/$name.back" ]; then
		fail "$name" "the denied client received data$(show "$T/$name.back")"
	elif ! alive "$SRV"; then
		fail "$name" "the program died$(show "$T/$name.err" "$T/$name.log")"
	else
		pass "$name"
	fi
	stop "$SRV"
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi

# --- action "plain": explicitly unencrypted, both directions --------------
P=$(free_port)
policy "$T/plain_action_accept.conf" <<EOF
rules = ( { name = "clear-in"; direction = "accept"; port = $P; action = "plain"; } );
EOF
plain_round plain_action_accept accept "$P"

P=$(free_port)
policy "$T/plain_action_connect.conf" <<EOF
rules = ( { name = "clear-out"; direction = "connect"; port = $P; action = "plain"; } );
EOF
plain_round plain_action_connect connect "$P"

# --- no rule matches: another port, another address -----------------------
# other_policy FILE PORT: TLS rules, both directions, on PORT only.
other_policy() {
	policy "$1" <<EOF
rules = (
  { name = "tls-in"; direction = "accept"; port = $2;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "tls-out"; direction = "connect"; port = $2; ca = "$CERTS/ca.crt"; }
);
EOF
}

for side in accept connect; do
	P=$(free_port) Q=$(free_port)
	other_policy "$T/unmatched_port_${side}_is_plain.conf" "$Q"
	plain_round "unmatched_port_${side}_is_plain" "$side" "$P"
done

# address = CIDR: 10.0.0.0/8 does not match 127.0.0.1 (plain); 127.0.0.0/8
# does (TLS required, so the plain server is refused).
for c in 10.0.0.0/8:plain 127.0.0.0/8:tls ::1/128:plain; do
	cidr=${c%:*} want=${c##*:}
	name=connect_address_$(echo "$cidr" | tr ':./' '__-')_is_$want
	P=$(free_port)
	policy "$T/$name.conf" <<EOF
rules = ( { name = "by-address"; direction = "connect"; port = $P; address = "$cidr";
            ca = "$CERTS/ca.crt"; } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! plain_echo "$name" -1 "$P"; then fail "$name" "echo_server never listened"; continue; fi
	shimmed "$PROGS/client" 127.0.0.1 "$P" <"$T/small.in" >"$T/$name.got" 2>"$T/$name.cerr"
	rc=$?
	stop "$SRV"
	if [ "$want" = plain ]; then
		if [ "$rc" -eq 0 ] && cmp -s "$T/small.in" "$T/$name.got"; then pass "$name"
		else fail "$name" "expected plain traffic, client exit $rc$(show "$T/$name.cerr" "$T/$name.log")"; fi
	else
		if [ "$rc" -eq 2 ] && [ ! -s "$T/$name.got" ]; then pass "$name"
		else fail "$name" "expected TLS (refused by the plain server), client exit $rc$(show "$T/$name.cerr" "$T/$name.got")"; fi
	fi
done

# address on an accept rule is the local address: a rule for 127.0.0.0/8
# takes echo_server on 127.0.0.1 (a plain client gets no echo) but not
# echo_server -6 on ::1 (plain echo).
for c in 4:tls 6:plain; do
	fam=${c%:*} want=${c#*:}
	name=accept_address_127_0_0_0-8_ipv${fam}_is_$want
	P=$(free_port)
	policy "$T/$name.conf" <<EOF
rules = ( { name = "local-v4"; direction = "accept"; port = $P; address = "127.0.0.0/8";
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if [ "$fam" = 6 ]; then flag=-6 host=::1; else flag="" host=127.0.0.1; fi
	[ "$want" = tls ] && audit_exclude "$P" "$name: a plain client talks to the TLS server on purpose (it must get no echo)"
	# shellcheck disable=SC2086
	if ! start_echo "$name" -1 $flag "$P"; then fail "$name" "echo_server never listened$(show "$T/$name.err")"; continue; fi
	# shellcheck disable=SC2086
	timeout $((10 * TS)) "$PROGS/client" $flag "$host" "$P" <"$T/small.in" >"$T/$name.got" 2>"$T/$name.cerr"
	rc=$?
	wait_exit "$SRV" 10
	if [ "$want" = plain ]; then
		if [ "$rc" -eq 0 ] && cmp -s "$T/small.in" "$T/$name.got"; then pass "$name"
		else fail "$name" "expected plain traffic, client exit $rc$(show "$T/$name.cerr" "$T/$name.err" "$T/$name.log")"; fi
	else
		if ! has_no "$T/$name.got" "plain text"; then fail "$name" "the plain client got its echo: no TLS on 127.0.0.1"
		else pass "$name"; fi
	fi
done

# First match wins: a "plain" rule before a "tls" rule for the same port.
name=first_matching_rule_wins
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = (
  { name = "first"; direction = "connect"; port = $P; action = "plain"; },
  { name = "second"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; }
);
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
if plain_echo "$name" -1 "$P"; then
	shimmed "$PROGS/client" localhost "$P" <"$T/small.in" >"$T/$name.got" 2>"$T/$name.cerr"
	rc=$?
	stop "$SRV"
	if [ "$rc" -eq 0 ] && cmp -s "$T/small.in" "$T/$name.got"; then pass "$name"
	else fail "$name" "client exit $rc$(show "$T/$name.cerr" "$T/$name.log")"; fi
else
	fail "$name" "echo_server never listened"
fi

# --- a pass-through connection leaves the cancellation state alone ---------
# Rules like the bench's pass-through policy (TLS, on ports nothing here
# uses): 40 connections of a program to itself (connect, accept, 32 bytes
# each way, both ends closed) change no thread's cancellation state.  The
# table's mutation lock, held for an exchange and a store (no cancellation
# point; a pass-through socket's changes now take no lock at all), used
# to save and restore it as the engine's locks must: 8
# pthread_setcancelstate() calls per connection.
name=passthrough_connection_keeps_cancel_state
P1=$(free_port); P2=$(free_port)
policy "$T/$name.conf" <<EOF
rules = (
  { name = "other-in"; direction = "accept"; port = $P1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "other-out"; direction = "connect"; port = $P2; ca = "$CERTS/ca.crt"; }
);
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
shimmed "$PROGS/cancelcount" 40 >"$T/$name.out" 2>"$T/$name.err"
rc=$?
if [ "$rc" -ne 0 ]; then
	fail "$name" "cancelcount exit $rc$(show "$T/$name.err" "$T/$name.log")"
elif ! grep -q '^connections 40 setcancelstate 0$' "$T/$name.out"; then
	fail "$name" "the pass-through path changed the cancellation state: $(cat "$T/$name.out")"
else
	pass "$name"
fi

# --- catch-all TLS rules (no port, no address) leave UDP and AF_UNIX alone --
policy "$T/all.conf" <<EOF
rules = (
  { name = "all-in"; direction = "accept";
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "all-out"; direction = "connect"; ca = "$CERTS/ca.crt"; }
);
EOF
export TLSSHIM_LOG_FILE="$T/all.log"

# control: the catch-all connect rule does take TCP (a plain server refuses)
name=catch_all_rule_takes_tcp
P=$(free_port)
if plain_echo "$name" "$P"; then
	shimmed "$PROGS/client" 127.0.0.1 "$P" <"$T/small.in" >"$T/$name.got" 2>"$T/$name.cerr"
	rc=$?
	stop "$SRV"
	if [ "$rc" -eq 2 ]; then pass "$name"
	else fail "$name" "expected the TLS handshake to be refused (exit 2), got $rc$(show "$T/$name.cerr")"; fi
else
	fail "$name" "echo_server never listened"
fi

printf 'one datagram\n' >"$T/dgram.in"
name=udp_server_untouched
P=$(free_port)
if start_echo "$name" -d "$P"; then
	timeout $((10 * TS)) "$PROGS/client" -d 127.0.0.1 "$P" <"$T/dgram.in" >"$T/$name.got" 2>"$T/$name.cerr"
	rc=$?
	stop "$SRV"
	if [ "$rc" -eq 0 ] && cmp -s "$T/dgram.in" "$T/$name.got"; then pass "$name"
	else fail "$name" "client exit $rc$(show "$T/$name.cerr" "$T/$name.err" "$T/all.log")"; fi
else
	fail "$name" "echo_server -d never started$(show "$T/$name.err")"
fi

name=udp_client_untouched
P=$(free_port)
if plain_echo "$name" -d "$P"; then
	shimmed "$PROGS/client" -d 127.0.0.1 "$P" <"$T/dgram.in" >"$T/$name.got" 2>"$T/$name.cerr"
	rc=$?
	stop "$SRV"
	if [ "$rc" -eq 0 ] && cmp -s "$T/dgram.in" "$T/$name.got"; then pass "$name"
	else fail "$name" "client exit $rc$(show "$T/$name.cerr" "$T/all.log")"; fi
else
	fail "$name" "echo_server -d never started"
fi

name=unix_server_untouched
if start_echo "$name" -1 -U "$T/us.sock"; then
	timeout $((10 * TS)) "$PROGS/client" -U "$T/us.sock" <"$T/small.in" >"$T/$name.got" 2>"$T/$name.cerr"
	rc=$?
	wait_exit "$SRV" 10; src=$?
	if [ "$rc" -eq 0 ] && [ "$src" -eq 0 ] && cmp -s "$T/small.in" "$T/$name.got"; then pass "$name"
	else fail "$name" "client exit $rc, server exit $src$(show "$T/$name.cerr" "$T/$name.err" "$T/all.log")"; fi
else
	fail "$name" "echo_server -U never listened$(show "$T/$name.err")"
fi

name=unix_client_untouched
if plain_echo "$name" -1 -U "$T/uc.sock"; then
	shimmed "$PROGS/client" -U "$T/uc.sock" <"$T/small.in" >"$T/$name.got" 2>"$T/$name.cerr"
	rc=$?
	wait_exit "$SRV" 10; src=$?
	if [ "$rc" -eq 0 ] && [ "$src" -eq 0 ] && cmp -s "$T/small.in" "$T/$name.got"; then pass "$name"
	else fail "$name" "client exit $rc, server exit $src$(show "$T/$name.cerr" "$T/all.log")"; fi
else
	fail "$name" "echo_server -U never listened"
fi

# A UDP program's datagrams to and from addresses a rule names cost no
# system call of the library's per datagram: recvfrom()/sendto() check
# the peer against the rules (an SCTP one-to-many socket gets its peers
# that way), and asked the kernel the socket's type (getsockopt SO_TYPE)
# for every datagram.  Under a plain rule none is asked (a plain rule
# lets every kind of socket through); under a tls rule the socket is
# asked once, its number remembered as a datagram socket's (the library
# before asked twice per echoed datagram: 6).  A shimmed UDP echo_server
# under a catch-all connect rule echoes 3 datagrams; strace counts the
# getsockopt calls on its socket.
# dgram_getsockopt_case NAME WANT RULE-SETTINGS
dgram_getsockopt_case() {
	name=$1 want=$2
	command -v strace >/dev/null || { fail "$name" "strace not installed (strace)"; return; }
	P=$(free_port)
	policy "$T/$name.conf" <<EOC
rules = ( { name = "all"; direction = "connect"; $3 } );
EOC
	shimbg strace -f -qq -o "$T/$name.strace" -e trace=socket,getsockopt \
		"$PROGS/echo_server" -d "$P" >"$T/$name.out" 2>"$T/$name.err"
	ST=$!
	if ! wait_for "$T/$name.out" '^listening' 15; then
		fail "$name" "echo_server -d never started$(show "$T/$name.err")"
		stop "$ST"
		return
	fi
	why=""
	for i in 1 2 3; do
		timeout $((10 * TS)) "$PROGS/client" -d 127.0.0.1 "$P" <"$T/dgram.in" >"$T/$name.got" 2>"$T/$name.cerr"
		cmp -s "$T/dgram.in" "$T/$name.got" || why="$why; datagram $i not echoed$(show "$T/$name.cerr")"
	done
	# "PID  socket(AF_INET, SOCK_DGRAM, IPPROTO_IP) = 3": the server's.
	srv=$(sed -n 's/^\([0-9][0-9]*\) .*socket(AF_INET, SOCK_DGRAM.*) = \([0-9][0-9]*\)$/\1 \2/p' "$T/$name.strace" | head -n 1)
	case $srv in
	*" "[0-9]*)
		kill "${srv% *}" 2>/dev/null
		fd=${srv#* }
		wait_exit "$ST" 10; [ $? -ne 124 ] || why="$why; strace did not end with echo_server"
		n=$(grep -c -E "^[0-9]+ +getsockopt\($fd, SOL_SOCKET, SO_TYPE" "$T/$name.strace")
		[ "$n" -eq "$want" ] || why="$why; $n getsockopt(SO_TYPE) calls on the UDP socket for 3 datagrams, not $want" ;;
	*)	why="$why; no UDP socket traced$(show "$T/$name.strace")"
		stop "$ST" ;;
	esac
	if [ -z "$why" ]; then pass "$name (3 datagrams echoed, $want getsockopt)"
	else fail "$name" "${why#; }"; fi
}
dgram_getsockopt_case udp_plain_rule_no_getsockopt_per_datagram 0 'action = "plain";'
dgram_getsockopt_case udp_tls_rule_one_getsockopt_per_socket 1 "ca = \"$CERTS/ca.crt\";"

# --- no system call of the library's at socket() for a client ---------------
# The memory of TCP sockets this process made (the inode of each, so that
# listen() knows a socket put at its number by a raw dup2) serves only
# listen() under accept rules.  It cost each TCP socket() an fstat, in a
# client with connect rules only too, whose listen() (if any) asks
# nothing.  strace counts the fstat calls on the client's socket under a
# policy without accept rules: none.
name=tcp_client_socket_no_fstat
if ! command -v strace >/dev/null; then
	fail "$name" "strace not installed (strace)"
else
	P=$(free_port) Q=$(free_port)
	policy "$T/$name.conf" <<EOC
rules = ( { name = "here"; direction = "connect"; port = $P; action = "plain"; },
          { name = "other"; direction = "connect"; port = $Q; ca = "$CERTS/ca.crt"; } );
EOC
	# (the accept rules of earlier cases, for every port of 127.0.0.0/8,
	# make the wire audit take this plain echo for TLS)
	audit_exclude "$P" "$name: a plain echo under a plain connect rule, after catch-all accept policies"
	if ! plain_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"
	else
		TLSSHIM_LOG_FILE="$T/$name.log" timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
			TLSSHIM_CONFIG="$T/$name.conf" strace -f -qq -o "$T/$name.strace" \
			-e trace=socket,fstat,newfstatat,statx "$PROGS/client" 127.0.0.1 "$P" \
			<"$T/small.in" >"$T/$name.got" 2>"$T/$name.cerr"
		rc=$?
		wait_exit "$SRV" 10
		fd=$(sed -n 's/^[0-9][0-9]* .*socket(AF_INET, SOCK_STREAM.*) = \([0-9][0-9]*\)$/\1/p' "$T/$name.strace" | head -n 1)
		# (the fstat calls on that number after the socket was made)
		sed -n '/socket(AF_INET, SOCK_STREAM/,$p' "$T/$name.strace" |
			grep -E "^[0-9]+ +(fstat|newfstatat|statx)\($fd, \"\"" >"$T/$name.fstat"
		n=$(grep -c . "$T/$name.fstat")
		if [ "$rc" -ne 0 ] || ! cmp -s "$T/small.in" "$T/$name.got" || [ -z "$fd" ]; then
			fail "$name" "the plain echo failed: exit $rc, socket fd '$fd'$(show "$T/$name.cerr" "$T/$name.log")"
		elif [ "$n" -ne 0 ]; then
			fail "$name" "$n fstat calls on the client's TCP socket (fd $fd), not 0: $(head -n 3 "$T/$name.fstat" | tr '\n' '|')"
		else
			pass "$name (echo exact, 0 fstat on fd $fd)"
		fi
	fi
fi
