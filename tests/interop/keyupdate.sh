#!/bin/sh
# TLS 1.3 post-handshake messages never surface as data: openssl s_server
# sends KeyUpdate (once with update_requested, "K", once without, "k")
# between lines; the shimmed plain client receives exactly the three
# lines, in order, and keeps working across both key changes.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
P=$(free_port)
policy "$T/c.conf" <<EOC
rules = ( { name = "ku-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
# s_server's input, one line at a time, each once the previous one has
# had its effect: a line when the client has printed the one before, a key
# update ("K"/"k" must be read alone) when s_server has reported the one
# before.  s_server ends the connection when its input ends, after "third"
# (with a bare FIN, which the shim rightly reports as a truncation): the
# client then exits by itself, having flushed what it received.
updates() { grep -c "SSL_do_handshake -> 1" "$T/srv.out" 2>/dev/null; }
feed() {
	wait_for "$T/srv.out" 'CIPHER is' 20 || return
	echo first;  wait_for "$T/out" '^first$' 10 || return
	echo K;      wait_for "$T/srv.out" 'SSL_do_handshake -> 1' 10 || return
	echo second; wait_for "$T/out" '^second$' 10 || return
	n=0; while [ "$(updates)" -lt 2 ] && [ $n -lt 100 ]; do
		[ $n = 0 ] && echo k
		sleep 0.1; n=$((n + 1))
	done
	echo third;  wait_for "$T/out" '^third$' 10
}
( feed | timeout $((60 * TS)) stdbuf -oL -eL openssl s_server -accept "$P" -cert "$CERTS/server.crt" -key "$CERTS/server.key" \
	-naccept 1 >"$T/srv.out" 2>&1 ) &
srv=$!; _bg_pids="$_bg_pids $srv"
wait_listen "$P" 15
# The client only receives (-s), printing each line as it arrives.
TLSSHIM_LOG_FILE="$T/log" timeout $((60 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	"$PROGS/client" -s 127.0.0.1 "$P" </dev/null >"$T/out" 2>"$T/err"
rc=$?
wait_exit "$srv" 20
got=$(tr '\n' ' ' <"$T/out")
updates=$(updates)
if [ "$got" = "first second third " ] && [ "$updates" -ge 2 ]; then
	pass "KeyUpdate (requested and not) from the peer: data intact, never surfaces as data"
else
	fail "KeyUpdate" "client exit $rc, got: $got; server key updates: $updates; $(cat "$T/err" "$T/log")$(tail_of "$T/srv.out")"
fi
