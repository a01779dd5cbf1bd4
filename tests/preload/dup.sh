#!/bin/sh
# Duplicates of a TLS fd (dup, fcntl F_DUPFD_CLOEXEC, dup2) share its
# session: what the program writes through any of them arrives encrypted
# (a byte in clear would break the peer's TLS stream), closing the
# original or some copies sends nothing, and close_notify comes with the
# last close.
. "$TLSSHIM_TOP/tests/lib.sh"
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "dup-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/srv.log" shim "$PROGS/dup_server" "$P" >"$T/srv.out" 2>&1 &
srv=$!; _bg_pids="$_bg_pids $srv"
i=0; while ! grep -q listening "$T/srv.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
out=$(timeout 20 python3 - "$P" "$CERTS/ca.crt" <<'PY' 2>&1
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10),
                    server_hostname="localhost", suppress_ragged_eofs=False)
want = b"via dup\nvia F_DUPFD_CLOEXEC\nvia dup2\n"
got = b""
while len(got) < len(want):
    d = s.recv(100)
    if not d:
        break
    got += d
s.sendall(b"ping\n")
echo = s.recv(100)
s = s.unwrap()          # our close_notify; the server's last close answers
print("ok" if got == want and echo == b"echo\n" else "bad: %r %r" % (got, echo))
PY
)
wait $srv; rc=$?
if [ "$out" = ok ] && [ $rc -eq 0 ]; then
	pass "dup/F_DUPFD_CLOEXEC/dup2 copies write encrypted; close_notify on the last close"
else
	fail "dup family shares the session" "client: $out; server exit $rc; $(cat "$T/srv.out" "$T/srv.log")"
fi
