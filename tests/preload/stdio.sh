#!/bin/sh
# stdio on a TLS socket: the C library's FILE functions read and write
# through internal calls no preload can see, so fdopen() on a TLS fd hands
# the session to the pump (design requirement 10): the fd becomes a
# plaintext socketpair end, stdio works on it, and the pump does the TLS.
#  * stdio_server: fdopen(fd, "r+"), fgets, fprintf, fclose.
#  * stdio_echo --listen: two streams, fdopen(fd, "r") and
#    fdopen(dup(fd), "w"), several lines, each answered and flushed.
# Asserted: a real TLS client (Python ssl, verifying) gets the answers;
# fclose() of the last stream brings the peer a close_notify (a clean end
# of data, not a truncation); a wiretap relay between them sees TLS records
# only, never the plaintext; the shim logs no error.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim
[ -x "$PROGS/stdio_echo" ] || { fail setup "$PROGS/stdio_echo missing (make test-build)"; exit 1; }

# client.py PORT CA MODE LINE...: "unwrap": send each line and read its
# answer (one line), then close_notify and wait for the server's; "eof":
# send one line, read to the end, say how it ended, answer with close_notify.

# relay_to NAME PORT: a wiretap relay in front of PORT; its port is in RP.
relay_to() {
	RP=$(free_port)
	start_peer "$1.relay" relay --port "$RP" --to "$2" --record "$T/$1.wire"
	RELAY=$PEER
}

# wire_clean NAME TEXT...: TLS went over the wiretap (a handshake record
# first in each direction), and none of the TEXTs in clear.
wire_clean() {
	_wc_n=$1; shift
	[ "$(head -c 1 "$T/$_wc_n.wire.c2s" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 16 ] || return 1
	[ "$(head -c 1 "$T/$_wc_n.wire.s2c" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 16 ] || return 1
	for _wc_t in "$@"; do
		has_no "$T/$_wc_n.wire.c2s" "$_wc_t" && has_no "$T/$_wc_n.wire.s2c" "$_wc_t" || return 1
	done
}

# ------------------------------------------------ stdio_server: r+ stream
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "stdio-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$PROGS/stdio_server" "$P" >"$T/srv.out" 2>&1
srv=$!
wait_for "$T/srv.out" listening 10
relay_to one "$P"
out=$(timeout $((20 * TS)) "$PY" "$PYD/stdio_client.py" "$RP" "$CERTS/ca.crt" eof "hello over tls" 2>&1)
wait_exit "$srv" 10; rc=$?
stop "$RELAY"
if [ "$out" = "got 'stdio says: hello over tls\\n'
eof clean" ] && [ $rc -eq 0 ]; then
	pass "fdopen(fd, \"r+\") on a TLS fd: fgets/fprintf over TLS, close_notify at fclose()"
else
	fail "fdopen(fd, \"r+\") on a TLS fd works" "client: $(echo "$out" | tr '\\\n' '/|'); server exit $rc $(show "$T/srv.out" "$T/srv.log")"
fi
if wire_clean one "stdio says" "hello over tls"; then
	pass "fdopen(fd, \"r+\"): only TLS on the wire, no plaintext"
else
	fail "fdopen(fd, \"r+\"): no plaintext on the wire" "$(od -c "$T/one.wire.s2c" 2>/dev/null | head -n 3 | tr '\\\n' '/|')"
fi
if grep -q -E 'error|warn' "$T/srv.log" 2>/dev/null; then
	fail "fdopen(fd, \"r+\"): nothing logged at warn or error" "$(head -c 800 "$T/srv.log")"
fi

# ------------------------------------------------ stdio_echo: two streams
P=$(free_port)
policy "$T/two.conf" <<EOC
rules = ( { name = "stdio2-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/two.log" shimbg "$PROGS/stdio_echo" --listen "$P" >"$T/two.out" 2>&1
srv=$!
wait_for "$T/two.out" listening 10
relay_to two "$P"
out=$(timeout $((20 * TS)) "$PY" "$PYD/stdio_client.py" "$RP" "$CERTS/ca.crt" unwrap "first line" "second line" "third line" 2>&1)
wait_exit "$srv" 10; rc=$?
stop "$RELAY"
if [ "$out" = "got 'stdio_echo: first line'
got 'stdio_echo: second line'
got 'stdio_echo: third line'
unwrap ok" ] && [ $rc -eq 0 ]; then
	pass "fdopen(fd, \"r\") + fdopen(dup(fd), \"w\"): line by line over TLS; close_notify once both streams are closed"
else
	fail "two stdio streams on one TLS connection" "client: $(echo "$out" | tr '\\\n' '/|'); server exit $rc $(show "$T/two.out" "$T/two.log")"
fi
if wire_clean two "stdio_echo:" "first line" "third line"; then
	pass "two stdio streams: only TLS on the wire, no plaintext"
else
	fail "two stdio streams: no plaintext on the wire" "$(od -c "$T/two.wire.s2c" 2>/dev/null | head -n 3 | tr '\\\n' '/|')"
fi
if grep -q -E 'error|warn' "$T/two.log" 2>/dev/null; then
	fail "two stdio streams: nothing logged at warn or error" "$(head -c 800 "$T/two.log")"
fi
