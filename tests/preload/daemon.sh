#!/bin/sh
# daemon() forks inside the C library and the parent exits at once: the
# surviving process keeps its sessions (it may use them, and its close
# sends close_notify).  close_range()/closefrom() on a TLS fd end the
# session with close_notify like close().
. "$TLSSHIM_TOP/tests/lib.sh"
P=$(free_port)
policy "$T/c.conf" <<EOC
rules = ( { name = "dmn-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg python3 "$TLSSHIM_TOP/tests/interop/tlspeer.py" server --port "$P" --cert "$CERTS/server.crt" \
	--key "$CERTS/server.key" --mode echo --status "$T/st" >"$T/peer.out" 2>&1
sleep 0.5
TLSSHIM_LOG_FILE="$T/log" timeout 20 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	"$PROGS/daemon_client" localhost "$P" "$T/out"
i=0; while ! grep -q "^eof" "$T/st" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
if [ "$(cat "$T/out" 2>/dev/null)" = "first: one
second: two" ] && grep -q "^eof clean" "$T/st"; then
	pass "daemon(): the surviving process keeps using the session and ends it with close_notify"
else
	fail "daemon() keeps sessions" "$(cat "$T/out" "$T/st" "$T/log" 2>/dev/null)"
fi

for how in closerange closefrom; do
	P=$(free_port)
	policy "$T/r.conf" <<EOC
rules = ( { name = "cr-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
	bg python3 "$TLSSHIM_TOP/tests/interop/tlspeer.py" server --port "$P" --cert "$CERTS/server.crt" \
		--key "$CERTS/server.key" --mode echo --status "$T/st-$how" >"$T/peer-$how.out" 2>&1
	sleep 0.5
	TLSSHIM_LOG_FILE="$T/log-$how" timeout 20 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" python3 -c '
import ctypes, os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"x\n"); s.recv(10)
fd = s.detach()
if sys.argv[2] == "closerange":
    os.closerange(fd, fd + 1)              # close_range(2) in CPython 3.11
else:
    ctypes.CDLL(None).closefrom(fd)
time.sleep(1)' "$P" "$how"
	i=0; while ! grep -q "^eof" "$T/st-$how" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
	if grep -q "^eof clean" "$T/st-$how"; then
		pass "$how on a TLS fd sends close_notify"
	else
		fail "$how on a TLS fd sends close_notify" "$(cat "$T/st-$how" "$T/log-$how" 2>/dev/null)"
	fi
done
