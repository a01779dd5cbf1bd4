#!/bin/sh
# Duplicates of a TLS fd (dup, fcntl F_DUPFD_CLOEXEC, dup2) share its
# session: what the program writes through any of them arrives encrypted
# (a byte in clear would break the peer's TLS stream), closing the
# original or some copies sends nothing, and close_notify comes with the
# last close.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "dup-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$PROGS/dup_server" "$P" >"$T/srv.out" 2>&1
srv=$!
wait_for "$T/srv.out" 'listening' 15
out=$(timeout $((20 * TS)) "$PY" "$PYD/dup_client.py" "$P" "$CERTS/ca.crt" 2>&1
)
wait_exit "$srv" 20; rc=$?
if [ "$out" = ok ] && [ $rc -eq 0 ]; then
	pass "dup/F_DUPFD_CLOEXEC/dup2 copies write encrypted; close_notify on the last close"
else
	fail "dup family shares the session" "client: $out; server exit $rc$(tail_of "$T/srv.out" "$T/srv.log")"
fi
