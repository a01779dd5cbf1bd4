#!/bin/sh
# TLS 1.3 post-handshake messages never surface as data: openssl s_server
# sends KeyUpdate (once with update_requested, "K", once without, "k")
# between lines; the shimmed plain client receives exactly the three
# lines, in order, and keeps working across both key changes.
. "$TLSSHIM_TOP/tests/lib.sh"
P=$(free_port)
policy "$T/c.conf" <<EOC
rules = ( { name = "ku-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
# s_server ends the connection when its input ends, after "third" (with
# a bare FIN, which the shim rightly reports as a truncation): the client
# then exits by itself, having flushed what it received.
( (sleep 1; echo first; sleep 0.4; echo K; sleep 0.4; echo second; sleep 0.4; echo k; sleep 0.4; echo third; sleep 1) |
	timeout 15 openssl s_server -accept "$P" -cert "$CERTS/server.crt" -key "$CERTS/server.key" \
		-naccept 1 >"$T/srv.out" 2>&1 ) &
_bg_pids="$_bg_pids $!"
wait_port_quiet() { i=0; while ! ss -ltn 2>/dev/null | grep -q ":$P " && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; }
wait_port_quiet
(sleep 8) | TLSSHIM_LOG_FILE="$T/log" timeout 12 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	"$PROGS/client" -n 127.0.0.1 "$P" >"$T/out" 2>"$T/err"
rc=$?
got=$(tr '\n' ' ' <"$T/out")
updates=$(grep -c "SSL_do_handshake -> 1" "$T/srv.out")
if [ "$got" = "first second third " ] && [ "$updates" -ge 2 ]; then
	pass "KeyUpdate (requested and not) from the peer: data intact, never surfaces as data"
else
	fail "KeyUpdate" "client exit $rc, got: $got; server key updates: $updates; $(cat "$T/err" "$T/log")"
fi
