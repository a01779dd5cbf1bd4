#!/bin/sh
# The end of a process and numbers closed behind the shim's back:
# a program that ends with _exit() (skipping atexit) still ends its
# session with close_notify; an fd closed with a raw syscall (as the C
# library sometimes does) and handed out again by open() is a plain file
# again, never a TLS connection.
. "$TLSSHIM_TOP/tests/lib.sh"
P=$(free_port)
policy "$T/c.conf" <<EOC
rules = ( { name = "life-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg python3 "$TLSSHIM_TOP/tests/interop/tlspeer.py" server --port "$P" --cert "$CERTS/server.crt" \
	--key "$CERTS/server.key" --mode record --record "$T/rec" --status "$T/st" >"$T/peer.out" 2>&1
sleep 0.5
TLSSHIM_LOG_FILE="$T/log" timeout 20 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" python3 -c '
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"bye via _exit\n")
os._exit(0)' "$P" >"$T/out" 2>&1
i=0; while ! grep -q "^eof" "$T/st" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
if grep -q "^eof clean" "$T/st" && grep -q "bye via _exit" "$T/rec"; then
	pass "_exit() without close: the session still ends with close_notify"
else
	fail "_exit sends close_notify" "$(cat "$T/st" "$T/out" "$T/log" "$T/peer.out" 2>/dev/null)"
fi

P=$(free_port)
policy "$T/s.conf" <<EOC
rules = ( { name = "life-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
echo "contents of a plain file" >"$T/file"
out=$(TLSSHIM_LOG_FILE="$T/log2" timeout 20 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" python3 -c '
import ctypes, os, socket, sys
ls = socket.socket(); ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1)
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
a, _ = ls.accept()                      # a TLS connection to the shim
n = a.detach()
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall(3, n)                      # SYS_close, behind the shim
fd = os.open(sys.argv[2], os.O_RDONLY)  # the kernel hands the number out again
print(fd == n, os.read(fd, 100).decode().strip())' "$P" "$T/file" 2>&1)
if [ "$out" = "True contents of a plain file" ]; then
	pass "a number closed behind the shim and reopened by open() reads as the plain file"
else
	fail "stale entry cleared on open()" "$out $(cat "$T/log2")"
fi
