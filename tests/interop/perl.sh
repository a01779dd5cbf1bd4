#!/bin/sh
# tests/interop/perl.sh — Perl programs of two classic kinds under the
# shim: a fork-per-connection server (tests/interop/pl/forkserver.pl:
# IO::Socket::INET, a child per client, PerlIO's buffered print, a
# SIGCHLD handler that interrupts the parent's accept) under an accept
# rule, and an event-loop client (tests/interop/pl/nbclient.pl: a
# non-blocking connect, select() for writability, SO_ERROR, syswrite and
# sysread as select says, shutdown(SHUT_WR)) under a connect rule.
# Asserted: 6 openssl s_client at once get the greeting of a child of
# their own, their lines echoed, 300000 bytes and the end marker; the
# parent reaped 6 children, each exit 0; the client's 300000 bytes all
# reach a Python TLS server, which answers after the client's
# shutdown(SHUT_WR) (close_notify); after a refused connect, a read of the
# socket says end of file and a write EPIPE, as TCP's, with no handshake
# tried or logged; TLS on both ends in the shim's logs,
# no error; a plain client gets nothing but TLS alerts; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim perl_setup
command -v perl >/dev/null || { fail perl_setup "perl not installed (perl)"; exit 1; }
PLD=$TLSSHIM_TOP/tests/interop/pl

P=$(free_port)
policy "$T/srv.policy" <<EOC
rules = ( { name = "pl-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/srv.log" shimbg perl "$PLD/forkserver.pl" "$P" >"$T/srv.out" 2>&1
SRV=$!
track "$SRV"
if ! wait_ready "$SRV" "$T/srv.out" '^ready' 15 || ! wait_listen "$P" 15 "$SRV"; then
	fail perl_setup "forkserver.pl did not listen$(show "$T/srv.out" "$T/srv.log")"
	exit 1
fi

name=perl_fork_per_connection_server
pids=""
for i in 1 2 3 4 5 6; do
	printf 'line one %d\nline two %d\nbig 300000\nquit\n' $i $i |
		timeout $((30 * TS)) openssl s_client -quiet -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
			-verify_return_error -verify_hostname localhost >"$T/c$i.out" 2>"$T/c$i.err" &
	pids="$pids $!"
done
bad=0
for p in $pids; do wait "$p" || bad=$((bad + 1)); done
ok=0
kids=""
big=$(printf '%s' abcdefghijklmnopqrstuvwxyz | head -c 26)
for i in 1 2 3 4 5 6; do
	k=$(sed -n '1s/^hello from \([0-9]*\)$/\1/p' "$T/c$i.out")
	[ -n "$k" ] && kids="$kids $k"
	# The big reply: line 4 (300000 bytes, no newline of its own).
	n=$(sed -n 4p "$T/c$i.out" | tr -d '\n' | wc -c)
	bad_chars=$(sed -n 4p "$T/c$i.out" | tr -d 'a-z\n' | wc -c)
	[ -n "$k" ] && [ "$(sed -n 2p "$T/c$i.out")" = "echo: line one $i" ] &&
	[ "$(sed -n 3p "$T/c$i.out")" = "echo: line two $i" ] && [ "$n" -eq 300000 ] && [ "$bad_chars" -eq 0 ] &&
	[ "$(sed -n 4p "$T/c$i.out" | head -c 26)" = "$big" ] &&
	[ "$(sed -n 5,6p "$T/c$i.out" | tr '\n' ' ')" = "end bye " ] && ok=$((ok + 1))
done
distinct=$(echo $kids | tr ' ' '\n' | sort -u | grep -c .)
wait_lines "$T/srv.out" '^reaped [0-9]+ status 0$' 6 >/dev/null 2>&1
reaped=$(count "$T/srv.out" '^reaped [0-9]+ status 0$')
if [ $bad -eq 0 ] && [ $ok -eq 6 ] && [ "$distinct" -eq 6 ] && [ "$reaped" -eq 6 ]; then
	pass "$name (6 clients at once, 6 children, each: greeting, 2 echoes, 300000 bytes, bye; 6 reaped, exit 0)"
else
	fail "$name" "$bad clients failed, $ok of 6 right, $distinct children, $reaped reaped: $(head -c 300 "$T/c1.err")$(show "$T/srv.out" "$T/srv.log")"
fi

name=perl_nonblocking_client
U=$(free_port)
while [ "$U" = "$P" ]; do U=$(free_port); done
start_peer up server --port "$U" --cert "$CERTS/server.crt" --key "$CERTS/server.key" --mode count \
	--status "$T/up.status" || { fail "$name" "tlspeer.py did not start$(show "$T/up.out")"; }
policy "$T/cli.policy" <<EOC
rules = ( { name = "pl-out"; direction = "connect"; port = $U; ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/cli.log" shimmed perl "$PLD/nbclient.pl" "$U" 300000 >"$T/nb.out" 2>&1
rc=$?
wait_for "$T/up.status" '^unwrap' 10 >/dev/null
if [ $rc -eq 0 ] && grep -q '^connected$' "$T/nb.out" && grep -q '^sent 300000$' "$T/nb.out" &&
   grep -q '^got: received 300000 bytes$' "$T/nb.out" && grep -q '^eof clean$' "$T/up.status"; then
	pass "$name (300000 bytes sent, the server's count read after shutdown(SHUT_WR); eof clean)"
else
	fail "$name" "exit $rc: $(tr '\n' '|' <"$T/nb.out") status: $(tr '\n' '|' <"$T/up.status" 2>/dev/null)$(show "$T/cli.log")"
fi

name=perl_refused_connect_reads_end_of_file
# Nothing listens on R: the connect is refused; the socket was never a
# connection, so no handshake may start: a read says end of file and a
# write EPIPE, as TCP's, and the shim logs no handshake error.
R=$(free_port)
while [ "$R" = "$P" ] || [ "$R" = "$U" ]; do R=$(free_port); done
policy "$T/ref.policy" <<EOC
rules = ( { name = "pl-refused"; direction = "connect"; port = $R; ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/ref.log" shimmed perl "$PLD/nbclient.pl" "$R" 10 >"$T/ref.out" 2>&1
rc=$?
if [ $rc -eq 3 ] && [ "$(tr '\n' '|' <"$T/ref.out")" = "connect: SO_ERROR 111|read 0 errno 0|write -1 errno 32|" ] &&
   ! grep -q -E ': (error|warn): ' "$T/ref.log"; then
	pass "$name (SO_ERROR 111; read: 0; write: EPIPE; no handshake tried)"
else
	fail "$name" "exit $rc: $(tr '\n' '|' <"$T/ref.out")$(show "$T/ref.log")"
fi

name=perl_both_sides_tls
na=$(logged_tls "$T/srv.log" pl-in accepted)
nc=$(count "$T/cli.log" 'rule "pl-out": connected TLSv1\.3 .*verified')
if [ "$na" -eq 6 ] && [ "$nc" -eq 1 ] && ! grep -q -E ': (error|warn): ' "$T/srv.log" "$T/cli.log"; then
	pass "$name (accepted 6, connected 1 verified, no error)"
else
	fail "$name" "accepted $na of 6, connected $nc of 1$(show "$T/srv.log" "$T/cli.log")"
fi

no_clear perl_plain_client_gets_nothing_in_clear "$P" "line" "$SRV"

kill_tree "$SRV"
