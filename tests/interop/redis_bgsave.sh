#!/bin/sh
# redis-server under the shim forks for BGSAVE while a TLS client is
# connected: the live session moves to a pump at the fork, its epoll
# registration moves with the fd, and the client's commands keep working
# (no two processes ever encrypt with the session).
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
P=$(free_port)
policy "$T/r.conf" <<EOC
rules = ( { name = "redis-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
mkdir -p "$T/data"
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg redis-server --port "$P" --bind 127.0.0.1 \
	--appendonly no --dir "$T/data" --daemonize no >"$T/redis.log" 2>&1
srv=$!
wait_for "$T/redis.log" "Ready to accept" 15
out=$(timeout $((40 * TS)) "$PY" "$PYD/redis_bgsave_client.py" "$P" "$CERTS/ca.crt" 2>&1)
expect='+OK | +Background saving started | $6 before | +OK | $5 after'
if [ "$out" = "$expect" ] && grep -q "session handed to a pump process" "$T/shim.log" &&
   grep -q "Background saving terminated with success" "$T/redis.log"; then
	pass "redis BGSAVE (fork) with a live TLS client: session pumped, client keeps working"
else
	fail "redis BGSAVE with a live TLS client" "got: $out; $(tail -5 "$T/redis.log"; cat "$T/shim.log")"
fi
stop "$srv"
