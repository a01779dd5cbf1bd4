#!/bin/sh
# tests/interop/nutcracker.sh — a proxy without TLS that multiplexes many
# clients onto few server connections, made TLS on both sides by the
# shim: Debian's nutcracker (twemproxy: one epoll loop for clients and
# servers; its server connections made with a non-blocking connect in
# that loop; requests of many clients pipelined on one connection, an
# MGET split across servers) under an accept rule on its port and
# connect rules to two redis-server that speak TLS themselves (their
# tls-port) and to a collector with a certificate of another CA.
# Asserted: 12 Python ssl clients at once, each 40 pipelined SET of 3 KB
# values, 40 pipelined GET and one MGET of the 40, all exact; the keys
# are on both servers (DBSIZE over redis' own TLS) and add up; the shim
# accepted 12 TLS clients and connected to each server once, verified,
# no error; server one killed and started again: the shim reports the
# truncation, nutcracker connects again (verified) and 4 more clients
# are served exact; a request for the pool whose server has the untrusted
# certificate gets nutcracker's error and that server no byte; a plain
# client gets nothing back but TLS alerts; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim nutcracker_setup
NUTCRACKER=$(command -v nutcracker || echo /usr/sbin/nutcracker)
[ -x "$NUTCRACKER" ] || { fail nutcracker_setup "nutcracker not installed (nutcracker)"; exit 1; }
command -v redis-server >/dev/null 2>&1 || { fail nutcracker_setup "redis-server not installed (redis-server)"; exit 1; }

X=$T/tw
mkdir -p "$X"
P=$(free_port)
PB=$(free_port)
R1=$(free_port)
R2=$(free_port)
B=$(free_port)
ST=$(free_port)
# redis N PORT: redis-server speaking TLS itself on PORT; pid in RSRV.
redis() {
	mkdir -p "$X/r$1"
	bg redis-server --save '' --appendonly no --bind 127.0.0.1 --daemonize no --dir "$X/r$1" \
		--logfile '' --port 0 --tls-port "$2" --tls-cert-file "$CERTS/server.crt" \
		--tls-key-file "$CERTS/server.key" --tls-ca-cert-file "$CERTS/ca.crt" --tls-auth-clients no \
		>"$X/r$1.out" 2>&1
	RSRV=$!
	wait_ready "$RSRV" "$X/r$1.out" 'Ready to accept connections' 15
}
redis 1 "$R1" || { fail nutcracker_setup "redis-server 1 did not start$(show "$X/r1.out")"; exit 1; }
R1PID=$RSRV
redis 2 "$R2" || { fail nutcracker_setup "redis-server 2 did not start$(show "$X/r2.out")"; exit 1; }
start_collector bad "$B" "$CERTS/untrusted.crt" "$CERTS/untrusted.key" 100 ||
	{ fail nutcracker_setup "the untrusted server did not start$(show "$T/bad.out")"; exit 1; }

cat >"$X/nutcracker.yml" <<EOC
alpha:
  listen: 127.0.0.1:$P
  hash: fnv1a_64
  distribution: ketama
  redis: true
  server_connections: 1
  auto_eject_hosts: false
  timeout: 20000
  servers:
   - 127.0.0.1:$R1:1 one
   - 127.0.0.1:$R2:1 two
beta:
  listen: 127.0.0.1:$PB
  redis: true
  auto_eject_hosts: false
  timeout: 20000
  servers:
   - 127.0.0.1:$B:1 untrusted
