#!/bin/sh
# Readiness on TLS fds: poll/select report plaintext buffered inside the
# TLS layer; a non-blocking connect completes only after the verified
# handshake (poll POLLOUT, then SO_ERROR), and a refused handshake shows
# as ECONNREFUSED through SO_ERROR.
. "$TLSSHIM_TOP/tests/lib.sh"
HERE=$TLSSHIM_TOP/tests/preload

# A client that sends 200 lines in one go and expects them back; the
# server under test reads 1 byte per wake-up.
cat >"$T/lines.py" <<'PY'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                    server_hostname="localhost")
msg = b"".join(b"line %04d of the buffered plaintext test\n" % i for i in range(200))
s.sendall(msg)
got = b""
while len(got) < len(msg):
    d = s.recv(65536)
    if not d:
        break
    got += d
print("echo ok" if got == msg else "echo MISMATCH %d/%d" % (len(got), len(msg)))
s.unwrap()
s.close()
PY

for mode in poll select; do
	P=$(free_port)
	policy "$T/srv.conf" <<EOC
rules = ( { name = "poll-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
	flag=""; [ $mode = select ] && flag=-s
	bg shim "$PROGS/poll_server" $flag -b 1 -n 2 "$P" >"$T/srv.out" 2>&1
	wait_port "$P"
	# wait_port's probe connection counts as one: allow for it.
	out=$(timeout 30 python3 "$T/lines.py" "$P" "$CERTS/ca.crt" 2>&1)
	if [ "$out" = "echo ok" ]; then
		pass "$mode: 1-byte reads see plaintext buffered inside TLS (200 lines echoed)"
	else
		fail "$mode: 1-byte reads see plaintext buffered inside TLS" "$out $(cat "$T/srv.out")"
	fi
done

# Non-blocking connect: Python's create_connection(timeout=) is connect()
# returning EINPROGRESS, poll(POLLOUT), getsockopt(SO_ERROR).
cat >"$T/nbclient.py" <<'PY'
import socket, sys
try:
    s = socket.create_connection(("localhost", int(sys.argv[1])), timeout=10)
except OSError as e:
    print("connect error:", e.errno)
    sys.exit(2)
s.sendall(b"SECRET-PLAINTEXT-4711 over a non-blocking socket\n")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    d = s.recv(1000)
    if not d:
        break
    data += d
print(data.decode().strip())
s.close()
PY
for cert in server wrongname; do
	P=$(free_port)
	policy "$T/cli.conf" <<EOC
rules = ( { name = "py-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	bg python3 "$HERE/tls_echo_server.py" "$P" "$CERTS/$cert.crt" "$CERTS/$cert.key" 1 >"$T/echo.out" 2>&1
	sleep 0.3; i=0; while ! grep -q listening "$T/echo.out" && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
	out=$(TLSSHIM_LOG_FILE="$T/log" timeout 20 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		python3 "$T/nbclient.py" "$P" 2>&1)
	if [ $cert = server ]; then
		if [ "$out" = "SECRET-PLAINTEXT-4711 over a non-blocking socket" ]; then
			pass "non-blocking connect: handshake completes behind poll(POLLOUT), data echoed"
		else
			fail "non-blocking connect: handshake completes behind poll(POLLOUT)" "$out"
		fi
	else
		if [ "$out" = "connect error: 111" ] && grep -qi "hostname mismatch" "$T/log" &&
		   ! grep -q SECRET "$T/echo.out"; then
			pass "non-blocking connect: wrong name gives ECONNREFUSED via SO_ERROR, logged, no data sent"
		else
			fail "non-blocking connect: wrong name refused" "$out / $(cat "$T/log" "$T/echo.out")"
		fi
	fi
done

# TCP Fast Open would connect and send in one call, never calling
# connect(): to a TLS destination it is refused, nothing reaches the peer.
P=$(free_port)
policy "$T/tfo.conf" <<EOC
rules = ( { name = "tfo-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
python3 - "$P" >"$T/tfo-srv" 2>&1 <<'PY' &
import socket, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1); ls.settimeout(3)
try:
    c, _ = ls.accept(); c.settimeout(1); print(repr(c.recv(100)))
except OSError:
    print("no connection")
PY
tfo=$!; _bg_pids="$_bg_pids $tfo"; sleep 0.3
out=$(TLSSHIM_LOG_FILE="$T/tfo.log" timeout 10 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/tfo.conf" \
	python3 -c 'import socket, sys
s = socket.socket()
try:
    s.sendto(b"SECRET-TFO-DATA", socket.MSG_FASTOPEN, ("127.0.0.1", int(sys.argv[1])))
    print("sent")
except OSError as e:
    print("errno", e.errno)' "$P" 2>&1)
wait $tfo
if [ "$out" = "errno 95" ] && has_no "$T/tfo-srv" SECRET && grep -q "MSG_FASTOPEN" "$T/tfo.log"; then
	pass "MSG_FASTOPEN to a TLS destination: EOPNOTSUPP, logged, nothing sent"
else
	fail "MSG_FASTOPEN refused" "$out / $(cat "$T/tfo-srv" "$T/tfo.log")"
fi
