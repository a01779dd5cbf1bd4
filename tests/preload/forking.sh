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
cat >"$T/clients.py" <<'PY'
import os, socket, ssl, sys, threading, time
sys.path.insert(0, sys.argv[6])
from tlspeer import exchange
port, ca, n, how, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(cafile=ca)
results = [None] * n

def one(i):
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=60)
        s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
        msg = os.urandom(size)
        # One thread per SSL object (OpenSSL forbids concurrent use):
        # tlspeer's exchange() interleaves sending and reading.
        got = exchange(s, msg, time.time() + 60)
        s.setblocking(True)
        s.settimeout(60)
        if bytes(got) != msg:
            results[i] = "echo mismatch: sent %d got %d" % (size, len(got))
            return
        s.unwrap()          # our close_notify, and the server's in answer
        s.close()
        results[i] = "ok"
    except (OSError, ssl.SSLError, EOFError) as e:
        results[i] = "%s: %s" % (type(e).__name__, e)

if how == "seq":
    for i in range(n):
        one(i)
else:
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
ok = results.count("ok")
print("%d/%d ok" % (ok, n))
for i, r in enumerate(results):
    if r != "ok":
        print("client %d: %s" % (i, r))
PY

# ------------------------------------------------ Python ForkingTCPServer
cat >"$T/fsrv.py" <<'PY'
import os, socketserver, sys
port, n = int(sys.argv[1]), int(sys.argv[2])

class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(60)
        while True:
            d = self.request.recv(65536)
            if not d:
                break
            self.request.sendall(d)

class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    request_queue_size = 64
    block_on_close = True       # server_close() waits for the children

    def handle_error(self, request, client_address):
        sys.stderr.write("handler error in pid %d\n" % os.getpid())
        super().handle_error(request, client_address)

s = Server(("127.0.0.1", port), Echo)
s.timeout = 30
print("listening", flush=True)
for _ in range(n):
    s.handle_request()
s.server_close()
print("served %d" % n, flush=True)
PY
P=$(free_port)
policy "$T/py.conf" <<EOC
rules = ( { name = "pyfork-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/pysrv.log" shimbg "$PY" "$T/fsrv.py" "$P" 70 >"$T/pysrv.out" 2>"$T/pysrv.err"
pysrv=$!
if ! wait_for "$T/pysrv.out" '^listening' 15; then
	fail "ForkingTCPServer starts under the shim" "$(show "$T/pysrv.out" "$T/pysrv.err" "$T/pysrv.log")"
	exit 1
fi
out=$(timeout 120 "$PY" "$T/clients.py" "$P" "$CERTS/ca.crt" 50 seq 20000 "$TLSSHIM_TOP/tests/interop" 2>&1)
if [ "$(echo "$out" | head -n 1)" = "50/50 ok" ]; then
	pass "ForkingTCPServer: 50 sequential verified TLS clients echoed, close_notify both ways"
else
	fail "ForkingTCPServer: 50 sequential clients" "$(echo "$out" | head -n 6 | tr '\n' ' ') $(show "$T/pysrv.err" "$T/pysrv.log")"
fi
out=$(timeout 120 "$PY" "$T/clients.py" "$P" "$CERTS/ca.crt" 20 conc 100000 "$TLSSHIM_TOP/tests/interop" 2>&1)
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
out=$(timeout 120 "$PY" "$T/clients.py" "$P" "$CERTS/ca.crt" 20 conc 50000 "$TLSSHIM_TOP/tests/interop" 2>&1)
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