EOC
policy "$T/tw.policy" <<EOC
rules = (
  { name = "twem-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "beta-in"; direction = "accept"; port = $PB; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "redis-out"; direction = "connect"; port = [ $R1, $R2 ]; ca = "$CERTS/ca.crt"; server_name = "localhost"; },
  { name = "bad-out"; direction = "connect"; port = $B; ca = "$CERTS/ca.crt"; server_name = "localhost"; }
);
EOC
# -s/-a: its statistics port (plain, not in the policy) on loopback.
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg "$NUTCRACKER" -c "$X/nutcracker.yml" -s "$ST" -a 127.0.0.1 \
	-o "$X/nutcracker.log" >"$T/tw.out" 2>&1
TW=$!
listen_or_exit nutcracker_setup "nutcracker" "$TW" "$P $PB" "$T/tw.out" "$X/nutcracker.log" "$T/shim.log"

name=nutcracker_12_clients_multiplexed
timeout -k 2 $((90 * TS)) "$PY" "$PYD/twem_client.py" "$P" "$CERTS/ca.crt" 12 40 3000 >"$T/client.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^ok 12 of 12$' "$T/client.out"; then
	pass "$name (40 pipelined SET, 40 GET and an MGET each, exact)"
else
	fail "$name" "exit $rc: $(tr '\n' '|' <"$T/client.out")$(show "$X/nutcracker.log" "$T/shim.log")"
fi

name=nutcracker_keys_on_both_servers
dbsize() {
	timeout $((20 * TS)) redis-cli --tls --cacert "$CERTS/ca.crt" --sni localhost -h 127.0.0.1 -p "$1" DBSIZE 2>&1
}
d1=$(dbsize "$R1")
d2=$(dbsize "$R2")
if [ "$d1" -gt 0 ] 2>/dev/null && [ "$d2" -gt 0 ] && [ $((d1 + d2)) -eq 480 ]; then
	pass "$name ($d1 + $d2 keys)"
else
	fail "$name" "DBSIZE '$d1' and '$d2' (480 in all, on both expected)"
fi

name=nutcracker_both_sides_tls
na=$(logged_tls "$T/shim.log" twem-in accepted)
nc=$(count "$T/shim.log" 'rule "redis-out": connected TLSv1\.3 .*verified')
if [ "$na" -eq 12 ] && [ "$nc" -eq 2 ] && ! grep -q -E ': (error|warn): ' "$T/shim.log"; then
	pass "$name (accepted 12, connected 2 verified, no error)"
else
	fail "$name" "accepted $na of 12, connected $nc of 2$(show "$T/shim.log")"
fi

name=nutcracker_server_restart
# Server one dies (SIGKILL: its FIN without a close_notify) and comes
# back on its port: the shim reports the truncation to nutcracker (its
# epoll loop sees the connection end), which connects again, verified,
# on the next request for that server.
kill -9 "$R1PID" 2>/dev/null
wait_exit "$R1PID" 10 2>/dev/null  # (no "Killed" notice)
wait_for "$T/shim.log" 'rule "redis-out": connection truncated: TCP FIN without TLS close_notify' 20
if ! redis 1b "$R1"; then
	fail "$name" "redis-server 1 did not start again$(show "$X/r1b.out")"
else
	timeout -k 2 $((90 * TS)) "$PY" "$PYD/twem_client.py" "$P" "$CERTS/ca.crt" 4 40 3000 >"$T/client2.out" 2>&1
	rc=$?
	nc=$(count "$T/shim.log" 'rule "redis-out": connected TLSv1\.3 .*verified')
	nt=$(count "$T/shim.log" 'rule "redis-out": connection truncated')
	nw=$(count "$T/shim.log" ': (error|warn): ')
	if [ $rc -eq 0 ] && grep -q '^ok 4 of 4$' "$T/client2.out" && [ "$nc" -eq 3 ] && [ "$nt" -eq 1 ] && [ "$nw" -eq 1 ]; then
		pass "$name (the truncation reported, a third verified connection, 4 clients served exact)"
	else
		fail "$name" "exit $rc: $(tr '\n' '|' <"$T/client2.out"); $nc of 3 connections, $nt of 1 truncation, $nw warnings$(show "$X/nutcracker.log" "$T/shim.log")"
	fi
fi

name=nutcracker_untrusted_server_refused
printf '*2\r\n$3\r\nGET\r\n$6\r\nsecret\r\n' | timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$PB" \
	-CAfile "$CERTS/ca.crt" -verify_return_error -verify_hostname localhost -quiet -ign_eof >"$T/beta.out" 2>"$T/beta.err" &
BETA=$!
wait_for "$T/beta.out" '^-ERR' 20
kill "$BETA" 2>/dev/null
wait "$BETA" 2>/dev/null
nb=$(count "$T/shim.log" 'rule "bad-out": certificate verification failed')
if grep -q '^-ERR' "$T/beta.out" && [ "$nb" -ge 1 ] && [ ! -s "$T/bad.rec" ] && alive "$TW"; then
	pass "$name (nutcracker answered '$(head -n1 "$T/beta.out" | tr -d '\r')'; the shim refused $nb handshakes; the server got no byte)"
else
	fail "$name" "answer '$(head -c 100 "$T/beta.out")', $nb refusals, the server got $(wc -c <"$T/bad.rec" 2>/dev/null) bytes$(show "$T/beta.err" "$T/bad.st" "$T/shim.log")"
fi

no_clear nutcracker_plain_client_gets_nothing_in_clear "$P" "*1
\$4
PING
" "$TW"

kill_tree "$TW"
