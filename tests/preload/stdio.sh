#!/bin/sh
# stdio on a TLS socket: the C library's FILE functions write through an
# internal write() no preload can see, so fdopen() on a TLS fd hands the
# session to a pump process and gives the FILE a plaintext socket: fgets
# and fprintf work over TLS, fclose ends with close_notify, and not one
# byte of plaintext reaches the wire.
. "$TLSSHIM_TOP/tests/lib.sh"
P=$(free_port)
R=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "stdio-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/srv.log" shim "$PROGS/stdio_server" "$P" >"$T/srv.out" 2>&1 &
srv=$!; _bg_pids="$_bg_pids $srv"
i=0; while ! grep -q listening "$T/srv.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
# A relay in front of the server records every raw byte both ways.
python3 - "$R" "$P" "$T/raw" <<'PY' &
import socket, sys, threading
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1); ls.settimeout(15)
c, _ = ls.accept(); u = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
raw = open(sys.argv[3], "wb")
def pipe(a, b):
    while True:
        d = a.recv(65536)
        if not d:
            b.shutdown(socket.SHUT_WR); return
        raw.write(d); raw.flush(); b.sendall(d)
t = threading.Thread(target=pipe, args=(u, c)); t.start(); pipe(c, u); t.join()
PY
relay=$!; _bg_pids="$_bg_pids $relay"
sleep 0.3
out=$(timeout 20 python3 - "$R" "$CERTS/ca.crt" <<'PY' 2>&1
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10),
                    server_hostname="localhost", suppress_ragged_eofs=False)
s.sendall(b"hello through stdio\n")
got = b""
try:
    while True:
        d = s.recv(100)
        if not d:
            break
        got += d
    end = "close_notify"
except ssl.SSLError as e:
    end = "error %s" % e
print(got.decode().strip(), "/", end)
PY
)
wait $srv; rc=$?
if [ "$out" = "stdio says: hello through stdio / close_notify" ] && [ $rc -eq 0 ]; then
	pass "fdopen on a TLS fd: fgets/fprintf over TLS through a pump, close_notify at fclose"
else
	fail "fdopen on a TLS fd works" "client: $out; server exit $rc; $(cat "$T/srv.out" "$T/srv.log")"
fi
if [ -s "$T/raw" ] && has_no "$T/raw" "stdio says" && has_no "$T/raw" "hello through stdio"; then
	pass "fdopen on a TLS fd: no plaintext on the wire"
else
	fail "no plaintext on the wire" "raw capture: $(wc -c <"$T/raw" 2>/dev/null) bytes"
fi
