#!/bin/sh
# tests/preload/close.sh — how TLS connections end, both sides:
#   * the program's close() / shutdown(SHUT_WR) sends close_notify;
#   * the peer's close_notify reads as end of file (read returns 0);
#   * a FIN without close_notify (truncation) makes read fail with
#     ECONNRESET, unless allow_truncation = true (then plain EOF).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim close_setup

# rule_policy DIRECTION PORT [EXTRA-KEYS]
rule_policy() {
	if [ "$1" = accept ]; then
		_rp_keys="cert = \"$CERTS/server.crt\"; key = \"$CERTS/server.key\";"
	else
		_rp_keys="ca = \"$CERTS/ca.crt\";"
	fi
	policy "$T/p.conf" <<EOF
rules = ( { name = "close-test"; direction = "$1"; port = $2; $_rp_keys ${3:-} } );
EOF
}
PING=0123456789abcdef0123456789ABCDEF   # 32 bytes, as pingpong wants

# --- server side --------------------------------------------------------------
# The program (pingpong server) writes its answer and close()s first: the
# client sees a clean TLS closure (close_notify), not a ragged EOF.
name=server_close_sends_close_notify
P=$(free_port)
rule_policy accept "$P"
export TLSSHIM_LOG_FILE="$T/$name.log"
shimbg "$PROGS/pingpong" server "$P" >"$T/$name.out" 2>"$T/$name.err"
SRV=$!
if wait_for "$T/$name.out" '^listening'; then
	peer client --port "$P" --ca "$CERTS/ca.crt" --send "$PING" --finish read-eof >"$T/$name.cli" 2>&1
	if grep -q '^echo ok 32$' "$T/$name.cli" && grep -q '^eof clean$' "$T/$name.cli"; then
		pass "$name"
	else
		fail "$name" "expected the pong and a clean close_notify$(show "$T/$name.cli" "$T/$name.err" "$T/$name.log")"
	fi
else
	fail "$name" "pingpong server never listened$(show "$T/$name.err")"
fi
stop "$SRV"

# The peer's close_notify: echo_server's read returns 0, it closes (sending
# its own close_notify: the client's unwrap completes) and -1 exits 0.
name=server_peer_close_notify_reads_as_eof
P=$(free_port)
rule_policy accept "$P"
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" -1 "$P"; then
	peer client --port "$P" --ca "$CERTS/ca.crt" --send "bye soon" --finish unwrap >"$T/$name.cli" 2>&1
	wait_exit "$SRV" 10; rc=$?
	if [ "$rc" -eq 0 ] && grep -q '^closed$' "$T/$name.out" && grep -q '^unwrap ok$' "$T/$name.cli" &&
		[ ! -s "$T/$name.err" ]; then
		pass "$name"
	else
		fail "$name" "echo_server exit $rc$(show "$T/$name.cli" "$T/$name.out" "$T/$name.err" "$T/$name.log")"
	fi
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi

# Truncation: the client's FIN comes without close_notify.
# server_truncation NAME EXTRA-KEYS EXPECT(reset|eof)
server_truncation() {
	name=$1
	P=$(free_port)
	rule_policy accept "$P" "$2"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; return
	fi
	peer client --port "$P" --ca "$CERTS/ca.crt" --send "cut short" --finish fin >"$T/$name.cli" 2>&1
	wait_exit "$SRV" 10; rc=$?
	if ! grep -q '^echo ok' "$T/$name.cli"; then
		fail "$name" "the echo before the truncation failed$(show "$T/$name.cli" "$T/$name.err")"
	elif [ "$3" = reset ]; then
		if [ "$rc" -eq 1 ] && grep -q '^echo_server: read: Connection reset by peer$' "$T/$name.err" &&
			! grep -q '^closed' "$T/$name.out"; then
			pass "$name"
		else
			fail "$name" "expected read to fail with ECONNRESET (exit 1), got exit $rc$(show "$T/$name.out" "$T/$name.err" "$T/$name.log")"
		fi
	else
		if [ "$rc" -eq 0 ] && grep -q '^closed$' "$T/$name.out" && [ ! -s "$T/$name.err" ]; then
			pass "$name"
		else
			fail "$name" "expected a plain EOF (exit 0), got exit $rc$(show "$T/$name.out" "$T/$name.err" "$T/$name.log")"
		fi
	fi
}
server_truncation server_truncation_is_econnreset "" reset
server_truncation server_truncation_allowed_is_eof "allow_truncation = true;" eof

# --- client side --------------------------------------------------------------
printf 'hello from the server\n' >"$T/greet.expect"

