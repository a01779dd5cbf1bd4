#!/bin/sh
# Forking servers (issue 4, "proven on real programs"): accept, fork, the
# child serves, the parent closes its copy.  The session is not started at
# fork (the server handshake is lazy), so it is simply inherited, not
# pumped: the child owns it, the parent's close sends nothing.
#  * Python's socketserver.ForkingTCPServer under the shim: 50 sequential
#    and then 20 concurrent verified Python ssl clients; every echo exact,
#    every connection ends with close_notify both ways (unwrap succeeds),
#    and the shim logs nothing at warn level.
#  * our fork_server (tests/progs/fork_server.c) with 20 concurrent clients.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim

# clients.py PORT CA N seq|conc SIZE TLSPEER_DIR: N verified TLS clients, one after the
# other or all at once (a thread each); each sends SIZE random bytes, reads
# the echo, then unwrap()s: sends close_notify and requires the server's.

# ------------------------------------------------ Python ForkingTCPServer
P=$(free_port)
policy "$T/py.conf" <<EOC
rules = ( { name = "pyfork-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/pysrv.log" shimbg "$PY" "$PYD/forking_echo_server.py" "$P" 70 >"$T/pysrv.out" 2>"$T/pysrv.err"
pysrv=$!
if ! wait_for "$T/pysrv.out" '^listening' 15; then
	fail "ForkingTCPServer starts under the shim" "$(show "$T/pysrv.out" "$T/pysrv.err" "$T/pysrv.log")"
	exit 1
fi
out=$(timeout $((120 * TS)) "$PY" "$PYD/tls_clients.py" "$P" "$CERTS/ca.crt" 50 seq 20000 "$TLSSHIM_TOP/tests/interop" 2>&1)
if [ "$(echo "$out" | head -n 1)" = "50/50 ok" ]; then
	pass "ForkingTCPServer: 50 sequential verified TLS clients echoed, close_notify both ways"
else
	fail "ForkingTCPServer: 50 sequential clients" "$(echo "$out" | head -n 6 | tr '\n' ' ') $(show "$T/pysrv.err" "$T/pysrv.log")"
fi
out=$(timeout $((120 * TS)) "$PY" "$PYD/tls_clients.py" "$P" "$CERTS/ca.crt" 20 conc 100000 "$TLSSHIM_TOP/tests/interop" 2>&1)
if [ "$(echo "$out" | head -n 1)" = "20/20 ok" ]; then
	pass "ForkingTCPServer: 20 concurrent verified TLS clients (100 KB each) echoed, close_notify both ways"
else
	fail "ForkingTCPServer: 20 concurrent clients" "$(echo "$out" | head -n 6 | tr '\n' ' ') $(show "$T/pysrv.err" "$T/pysrv.log")"
fi
wait_exit "$pysrv" 30; rc=$?
if [ $rc -eq 0 ] && grep -q '^served 70' "$T/pysrv.out" && ! grep -q -E 'Traceback|handler error' "$T/pysrv.err"; then
	pass "ForkingTCPServer: every child served its connection without error; the server ends normally"
else
	fail "ForkingTCPServer ends cleanly" "exit $rc $(show "$T/pysrv.out" "$T/pysrv.err")"
fi
if [ ! -s "$T/pysrv.log" ]; then
	pass "ForkingTCPServer: the shim logged nothing at warn level (no refused session, no parent close sending anything)"
else
	fail "ForkingTCPServer: nothing logged" "$(head -c 1500 "$T/pysrv.log")"
fi

# ------------------------------------------------ fork_server, 20 at once
P=$(free_port)
policy "$T/fs.conf" <<EOC
rules = ( { name = "fork-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/fs.log" shimbg "$PROGS/fork_server" "$P" 20 >"$T/fs.out" 2>&1
fs=$!
wait_for "$T/fs.out" 'listening' 10
out=$(timeout $((120 * TS)) "$PY" "$PYD/tls_clients.py" "$P" "$CERTS/ca.crt" 20 conc 50000 "$TLSSHIM_TOP/tests/interop" 2>&1)
wait_exit "$fs" 30; rc=$?
if [ "$(echo "$out" | head -n 1)" = "20/20 ok" ] && [ $rc -eq 0 ]; then
	pass "fork_server: 20 concurrent verified TLS clients served by children, close_notify both ways"
else
	fail "fork_server: 20 concurrent clients" "server exit $rc; $(echo "$out" | head -n 6 | tr '\n' ' ') $(show "$T/fs.out" "$T/fs.log")"
fi
if [ ! -s "$T/fs.log" ]; then
	pass "fork_server: the shim logged nothing at warn level"
else
	fail "fork_server: nothing logged" "$(head -c 1500 "$T/fs.log")"
fi
