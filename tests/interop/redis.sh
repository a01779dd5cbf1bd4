#!/bin/sh
# tests/interop/redis.sh — a real daemon with its own epoll event loop:
# Debian's redis-server, plain, under the shim with an accept rule, talked
# to by redis-cli --tls and redis-benchmark --tls (hiredis + OpenSSL);
# and the other way round: plain redis-cli under the shim with a connect
# rule, talking to redis-server's own TLS port.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim redis_setup
for _c in redis-server redis-cli redis-benchmark; do
	command -v "$_c" >/dev/null || { fail redis_setup "$_c not installed (redis-server, redis-tools)"; exit 1; }
done

# start_redis LAUNCH NAME ARGS...: redis-server ARGS in the background
# (LAUNCH: shimbg, under the shim; bg, without), with its own directory
# $T/NAME.d, stdout $T/NAME.out; waits for "Ready to accept connections".
# The pid is in RSRV.
start_redis() {
	_sr_launch=$1 _sr_name=$2; shift 2
	mkdir -p "$T/$_sr_name.d"
	"$_sr_launch" redis-server --save '' --appendonly no --bind 127.0.0.1 --daemonize no \
		--dir "$T/$_sr_name.d" --logfile '' --loglevel notice "$@" \
		>"$T/$_sr_name.out" 2>&1
	RSRV=$!
	wait_for "$T/$_sr_name.out" 'Ready to accept connections' 15
}

# Requests per redis-benchmark test (SET, GET), 50 clients: 20000 each
# (400 a client, pipelined through one epoll loop: every request after
# the first few takes the paths they took; with 50000 the script took
# 15 s of CPU on the default build, with 20000 8-9 s, the same checks);
# 10000 on the ASan build, whose run is there for the library's memory
# errors on the same paths (every client's connection, handshake, reads
# and writes), not for the count: redis-benchmark and the shimmed
# redis-server took most of its 26 s of CPU.
if asan_build; then NREQ=10000; else NREQ=20000; fi
# A 1 MB value (base64 text, no newline) and a small one.
head -c 786432 /dev/urandom | base64 -w0 >"$T/big"
SMALL="small value over TLS $$"

