#!/bin/sh
# tests/interop/erlang.sh — the Erlang runtime under the shim, with plain
# gen_tcp code: Debian's beam.smp (its own poll thread and schedulers,
# non-blocking sockets, writev).  beam.smp exports sigaction() and
# forwards it to the next __sigaction, the library's, which called the
# program's sigaction again: it died with SIGSEGV before its first line,
# with or without a policy (tests/preload/escape.sh has the same pattern
# in a C program).
#  * an echo server (gen_tcp:listen, {active, true}, one process per
#    connection) under an accept rule; an Erlang client under a connect
#    rule sends 1 MB and reads it back (equal), with shutdown(write);
#  * a Python ssl client (a standard TLS client, chain and name verified)
#    gets its line echoed by the server; a plain client is refused;
#  * the client under a rule whose CA did not sign the server gets
#    {error,econnrefused} and the log says why.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim erlang_setup
for _c in erl erlc; do
	command -v "$_c" >/dev/null || { fail erlang_setup "$_c not installed (erlang-base)"; exit 1; }
done

cat >"$T/e.erl" <<'ERL'
-module(e).
-export([server/1, client/2, connect/1]).
server(Port) ->
    {ok, L} = gen_tcp:listen(Port, [binary, {ip, {127,0,0,1}}, {active, false}, {reuseaddr, true}]),
    io:format("listening~n"),
    acc(L).
acc(L) ->
    {ok, S} = gen_tcp:accept(L),
    P = spawn(fun() -> receive go -> ok end, ok = inet:setopts(S, [{active, true}]), echo(S) end),
    ok = gen_tcp:controlling_process(S, P),
    P ! go,
    acc(L).
echo(S) ->
    receive
        {tcp, S, D} -> ok = gen_tcp:send(S, D), echo(S);
        {tcp_closed, S} -> ok;
        {tcp_error, S, _} -> ok
    end.
client(Port, N) ->
    {ok, S} = gen_tcp:connect({127,0,0,1}, Port, [binary, {active, false}], 20000),
    Data = rand:bytes(N),
    Self = self(),
    spawn(fun() -> ok = gen_tcp:send(S, Data), ok = gen_tcp:shutdown(S, write), Self ! sent end),
    Got = recv_all(S, []),
    receive sent -> ok after 20000 -> io:format("send stuck~n") end,
    io:format("client got ~p of ~p equal ~p~n", [byte_size(Got), N, Got =:= Data]).
recv_all(S, Acc) ->
    case gen_tcp:recv(S, 0, 20000) of
        {ok, D} -> recv_all(S, [Acc, D]);
        {error, closed} -> iolist_to_binary(Acc);
        {error, E} -> io:format("recv error ~p~n", [E]), iolist_to_binary(Acc)
    end.
connect(Port) ->
    io:format("connect ~p~n", [gen_tcp:connect({127,0,0,1}, Port, [binary, {active, false}], 20000)]).
ERL
if ! (cd "$T" && erlc e.erl) >"$T/erlc.out" 2>&1; then
	fail erlang_setup "erlc failed$(show "$T/erlc.out")"
	exit 1
fi

P=$(free_port)
policy "$T/policy.conf" <<EOF
rules = (
  { name = "erl-in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "erl-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; }
);
EOF
GOOD=$POLICY
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/server.log" shimbg erl -noshell -noinput -pa "$T" -eval "e:server($P)" \
	>"$T/server.out" 2>&1
SRV=$!
track "$SRV"
name=beam_starts_under_the_shim
if wait_ready "$SRV" "$T/server.out" '^listening' 20 && wait_listen "$P" 5 "$SRV"; then
	pass "$name"
else
	wait_gone "$SRV" 1; rc=$?
	fail "$name" "erl exited $rc before listening (139: SIGSEGV)$(show "$T/server.out" "$T/server.log")"
	exit 1
fi

name=erlang_client_1MB_echoed_over_tls
out=$(TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/client.log" shimmed erl -noshell -noinput -pa "$T" \
	-eval "e:client($P, 1048576), init:stop()" 2>&1)
na=$(logged_tls "$T/server.log" erl-in accepted)
nc=$(count "$T/client.log" 'rule "erl-out": connected TLSv1\.[23] .*verified')
if [ "$out" = "client got 1048576 of 1048576 equal true" ] && [ "$na" -eq 1 ] && [ "$nc" -eq 1 ]; then
	pass "$name"
else
	fail "$name" "client: $out; server accepted $na, client connected $nc$(show "$T/client.log" "$T/server.log")"
fi

name=standard_tls_client_echoed_plain_refused
out=$(timeout $((20 * TS)) "$PY" - "$P" "$CERTS/ca.crt" <<'PY' 2>&1
import socket, ssl, sys
from strict_tls import strict_client_ctx, connect
ctx = strict_client_ctx(sys.argv[2])
s = connect(ctx, int(sys.argv[1]), 20)
s.sendall(b"hello beam\n")
got = b""
while not got.endswith(b"\n"):
    d = s.recv(100)
    if not d:
        break
    got += d
print(got.decode().strip())
PY
)
before=$(lines "$T/server.log" 'does not speak TLS')
pout=$(audit_exclude_during "$P" "a plain client must be refused" \
	timeout $((20 * TS)) "$PY" -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $P), timeout=20)
s.sendall(b'plain text\n')
print(repr(s.recv(100)))" 2>&1)
after=$(lines "$T/server.log" 'does not speak TLS')
if [ "$out" = "hello beam" ] && [ "$after" -gt "$before" ] && [ "$pout" != "b'plain text\\n'" ]; then
	pass "$name (plain client got: $(echo "$pout" | tail -1))"
else
	fail "$name" "ssl client: $out; plain client: $pout; refusals $before -> $after$(show "$T/server.log")"
fi

name=untrusted_server_refused
policy "$T/bad.conf" <<EOF
rules = ( { name = "erl-out"; direction = "connect"; port = $P; ca = "$CERTS/other-ca.crt"; } );
EOF
out=$(TLSSHIM_LOG_FILE="$T/bad.log" shimmed erl -noshell -noinput -pa "$T" -eval "e:connect($P), init:stop()" 2>&1)
if [ "$out" = "connect {error,econnrefused}" ] && grep -q 'certificate verification failed' "$T/bad.log"; then
	pass "$name"
else
	fail "$name" "$out$(show "$T/bad.log")"
fi
POLICY=$GOOD

name=beam_sigterm_ends
kill -TERM "$SRV"
wait_gone "$SRV" 15; rc=$?
if [ "$rc" -ne 124 ] && [ "$rc" -ne 139 ]; then
	pass "$name (exit $rc)"
else
	fail "$name" "erl exited $rc$(show "$T/server.out" "$T/server.log")"
fi
