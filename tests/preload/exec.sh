#!/bin/sh
# exec with the socket on stdin/stdout (inetd style): socat accepts under
# the shim, moves the socket onto fds 0 and 1 and execs cat in its place
# (EXEC:...,nofork).  A TLS session on fds 0-2 goes to a pump at once
# (stdio there bypasses every wrapper), so cat inherits the pump's
# plaintext end; cat's read and write carry TLS on the wire, and when cat
# exits the pump sends close_notify.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "inetd-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/srv.log" shimbg socat TCP-LISTEN:"$P",bind=127.0.0.1,reuseaddr \
	EXEC:/bin/cat,nofork >"$T/socat.out" 2>&1
srv=$!
wait_listen "$P" 15
out=$(timeout $((20 * TS)) "$PY" "$PYD/inetd_style_client.py" "$P" "$CERTS/ca.crt" 2>&1
)
wait_exit "$srv" 20; rc=$?
if [ "$out" = "inetd style hello / close_notify" ]; then
	pass "exec'd program on an inherited socket speaks TLS; close_notify at its exit"
else
	fail "exec'd program on an inherited socket" "$out; socat exit $rc$(tail_of "$T/socat.out" "$T/srv.log")"
fi
if grep -q "session handed to a pump process; fds [0-9]*,\.\.\. now plaintext" "$T/srv.log" &&
   ! grep -q "becomes a TLS server connection" "$T/srv.log"; then
	pass "a TLS socket moved onto stdin/stdout goes to a pump before exec (logged at info level)"
else
	fail "TLS socket on fds 0-2 pumped" "$(cat "$T/srv.log")"
fi
