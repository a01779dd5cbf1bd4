#!/bin/sh
# Calls that could move bytes past the TLS layer: sendfile() on a TLS fd
# encrypts (same byte count, file offset advanced exactly), and a second
# connect() on a connected TLS socket (EISCONN) leaves the session in place
# so later writes are still encrypted.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

# A plain server that answers every connection with sendfile() of a file.
head -c 3000000 /dev/urandom >"$T/file"
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "sf-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$PY" "$PYD/sendfile_server.py" "$P" "$T/file" >"$T/srv.out" 2>&1
srv=$!
wait_for "$T/srv.out" '^listening' 15
out=$(timeout $((30 * TS)) "$PY" "$PYD/sendfile_client.py" "$P" "$CERTS/ca.crt" "$T/file" 2>&1
)
wait_exit "$srv" 30; rc=$?
if [ "$out" = ok ] && grep -q "sent 2000000 2500000 pos 2500000" "$T/srv.out" && [ $rc -eq 0 ]; then
	pass "sendfile on a TLS fd: 4.5 MB encrypted intact, offsets and file position exact"
else
	fail "sendfile on a TLS fd" "client: $out; server exit $rc$(tail_of "$T/srv.out" "$T/srv.log")"
fi

# connect() again on a connected TLS socket: EISCONN, and the session stays.
P=$(free_port)
policy "$T/cli.conf" <<EOC
rules = ( { name = "eis-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 >"$T/echo.out" 2>&1
echo1=$!
wait_for "$T/echo.out" '^listening' 15
out=$(TLSSHIM_LOG_FILE="$T/cli.log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" "$PY" "$PYD/eisconn_client.py" "$P" 2>&1
)
# (CPython reports the kernel's EISCONN on a non-blocking socket as success.)
case "$out" in "EISCONN still encrypted"|"connected still encrypted") ok=1 ;; *) ok= ;; esac
if [ -n "$ok" ]; then
	pass "second connect() on a connected TLS socket: EISCONN, session kept, data still encrypted"
else
	fail "second connect() keeps the session" "$out$(tail_of "$T/cli.log" "$T/echo.out")"
fi
stop "$echo1"

# splice() from a pipe into a TLS socket encrypts (and counts exactly);
# splice() out of a TLS socket is refused with EINVAL.
P=$(free_port)
policy "$T/sp.conf" <<EOC
rules = ( { name = "sp-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 >"$T/spe.out" 2>&1
echo2=$!
wait_for "$T/spe.out" '^listening' 15
out=$(TLSSHIM_LOG_FILE="$T/sp.log" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/sp.conf" "$PY" "$PYD/splice_client.py" "$P" 2>&1
)
if [ "$out" = "spliced 51200 echoed ok; splice out: errno 22" ]; then
	pass "splice from a pipe into a TLS fd encrypts 50 KB exactly; splice out of a TLS fd: EINVAL"
else
	fail "splice into a TLS fd" "$out$(tail_of "$T/sp.log" "$T/spe.out")"
fi
stop "$echo2"
