#!/bin/sh
# recv/send flags and socket options on a TLS fd behave as on TCP:
# MSG_PEEK leaves the plaintext in place, MSG_WAITALL waits for the whole
# count across records, MSG_OOB is refused (EOPNOTSUPP), SO_RCVTIMEO ends a
# blocking read with EAGAIN, and O_NONBLOCK set by ioctl(FIONBIO) (what
# CPython's setblocking uses) makes an empty read say EAGAIN.
. "$TLSSHIM_TOP/tests/lib.sh"
P=$(free_port)
policy "$T/c.conf" <<EOC
rules = ( { name = "flags-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg python3 "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 >"$T/echo.out" 2>&1
i=0; while ! grep -q listening "$T/echo.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
TLSSHIM_LOG_FILE="$T/log" timeout 30 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" python3 - "$P" >"$T/out" 2>&1 <<'PY'
import errno, socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def res(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + detail), flush=True)
s.sendall(b"hello")
time.sleep(0.3)
a = s.recv(5, socket.MSG_PEEK); b = s.recv(5)
res("MSG_PEEK leaves the plaintext for the next read", a == b"hello" and b == b"hello", repr((a, b)))
s.sendall(b"abc"); time.sleep(0.2); s.sendall(b"def")
c = s.recv(6, socket.MSG_WAITALL)
res("MSG_WAITALL waits for the whole count across records", c == b"abcdef", repr(c))
try:
    s.send(b"x", socket.MSG_OOB); e = 0
except OSError as ex:
    e = ex.errno
res("MSG_OOB on a TLS fd: EOPNOTSUPP", e == errno.EOPNOTSUPP, str(e))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 300000))
t = time.monotonic()
try:
    s.recv(10); e = 0
except OSError as ex:
    e = ex.errno
res("SO_RCVTIMEO ends a blocking read with EAGAIN", e in (errno.EAGAIN, errno.EWOULDBLOCK), str(e))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 0))
s.setblocking(False)
try:
    s.recv(10); e = 0
except OSError as ex:
    e = ex.errno
res("O_NONBLOCK by ioctl(FIONBIO): an empty read says EAGAIN", e in (errno.EAGAIN, errno.EWOULDBLOCK), str(e))
s.setblocking(True)
s.sendall(b"still fine")
d = s.recv(100)
res("the connection works after all of the above", d == b"still fine", repr(d))
s.close()
PY
cat "$T/out"
grep -q "^PASS the connection works" "$T/out" || fail "flags script" "$(cat "$T/out" "$T/log")"

# sendmmsg()/recvmmsg() on a TLS fd: message by message through TLS.
P=$(free_port)
policy "$T/m.conf" <<EOC
rules = ( { name = "mmsg-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg python3 "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 >"$T/echo2.out" 2>&1
i=0; while ! grep -q listening "$T/echo2.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
out=$(TLSSHIM_LOG_FILE="$T/mlog" timeout 20 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/m.conf" \
	"$PROGS/mmsg_client" localhost "$P" 2>&1)
if [ "$out" = "sent 3 msgs, echoed: alpha-beta-gamma" ] && ! grep -q "connection error" "$T/echo2.out"; then
	pass "sendmmsg/recvmmsg on a TLS fd: three messages encrypted and echoed intact"
else
	fail "sendmmsg/recvmmsg" "$out $(cat "$T/mlog" "$T/echo2.out")"
fi

# SO_SNDTIMEO: a blocking write to a peer that never reads ends with
# EAGAIN (or a short count) instead of blocking for ever.
P=$(free_port)
policy "$T/w.conf" <<EOC
rules = ( { name = "sndto-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            handshake_timeout_ms = 1000; } );   # bounds the close-time flush
EOC
python3 - "$P" "$CERTS/server.crt" "$CERTS/server.key" >"$T/stall.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1); print("listening", flush=True)
ls.settimeout(15); c, _ = ls.accept(); s = ctx.wrap_socket(c, server_side=True)
time.sleep(12)                              # never reads
PY
_bg_pids="$_bg_pids $!"
i=0; while ! grep -q listening "$T/stall.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
out=$(TLSSHIM_LOG_FILE="$T/wlog" timeout 20 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/w.conf" python3 -c '
import errno, socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 0, 300000))
chunk = b"x" * 65536
for i in range(2000):                       # at most 128 MiB, bounded
    try:
        n = s.send(chunk)
    except OSError as e:
        print("errno", errno.errorcode.get(e.errno)); break
else:
    print("never timed out")' "$P" 2>&1)
if [ "$out" = "errno EAGAIN" ]; then
	pass "SO_SNDTIMEO: a blocking write to a peer that never reads ends with EAGAIN"
else
	fail "SO_SNDTIMEO" "$out $(cat "$T/wlog")"
fi
