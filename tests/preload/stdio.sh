#!/bin/sh
# stdio on a TLS socket: the C library's FILE functions write through an
# internal write() no preload can see, so until the pump carries such
# fds (issue 4) fdopen() on a TLS fd is refused — EOPNOTSUPP and a log
# line — and not one byte of plaintext reaches the peer.
. "$TLSSHIM_TOP/tests/lib.sh"
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "stdio-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/srv.log" shim "$PROGS/stdio_server" "$P" >"$T/srv.out" 2>&1 &
srv=$!; _bg_pids="$_bg_pids $srv"
i=0; while ! grep -q listening "$T/srv.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
# A raw TCP client records every byte the server sends.
timeout 10 python3 - "$P" >"$T/raw" 2>&1 <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"hello in clear\n")
data = b""
try:
    while True:
        d = s.recv(1000)
        if not d:
            break
        data += d
except OSError:
    pass
sys.stdout.write(repr(data))
PY
wait $srv; rc=$?
if [ $rc -eq 2 ] && grep -q "fdopen: Operation not supported" "$T/srv.out" &&
   grep -q "fdopen() on a TLS connection" "$T/srv.log"; then
	pass "fdopen() on a TLS fd fails with EOPNOTSUPP and a log line"
else
	fail "fdopen() on a TLS fd refused" "exit $rc; $(cat "$T/srv.out" "$T/srv.log")"
fi
if has_no "$T/raw" "stdio says" && has_no "$T/raw" "hello in clear"; then
	pass "fdopen() refused: no plaintext reached the peer"
else
	fail "no plaintext from a refused fdopen" "$(cat "$T/raw")"
fi
