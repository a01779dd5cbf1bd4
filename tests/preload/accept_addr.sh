#!/bin/sh
# tests/preload/accept_addr.sh — accept() hands the program the peer's
# address as the kernel would, now that the library takes it from the
# accept itself (no getpeername): no buffer; a sockaddr_in-sized buffer
# (family, the client's port); a 4-byte buffer (truncated: family and
# port only, the bytes after it untouched, the full length 16 reported).
# The shim's log names each connection by the client's address in every
# case (its own buffer, or getpeername when the program's was too small).
# A pass-through accept costs one system call (getsockname) and no more.
# After a connection the library refuses, the next accept() gets the
# program's buffer length again (nothing written past the buffer).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim accept_addr_setup
name=accept_peer_address_as_the_kernel_gives_it
P=$(free_port)
policy "$T/p.conf" <<EOC
rules = ( { name = "addr-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
export TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$name.log"
shimbg "$PY" "$PYD/accept_addr_server.py" "$P" >"$T/$name.out" 2>"$T/$name.err"
SRV=$!
if ! wait_for "$T/$name.out" '^listening' 15; then
	fail "$name" "server never listened$(show "$T/$name.err")"
	exit 1
fi
why=""
for mode in null full short; do
	peer client --port "$P" --ca "$CERTS/ca.crt" --server-name localhost --send "line $mode
" >"$T/$name.$mode" 2>&1
	lp=$(sed -n 's/^local 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/$name.$mode")
	wait_for "$T/$name.out" "^accepted $mode" 10
	got=$(grep "^accepted $mode" "$T/$name.out")
	case $mode in
	null) want="accepted null" ;;
	full) want="accepted full len 16 family 2 port $lp" ;;
	short) want="accepted short len 16 family 2 port $lp untouched" ;;
	esac
	grep -q '^echo ok' "$T/$name.$mode" || why="$why; $mode: no echo$(show "$T/$name.$mode")"
	[ "$got" = "$want" ] || why="$why; $mode: '$got', not '$want'"
	[ "$(lines "$T/$name.log" "127\.0\.0\.1:$lp rule \"addr-in\": accepted TLSv")" -eq 1 ] ||
		why="$why; $mode: the log does not name the client 127.0.0.1:$lp$(show "$T/$name.log")"
done
if [ -z "$why" ]; then
	pass "$name (no buffer, full buffer, 4-byte buffer: as the kernel; the log names each client)"
else
	fail "$name" "${why#; }$(show "$T/$name.err")"
fi
stop "$SRV"

# A pass-through accept (a port no accept rule names) asks the kernel for
# the local address only: the rules come before the protocol check, so
# no getsockopt and no getpeername on the accepted socket (strace counts
# the calls on the accepted fd; the listener's own calls do not count).
name=passthru_accept_one_system_call
command -v strace >/dev/null || { fail "$name" "strace not installed (strace)"; exit 1; }
P2=$(free_port)
P3=$(free_port)
policy "$T/pt.conf" <<EOC
rules = ( { name = "other"; direction = "accept"; port = $P3;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
shimbg strace -f -qq -o "$T/$name.strace" \
	-e trace=accept,accept4,getsockname,getsockopt,getpeername \
	"$PROGS/echo_server" -1 -c "$P2" >"$T/$name.out" 2>"$T/$name.err"
SRV=$!
if ! wait_for "$T/$name.out" '^listening' 15; then
	fail "$name" "server never listened$(show "$T/$name.err")"
	exit 1
fi
why=""
peer raw --port "$P2" --send "plain" >"$T/$name.cli" 2>&1
grep -q '^received 5' "$T/$name.cli" || why="$why; no plain echo$(show "$T/$name.cli")"
wait_exit "$SRV" 20 || why="$why; echo_server (-1) did not exit 0 after its connection$(show "$T/$name.err")"
# "PID  accept(3, ...) = 4": the accepted number, then the calls on it.
fd=$(sed -n 's/^[0-9][0-9]* *accept4\{0,1\}([0-9]*, .*) = \([0-9][0-9]*\)$/\1/p' "$T/$name.strace")
case $fd in
[0-9]|[0-9][0-9])
	gsn=$(grep -c -E "^[0-9]+ +getsockname\($fd, " "$T/$name.strace")
	other=$(grep -c -E "^[0-9]+ +(getsockopt|getpeername)\($fd, " "$T/$name.strace")
	[ "$gsn" -eq 1 ] || why="$why; $gsn getsockname calls on the accepted socket, not 1"
	[ "$other" -eq 0 ] ||
		why="$why; $other getsockopt/getpeername calls on the accepted socket$(show "$T/$name.strace")" ;;
*)	why="$why; not one accept traced ('$fd')$(show "$T/$name.strace")" ;;
esac
if [ -z "$why" ]; then
	pass "$name (one getsockname, no getsockopt, no getpeername)"
else
	fail "$name" "${why#; }"
fi

# A connection the library refuses (a "deny" rule, or a lookup that
# failed) sends accept() round again: the program's buffer length must be
# given again too, not the refused connection's address length that the
# kernel wrote over it.  A bare struct sockaddr (16 bytes) on a dual-stack
# listener: after a refused ::1 client, a 127.0.0.1 client's 28-byte
# (IPv4-mapped) address was written whole, 12 bytes past the buffer.
name=accept_after_refused_connection_keeps_the_buffer_length
P3=$(free_port)
policy "$T/deny.conf" <<EOC
rules = ( { name = "deny-v6"; direction = "accept"; port = $P3; address = "::1"; action = "deny"; },
          { name = "plain"; direction = "accept"; port = $P3; action = "plain"; } );
EOC
export TLSSHIM_LOG_FILE="$T/$name.log"
shimbg "$PROGS/accept_canary" "$P3" >"$T/$name.out" 2>"$T/$name.err"
SRV=$!
if wait_for "$T/$name.out" '^listening' 15; then
	"$PY" -c 'import socket, sys; socket.create_connection(("::1", int(sys.argv[1])), timeout=10).close()' "$P3"
	"$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10).close()' "$P3"
	wait_exit "$SRV" 20
	if grep -q '^accept ok len=28 canary=0$' "$T/$name.out" && grep -q 'rule "deny-v6": connection refused' "$TLSSHIM_LOG_FILE"; then
		pass "$name"
	else
		fail "$name" "$(show "$T/$name.out" "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	fi
else
	fail "$name" "accept_canary never listened$(show "$T/$name.err")"
fi
