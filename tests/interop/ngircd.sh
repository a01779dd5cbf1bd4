#!/bin/sh
# tests/interop/ngircd.sh — an IRC server that forks a resolver child for
# every new connection while the others are live: Debian's ngircd (its
# own poll/epoll loop, "DNS = yes": a child per connection looks the
# client's name up and writes the answer on a pipe) under an accept rule.
# Each fork hands the program's live TLS sessions to pumps (docs/fork.md),
# so the clients that registered first talk through them.
# Asserted: 10 Python ssl clients connect one after the other, register,
# join #t; each sends a message to #t and receives the 9 others', exact;
# each quits and gets a clean TLS close; the shim accepted 10 TLS clients,
# handed 9 sessions to pumps and logged no error; 30 more clients at
# once (forks during handshakes) register and quit cleanly; the pumps end
# with their clients; a plain client gets nothing back but TLS alerts;
# the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim ngircd_setup
NGIRCD=$(command -v ngircd || echo /usr/sbin/ngircd)
[ -x "$NGIRCD" ] || { fail ngircd_setup "ngircd not installed (ngircd)"; exit 1; }
id irc >/dev/null 2>&1 || { fail ngircd_setup "no irc user"; exit 1; }

open_tmp
X=$T/irc
mkdir -p "$X"
chown irc: "$X"
san_logs_to "$X"
P=$(free_port)
cat >"$X/ngircd.conf" <<EOC
[Global]
	Name = irc.test
	Info = tlsshim test
	Listen = 127.0.0.1
	Ports = $P
	PidFile = $X/pid
	MotdPhrase = hello
	ServerUID = irc
	ServerGID = irc
[Options]
	DNS = yes
	Ident = no
	PAM = no
[Limits]
	MaxConnectionsIP = 0
	MaxJoins = 0
EOC
policy "$T/irc.policy" <<EOC
rules = ( { name = "irc-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
# -n: in the foreground; it changes to user irc after opening its port
# (the library has its policy, key and log file by then).
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg "$NGIRCD" -n -f "$X/ngircd.conf" >"$T/irc.out" 2>&1
IRC=$!
listen_or_exit ngircd_setup "ngircd" "$IRC" "$P" "$T/irc.out" "$T/shim.log"

name=ngircd_10_clients_in_a_channel
timeout -k 2 $((90 * TS)) "$PY" "$PYD/irc_clients.py" "$P" "$CERTS/ca.crt" 10 >"$T/client.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^ok 10 of 10$' "$T/client.out"; then
	pass "$name (each got the 9 others' messages, exact; a clean close each)"
else
	fail "$name" "exit $rc: $(tr '\n' '|' <"$T/client.out")$(show "$T/irc.out" "$T/shim.log")"
fi

name=ngircd_log
na=$(logged_tls "$T/shim.log" irc-in accepted)
# The resolver fork for client I comes before its handshake (the shim's
# waits for the first read): it hands the sessions of clients 1..I-1
# that are not yet in a pump to one each, so 9 in all.
np=$(count "$T/shim.log" 'rule "irc-in": session handed to a pump process')
if [ "$na" -eq 10 ] && [ "$np" -eq 9 ] && ! grep -q -E ': (error|warn): ' "$T/shim.log"; then
	pass "$name (accepted 10, 9 sessions handed to pumps by the resolver forks, no error)"
else
	fail "$name" "accepted $na of 10, $np of 9 sessions in pumps$(show "$T/shim.log")"
fi

name=ngircd_30_clients_at_once
# 30 clients connect at the same time: a resolver fork may come while
# other sessions are in their handshakes.
timeout -k 2 $((90 * TS)) "$PY" "$PYD/irc_clients.py" "$P" "$CERTS/ca.crt" 30 at-once >"$T/once.out" 2>&1
rc=$?
na=$(logged_tls "$T/shim.log" irc-in accepted)
if [ $rc -eq 0 ] && grep -q '^ok 30 of 30$' "$T/once.out" && [ "$na" -eq 40 ] && ! grep -q -E ': (error|warn): ' "$T/shim.log"; then
	pass "$name (30 registered and quit cleanly; $(count "$T/shim.log" 'session handed to a pump') sessions in pumps in all)"
else
	fail "$name" "exit $rc: $(tr '\n' '|' <"$T/once.out"); $na of 40 accepted$(show "$T/irc.out" "$T/shim.log")"
fi

name=ngircd_pumps_end
# pumps: the processes running ngircd's command line that are neither
# ngircd nor its children (a pump is a grandchild, left on its own).
pumps() {
	for _p in $(pgrep -f -- "$X/ngircd.conf"); do
		[ "$_p" = "$IRC" ] && continue
		[ "$(ps -o ppid= -p "$_p" | tr -d ' ')" = "$IRC" ] && continue
		echo "$_p"
	done | wc -l
}
# Every client has quit and closed: each pump sends its close_notify and
# ends (bounded).
n=$((100 * TS))
while [ "$(pumps)" -gt 0 ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
left=$(pumps)
if [ "$left" -eq 0 ] && alive "$IRC"; then
	pass "$name (the pumps ended with their clients)"
else
	fail "$name" "$left pump processes left$(show "$T/shim.log")"
fi

no_clear ngircd_plain_client_gets_nothing_in_clear "$P" "NICK plain" "$IRC"

kill_tree "$IRC"
