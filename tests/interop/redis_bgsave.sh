#!/bin/sh
# redis-server under the shim forks for BGSAVE while a TLS client is
# connected: the live session moves to a pump at the fork, its epoll
# registration moves with the fd, and the client's commands keep working
# (no two processes ever encrypt with the session).
. "$TLSSHIM_TOP/tests/lib.sh"
P=$(free_port)
policy "$T/r.conf" <<EOC
rules = ( { name = "redis-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
mkdir -p "$T/data"
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shim redis-server --port "$P" --bind 127.0.0.1 \
	--appendonly no --dir "$T/data" --daemonize no >"$T/redis.log" 2>&1 &
srv=$!; _bg_pids="$_bg_pids $srv"
i=0; while ! grep -q "Ready to accept" "$T/redis.log" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
out=$(timeout 30 python3 - "$P" "$CERTS/ca.crt" <<'PY' 2>&1
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10),
                    server_hostname="localhost")
f = s.makefile("rb")
def cmd(*a):
    s.sendall(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a))
    line = f.readline()
    if line.startswith(b"$") and line != b"$-1\r\n":
        line += f.readline()
    return line.decode().strip().replace("\r\n", " ")
r = [cmd(b"SET", b"k", b"before"), cmd(b"BGSAVE")]
time.sleep(1.0)                           # the save runs in the forked child
r += [cmd(b"GET", b"k"), cmd(b"SET", b"k", b"after"), cmd(b"GET", b"k")]
print(" | ".join(r))
PY
)
expect='+OK | +Background saving started | $6 before | +OK | $5 after'
if [ "$out" = "$expect" ] && grep -q "session handed to a pump process" "$T/shim.log" &&
   grep -q "Background saving terminated with success" "$T/redis.log"; then
	pass "redis BGSAVE (fork) with a live TLS client: session pumped, client keeps working"
else
	fail "redis BGSAVE with a live TLS client" "got: $out; $(tail -5 "$T/redis.log"; cat "$T/shim.log")"
fi