# client_case NAME EXTRA-KEYS PEER-ARGS -- CLIENT-ARGS: sets RC, files
# $T/NAME.got (client stdout), .err, .st (peer status).
client_case() {
	_cc_name=$1 _cc_keys=$2
	shift 2
	_cc_pa=""
	while [ $# -gt 0 ] && [ "$1" != -- ]; do _cc_pa="$_cc_pa $1"; shift; done
	shift
	P=$(free_port)
	rule_policy connect "$P" "$_cc_keys"
	export TLSSHIM_LOG_FILE="$T/$_cc_name.log"
	# shellcheck disable=SC2086
	if ! start_peer "$_cc_name.peer" server --port "$P" --cert "$CERTS/server.crt" \
		--key "$CERTS/server.key" --status "$T/$_cc_name.st" $_cc_pa; then
		RC=99; return
	fi
	shimmed "$PROGS/client" "$@" localhost "$P" <"${CLIENT_IN:-/dev/null}" >"$T/$_cc_name.got" 2>"$T/$_cc_name.err"
	RC=$?
	wait_exit "$PEER" 10
}

# The server's close_notify ends the program's read with 0 (exit 0), and
# the program's close() answers with its own (the server's unwrap completes).
name=client_peer_close_notify_reads_as_eof
client_case $name "" --mode greet -- -s
if [ "$RC" -eq 0 ] && cmp -s "$T/greet.expect" "$T/$name.got" && grep -q '^unwrap ok$' "$T/$name.st"; then
	pass "$name"
else
	fail "$name" "client exit $RC$(show "$T/$name.got" "$T/$name.err" "$T/$name.st" "$T/$name.log")"
fi

# Truncation from the server: the data before it arrives, then ECONNRESET.
name=client_truncation_is_econnreset
client_case $name "" --mode greet --close fin -- -s
if [ "$RC" -eq 3 ] && cmp -s "$T/greet.expect" "$T/$name.got" &&
	[ "$(cat "$T/$name.err")" = "client: read: Connection reset by peer" ]; then
	pass "$name"
else
	fail "$name" "expected the greeting, then 'client: read: Connection reset by peer' (exit 3); got exit $RC$(show "$T/$name.got" "$T/$name.err" "$T/$name.log")"
fi

name=client_truncation_allowed_is_eof
client_case $name "allow_truncation = true;" --mode greet --close fin -- -s
if [ "$RC" -eq 0 ] && cmp -s "$T/greet.expect" "$T/$name.got" && [ ! -s "$T/$name.err" ]; then
	pass "$name"
else
	fail "$name" "expected the greeting and a plain EOF (exit 0); got exit $RC$(show "$T/$name.got" "$T/$name.err" "$T/$name.log")"
fi

# shutdown(SHUT_WR) sends close_notify, and the program still reads: the
# server sees a clean end of data, then answers with the byte count.
name=client_shutdown_wr_sends_close_notify_and_keeps_reading
head -c 50000 /dev/urandom >"$T/50k.in"
CLIENT_IN="$T/50k.in" client_case $name "" --mode count --
if [ "$RC" -eq 0 ] && [ "$(cat "$T/$name.got")" = "received 50000 bytes" ] &&
	grep -q '^eof clean$' "$T/$name.st"; then
	pass "$name"
else
	fail "$name" "client exit $RC$(show "$T/$name.got" "$T/$name.err" "$T/$name.st" "$T/$name.log")"
fi

# shutdown(SHUT_RDWR) sends close_notify too (client -R: the program
# shuts both ways down after its input and exits without reading).
name=client_shutdown_rdwr_sends_close_notify
CLIENT_IN="$T/50k.in" client_case $name "" --mode record -- -R
if [ "$RC" -eq 0 ] && grep -q '^eof clean$' "$T/$name.st"; then
	pass "$name"
else
	fail "$name" "client exit $RC$(show "$T/$name.err" "$T/$name.st" "$T/$name.log")"
fi

# The program's close() (no shutdown before it) sends close_notify: the
# shimmed pingpong client closes first; the server sees a clean closure.
name=client_close_sends_close_notify
P=$(free_port)
rule_policy connect "$P"
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_peer "$name.peer" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
	--status "$T/$name.st"; then
	shimmed "$PROGS/pingpong" client localhost "$P" 1 >"$T/$name.got" 2>"$T/$name.err"
	RC=$?
	wait_exit "$PEER" 10
	if [ "$RC" -eq 0 ] && grep -q '^eof clean$' "$T/$name.st"; then
		pass "$name"
	else
		fail "$name" "pingpong exit $RC$(show "$T/$name.err" "$T/$name.st" "$T/$name.log")"
	fi
else
	fail "$name" "server did not start"
fi

# The peers themselves (no library): a TCP end without close_notify must
# read as a truncation, or every "eof clean" / "unwrap ok" above could
# pass on a library that ends sessions with a bare FIN.  Debian 12's
# Python 3.11.2 sets OP_IGNORE_UNEXPECTED_EOF on every context, and then
# reported exactly that as "eof clean" and "unwrap ok"; tlspeer.py clears
# it (as every Python TLS peer under tests/ does: tests/py/strict_tls.py).
name=peer_sees_truncation
P=$(free_port)
if start_peer "$name.peer" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
	--status "$T/$name.st"; then
	peer client --port "$P" --ca "$CERTS/ca.crt" --server-name localhost --send x --finish fin \
		>"$T/$name.cli" 2>&1
	wait_exit "$PEER" 10
	if grep -q '^eof ragged$' "$T/$name.st" && ! grep -q '^eof clean$\|^unwrap ok$' "$T/$name.st"; then
		pass "$name (server)"
	else
		fail "$name (server)" "a client's bare FIN did not read as a truncation$(show "$T/$name.cli" "$T/$name.st")"
	fi
else
	fail "$name (server)" "server did not start"
fi
P=$(free_port)
if start_peer "$name.peer2" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
	--close fin; then
	peer client --port "$P" --ca "$CERTS/ca.crt" --server-name localhost --send x --finish unwrap \
		>"$T/$name.cli2" 2>&1
	RC=$?
	wait_exit "$PEER" 10
	if [ "$RC" -ne 0 ] && grep -q '^unwrap error eof ragged' "$T/$name.cli2"; then
		pass "$name (client)"
	else
		fail "$name (client)" "a server's bare FIN did not read as a truncation (exit $RC)$(show "$T/$name.cli2")"
	fi
else
	fail "$name (client)" "server did not start"
fi