# ----------------------------------------------------------------------
# redis-server under the shim (accept rule), TLS clients.
P=$(free_port)
policy "$T/srv.conf" <<EOF
rules = ( { name = "redis-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
export TLSSHIM_LOG_FILE="$T/srv.log" TLSSHIM_LOG=info
if ! start_redis shimbg shimmed --port "$P"; then
	fail redis_setup "shimmed redis-server did not start$(show "$T/shimmed.out" "$T/srv.log")"
	exit 1
fi
unset TLSSHIM_LOG_FILE TLSSHIM_LOG
rcli() { timeout $((30 * TS)) redis-cli --tls --cacert "$CERTS/ca.crt" --sni localhost -h 127.0.0.1 -p "$P" "$@"; }

out=$(rcli PING 2>&1)
if [ "$out" = PONG ]; then
	pass "redis_cli_tls_ping"
else
	fail "redis_cli_tls_ping" "got '$out'$(show "$T/srv.log")"
fi

out1=$(rcli SET small "$SMALL" 2>&1)
out2=$(rcli GET small 2>&1)
if [ "$out1" = OK ] && [ "$out2" = "$SMALL" ]; then
	pass "redis_cli_tls_set_get_small"
else
	fail "redis_cli_tls_set_get_small" "SET: '$out1', GET: '$out2'$(show "$T/srv.log")"
fi

out1=$(rcli -x SET big <"$T/big" 2>&1)
rcli GET big >"$T/big.got" 2>&1
printf '\n' >>"$T/big"         # redis-cli ends the value with a newline
len=$(rcli STRLEN big 2>&1)
if [ "$out1" = OK ] && cmp -s "$T/big" "$T/big.got" && [ "$len" = 1048576 ]; then
	pass "redis_cli_tls_set_get_1MB"
else
	fail "redis_cli_tls_set_get_1MB" "SET: '$out1', STRLEN '$len', GET $(wc -c <"$T/big.got") bytes$(show "$T/big.got" "$T/srv.log")"
fi

# Through a wiretap: the value and the command are not on the wire.
Q=$(free_port)
if start_peer tap relay --port "$Q" --to "$P" --record "$T/wire"; then
	secret="SECRET-REDIS-VALUE-$$-4711"
	o1=$(timeout $((30 * TS)) redis-cli --tls --cacert "$CERTS/ca.crt" --sni localhost -h 127.0.0.1 -p "$Q" SET secretkey "$secret" 2>&1)
	o2=$(timeout $((30 * TS)) redis-cli --tls --cacert "$CERTS/ca.crt" --sni localhost -h 127.0.0.1 -p "$Q" GET secretkey 2>&1)
	first=$(od -A n -t x1 -N 1 "$T/wire.c2s" 2>/dev/null | tr -d ' ')
	if [ "$o1" = OK ] && [ "$o2" = "$secret" ] && [ "$first" = 16 ] &&
	   has_no "$T/wire.c2s" "$secret" && has_no "$T/wire.s2c" "$secret" &&
	   has_no "$T/wire.c2s" secretkey; then
		pass "redis_tls_wire_has_no_plaintext"
	else
		fail "redis_tls_wire_has_no_plaintext" "SET '$o1', GET '$o2', first byte '$first'"
	fi
	stop "$PEER"
else
	fail "redis_tls_wire_has_no_plaintext" "relay did not start$(show "$T/tap.err")"
fi

# redis-benchmark: 50 TLS clients, NREQ SETs and NREQ GETs.
timeout $((120 * TS)) redis-benchmark --tls --cacert "$CERTS/ca.crt" --sni localhost -h 127.0.0.1 -p "$P" \
	-c 50 -n $NREQ -t set,get -q >"$T/bench.raw" 2>&1
brc=$?
tr '\r' '\n' <"$T/bench.raw" | sed 's/^ *//' | grep -v '^$' >"$T/bench.out"
final=$(grep -E '^(SET|GET): [0-9.]+ requests per second' "$T/bench.out")
errs=$(grep -i -E 'error|refused|reset|closed|could not' "$T/bench.out" | head -3)
if [ "$brc" -ne 0 ]; then
	fail "redis_benchmark_tls_50_clients_set_get" "redis-benchmark exited $brc$(show "$T/bench.out" "$T/srv.log")"
elif [ -n "$errs" ]; then
	fail "redis_benchmark_tls_50_clients_set_get" "errors: $errs"
elif ! echo "$final" | grep -q '^SET: ' || ! echo "$final" | grep -q '^GET: '; then
	fail "redis_benchmark_tls_50_clients_set_get" "no SET and GET result lines$(show "$T/bench.out")"
else
	pass "redis_benchmark_tls_50_clients_set_get ($(echo "$final" | sed 's/ requests per second.*/ rps/' | tr '\n' ' ' | sed 's/ $//'))"
fi
# The server saw no protocol errors (a garbled byte stream would show here).
errstat=$(rcli INFO errorstats 2>&1 | grep '^errorstat_')
total=$(rcli INFO stats 2>&1 | tr -d '\r' | sed -n 's/^total_commands_processed://p')
if [ -z "$errstat" ] && [ -n "$total" ] && [ "$total" -ge $((2 * NREQ)) ]; then
	pass "redis_server_counted_the_commands_without_errors"
else
	fail "redis_server_counted_the_commands_without_errors" "total_commands_processed '$total', errorstats '$errstat'"
fi

# A plain redis-cli (no shim, no TLS) cannot talk to the shimmed server:
# the shim refuses the plaintext, redis-server never sees a command.
before=$(lines "$T/srv.log" 'does not speak TLS')
out=$(audit_exclude_during "$P" "redis_plain_client_refused: a plain redis-cli sends PING in clear to the TLS port on purpose" \
	timeout $((20 * TS)) redis-cli -h 127.0.0.1 -p "$P" PING 2>&1)
after=$(lines "$T/srv.log" 'does not speak TLS')
if echo "$out" | grep -q PONG; then
	fail "redis_plain_client_refused" "a plaintext client got PONG"
elif [ "$after" -ne $((before + 1)) ]; then
	fail "redis_plain_client_refused" "no log line about the plaintext peer ('$out')$(show "$T/srv.log")"
elif [ "$(rcli PING 2>&1)" != PONG ]; then
	fail "redis_plain_client_refused" "the server does not answer TLS clients after the plaintext one$(show "$T/shimmed.out" "$T/srv.log")"
else
	pass "redis_plain_client_refused (client said: $(echo "$out" | head -1))"
fi

# SHUTDOWN through TLS: redis-server exits 0.
rcli SHUTDOWN NOSAVE >/dev/null 2>&1
wait_exit "$RSRV" 15; rc=$?
if [ "$rc" -eq 0 ]; then
	pass "redis_shutdown_over_tls_exit_0"
else
	fail "redis_shutdown_over_tls_exit_0" "redis-server exited $rc$(show "$T/shimmed.out" "$T/srv.log")"
fi

# ----------------------------------------------------------------------
# Native TLS redis-server (no shim); plain redis-cli under the shim.
P=$(free_port)
if ! start_redis bg native --tls-port "$P" --port 0 --tls-cert-file "$CERTS/server.crt" \
	--tls-key-file "$CERTS/server.key" --tls-ca-cert-file "$CERTS/ca.crt" --tls-auth-clients no; then
	fail redis_native_setup "redis-server with TLS did not start$(show "$T/native.out")"
	exit 1
fi
policy "$T/cli.conf" <<EOF
rules = ( { name = "redis-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOF
export TLSSHIM_LOG_FILE="$T/cli.log" TLSSHIM_LOG=info
pcli() { shimmed redis-cli -h 127.0.0.1 -p "$P" "$@"; }

out=$(pcli PING 2>&1)
if [ "$out" = PONG ] && grep -q 'rule "redis-out": connected TLSv1.3 .* verified' "$T/cli.log"; then
	pass "shimmed_redis_cli_to_native_tls_ping"
else
	fail "shimmed_redis_cli_to_native_tls_ping" "got '$out'$(show "$T/cli.log" "$T/native.out")"
fi
out1=$(pcli SET small "$SMALL" 2>&1)
out2=$(pcli GET small 2>&1)
if [ "$out1" = OK ] && [ "$out2" = "$SMALL" ]; then
	pass "shimmed_redis_cli_to_native_tls_set_get_small"
else
	fail "shimmed_redis_cli_to_native_tls_set_get_small" "SET: '$out1', GET: '$out2'$(show "$T/cli.log")"
fi
head -c 1048576 "$T/big" >"$T/big.val"
out1=$(pcli -x SET big <"$T/big.val" 2>&1)
pcli GET big >"$T/big.got2" 2>&1
if [ "$out1" = OK ] && cmp -s "$T/big" "$T/big.got2"; then
	pass "shimmed_redis_cli_to_native_tls_set_get_1MB"
else
	fail "shimmed_redis_cli_to_native_tls_set_get_1MB" "SET: '$out1', GET $(wc -c <"$T/big.got2") bytes$(show "$T/cli.log")"
fi
# redis-benchmark (plain) under the shim: 50 clients connecting at once,
# non-blocking connects and the replies waited for in its own epoll loop.
: >"$T/cli.log"
timeout $((120 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" TLSSHIM_LOG=warn \
	redis-benchmark -h 127.0.0.1 -p "$P" -c 50 -n $NREQ -t set,get -q >"$T/bench2.raw" 2>&1
brc=$?
tr '\r' '\n' <"$T/bench2.raw" | sed 's/^ *//' | grep -v '^$' >"$T/bench2.out"
final=$(grep -E '^(SET|GET): [0-9.]+ requests per second' "$T/bench2.out")
errs=$(grep -i -E 'error|refused|reset|closed|could not' "$T/bench2.out" | head -3)
name=shimmed_redis_benchmark_to_native_tls_50_clients
if [ "$brc" -ne 0 ]; then
	fail "$name" "redis-benchmark exited $brc$(show "$T/bench2.out" "$T/cli.log")"
elif [ -n "$errs" ]; then
	fail "$name" "errors: $errs"
elif ! echo "$final" | grep -q '^SET: ' || ! echo "$final" | grep -q '^GET: '; then
	fail "$name" "no SET and GET result lines$(show "$T/bench2.out")"
elif [ -s "$T/cli.log" ]; then
	fail "$name" "the shim logged warnings$(show "$T/cli.log")"
else
	pass "$name ($(echo "$final" | sed 's/ requests per second.*/ rps/' | tr '\n' ' ' | sed 's/ $//'))"
fi

# Without the shim, the same plain redis-cli gets nowhere with a TLS server.
out=$(audit_exclude_during "$P" "plain_redis_cli_to_native_tls_fails: a plain redis-cli sends PING in clear to a TLS server on purpose" \
	timeout $((20 * TS)) redis-cli -h 127.0.0.1 -p "$P" PING 2>&1)
if echo "$out" | grep -q PONG; then
	fail "plain_redis_cli_to_native_tls_fails" "PONG without TLS?"
else
	pass "plain_redis_cli_to_native_tls_fails"
fi
unset TLSSHIM_LOG_FILE TLSSHIM_LOG
stop "$RSRV"
