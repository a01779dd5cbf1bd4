#!/bin/sh
# Calls that could move bytes past the TLS layer: sendfile() on a TLS fd
# encrypts (same byte count, file offset advanced exactly), and a second
# connect() on a connected TLS socket (EISCONN) leaves the session in place
# so later writes are still encrypted.
. "$TLSSHIM_TOP/tests/lib.sh"

# A plain server that answers every connection with sendfile() of a file.
head -c 3000000 /dev/urandom >"$T/file"
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "sf-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/srv.log" shim python3 - "$P" "$T/file" >"$T/srv.out" 2>&1 <<'PY' &
import os, socket, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1)
print("listening", flush=True)
c, _ = ls.accept()
with open(sys.argv[2], "rb") as f:
    n = os.sendfile(c.fileno(), f.fileno(), 1000, 2000000)   # offset form
    total = n
    while total < 2000000:
        total += os.sendfile(c.fileno(), f.fileno(), 1000 + total, 2000000 - total)
    f.seek(0)
    m = c.sendfile(f, 0, 2500000)                              # file-position form
    print("sent", total, m, "pos", f.tell(), flush=True)
c.shutdown(socket.SHUT_WR)
c.recv(10)
c.close()
PY
srv=$!; _bg_pids="$_bg_pids $srv"
i=0; while ! grep -q listening "$T/srv.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
out=$(timeout 30 python3 - "$P" "$CERTS/ca.crt" "$T/file" <<'PY' 2>&1
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20),
                    server_hostname="localhost", suppress_ragged_eofs=False)
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
want = open(sys.argv[3], "rb").read()
print("ok" if data == want[1000:2001000] + want[:2500000] else "mismatch %d" % len(data))
s.unwrap(); s.close()
PY
)
wait $srv
if [ "$out" = ok ] && grep -q "sent 2000000 2500000 pos 2500000" "$T/srv.out"; then
	pass "sendfile on a TLS fd: 4.5 MB encrypted intact, offsets and file position exact"
else
	fail "sendfile on a TLS fd" "client: $out; server: $(cat "$T/srv.out" "$T/srv.log")"
fi

# connect() again on a connected TLS socket: EISCONN, and the session stays.
P=$(free_port)
policy "$T/cli.conf" <<EOC
rules = ( { name = "eis-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg python3 "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 >"$T/echo.out" 2>&1
i=0; while ! grep -q listening "$T/echo.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
out=$(TLSSHIM_LOG_FILE="$T/cli.log" timeout 20 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" python3 - "$P" <<'PY' 2>&1
import errno, select, socket, sys
s = socket.socket(); s.setblocking(False)
addr = ("127.0.0.1", int(sys.argv[1]))
try:
    s.connect(addr)
except BlockingIOError:
    pass
select.select([], [s], [], 10)
try:
    s.connect(addr)
    r = "connected"
except OSError as e:
    r = errno.errorcode.get(e.errno, str(e.errno))
s.setblocking(True); s.settimeout(10)
s.sendall(b"still encrypted\n"); s.shutdown(socket.SHUT_WR)
print(r, s.recv(100).decode().strip())
PY
)
# (CPython reports the kernel's EISCONN on a non-blocking socket as success.)
case "$out" in "EISCONN still encrypted"|"connected still encrypted") ok=1 ;; *) ok= ;; esac
if [ -n "$ok" ]; then
	pass "second connect() on a connected TLS socket: EISCONN, session kept, data still encrypted"
else
	fail "second connect() keeps the session" "$out $(cat "$T/cli.log" "$T/echo.out")"
fi

# splice() from a pipe into a TLS socket encrypts (and counts exactly);
# splice() out of a TLS socket is refused with EINVAL.
P=$(free_port)
policy "$T/sp.conf" <<EOC
rules = ( { name = "sp-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg python3 "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 >"$T/spe.out" 2>&1
i=0; while ! grep -q listening "$T/spe.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
out=$(TLSSHIM_LOG_FILE="$T/sp.log" timeout 20 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/sp.conf" python3 - "$P" <<'PY' 2>&1
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
r, w = os.pipe()
data = bytes(range(256)) * 200            # 51200 bytes, more than one record
total = 0
while total < len(data):
    os.write(w, data[total:total + 30000])
    n = 0
    while n < min(30000, len(data) - total):
        n += os.splice(r, s.fileno(), 30000)
    total += n
try:
    os.splice(s.fileno(), w, 100)
    out = "splice out: no error"
except OSError as e:
    out = "splice out: errno %d" % e.errno
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    got += d
print("spliced %d echoed %s; %s" % (total, "ok" if got == data else "MISMATCH %d" % len(got), out))
PY
)
if [ "$out" = "spliced 51200 echoed ok; splice out: errno 22" ]; then
	pass "splice from a pipe into a TLS fd encrypts 50 KB exactly; splice out of a TLS fd: EINVAL"
else
	fail "splice into a TLS fd" "$out $(cat "$T/sp.log" "$T/spe.out")"
fi
