#!/bin/sh
# tests/interop/nsd.sh — an authoritative DNS server made a DNS-over-TLS
# server (RFC 7858) by the shim: Debian's NSD, in the foreground (-d), with
# 2 server processes forked by the main one (each with its own event loop
# accepting TCP on the inherited listening socket), an xfrd process, and
# on SIGHUP a reload that forks new server processes and ends the old ones.
# An accept rule on its port; the clients are tests/interop/py/dot.py.
# Asserted:
#   * 20 connections at once, 200 questions pipelined on each, every
#     answer right (the zone has 20000 names);
#   * a zone transfer (AXFR: 20000 records in many messages, written by
#     NSD in pieces) arrives whole over TLS;
#   * SIGHUP: the old server process ends a connection it holds with
#     close_notify (NSD closes its TCP connections at a reload, with or
#     without the shim), and the new processes answer new connections;
#   * a DNS client that does not speak TLS gets TLS alerts only, a silent
#     one nothing; NSD lives on; the shim logs no error; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim nsd_setup
NSD=$(command -v nsd || echo /usr/sbin/nsd)
[ -x "$NSD" ] || { fail nsd_setup "nsd not installed (nsd)"; exit 1; }

P=$(free_port)
Z=$T/example.test.zone
{
	printf '$ORIGIN example.test.\n$TTL 300\n'
	printf '@ IN SOA ns.invalid. hostmaster 1 3600 900 604800 300\n@ IN NS ns.invalid.\n'
	printf 'www IN A 192.0.2.80\n'
	awk 'BEGIN { for (k = 0; k < 20000; k++) printf "h%d IN A 10.0.%d.%d\n", k, int(k / 256), k % 256 }'
} >"$Z"
# No privilege drop, no chroot, no database file, logs to a file.
cat >"$T/nsd.conf" <<EOC
server:
  ip-address: 127.0.0.1@$P
  port: $P
  do-ip6: no
  server-count: 2
  tcp-count: 100
  username: ""
  chroot: ""
  zonesdir: "$T"
  database: ""
  pidfile: "$T/nsd.pid"
  xfrdfile: "$T/xfrd.state"
  zonelistfile: "$T/zone.list"
  logfile: "$T/nsd.log"
  verbosity: 2
remote-control:
  control-enable: no
zone:
  name: example.test
  zonefile: example.test.zone
  provide-xfr: 127.0.0.1 NOKEY
EOC
policy "$T/nsd.policy" <<EOC
rules = ( { name = "dns-tls"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg "$NSD" -d -c "$T/nsd.conf" >"$T/nsd.out" 2>&1
NS=$!
listen_or_exit nsd_setup "nsd" "$NS" "$P" "$T/nsd.out" "$T/nsd.log" "$T/shim.log"
if ! wait_ready "$NS" "$T/nsd.log" 'nsd started' 30; then
	fail nsd_setup "nsd did not start$(show "$T/nsd.out" "$T/nsd.log" "$T/shim.log")"; exit 1
fi

dot() { timeout -k 2 $((60 * TS)) "$PY" "$PYD/dot.py" "$@"; }

name=nsd_20_connections_200_pipelined_questions_each
dot load "$P" "$CERTS/ca.crt" 20 200 >"$T/load.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^load ok 4000 of 4000$' "$T/load.out"; then
	pass "$name (4000 answers right)"
else
	fail "$name" "exit $rc: $(head -c 300 "$T/load.out")$(show "$T/nsd.log" "$T/shim.log")"
fi

name=nsd_axfr_20004_records_over_tls
dot axfr "$P" "$CERTS/ca.crt" example.test >"$T/axfr.out" 2>&1
rc=$?
# (20000 names, www, NS, and the SOA at both ends)
if [ $rc -eq 0 ] && grep -q -E '^axfr messages [0-9]+ records 20004$' "$T/axfr.out" &&
   grep -q 'axfr for example.test. from 127.0.0.1' "$T/nsd.log"; then
	pass "$name ($(cat "$T/axfr.out"))"
else
	fail "$name" "exit $rc: $(head -c 300 "$T/axfr.out")$(show "$T/nsd.log" "$T/shim.log")"
fi

name=nsd_reload_ends_held_connection_with_close_notify
bg "$PY" "$PYD/dot.py" hold "$P" "$CERTS/ca.crt" >"$T/hold.out" 2>&1
HOLD=$!
if wait_for "$T/hold.out" '^answered' 20; then
	kill -HUP "$NS"
	wait_exit "$HOLD" 30
	rc=$?
	if [ $rc -eq 0 ] && grep -q '^eof clean' "$T/hold.out" && wait_for "$T/nsd.log" 'SIGHUP received, reloading' 10; then
		pass "$name"
	else
		fail "$name" "exit $rc: $(tr '\n' '|' <"$T/hold.out")$(show "$T/nsd.log" "$T/shim.log")"
	fi
else
	fail "$name" "no answer: $(tr '\n' '|' <"$T/hold.out")"; stop "$HOLD"
fi

name=nsd_answers_after_reload
# (dot.py client's addr is a message's last 4 bytes: here the authority
# section's; load checks the addresses)
dot client "$P" "$CERTS/ca.crt" www.example.test nothere.example.test >"$T/after.out" 2>&1
rc=$?
dot load "$P" "$CERTS/ca.crt" 1 50 >>"$T/after.out" 2>&1 || rc=$((rc + 10))
if [ $rc -eq 0 ] && grep -q '^www.example.test rcode 0 answers 1 ' "$T/after.out" &&
   grep -q '^nothere.example.test rcode 3 answers 0' "$T/after.out" && grep -q '^load ok 50 of 50$' "$T/after.out"; then
	pass "$name"
else
	fail "$name" "exit $rc: $(tr '\n' '|' <"$T/after.out")$(show "$T/nsd.log" "$T/shim.log")"
fi

no_clear nsd_plain_dns_client_gets_no_answer "$P" "plain DNS" "$NS"

name=nsd_every_connection_tls_no_error
na=$(logged_tls "$T/shim.log" dns-tls accepted)
if [ "$na" -ge 24 ] && ! grep -q ': error: ' "$T/shim.log" && alive "$NS"; then
	pass "$name ($na accepted)"
else
	fail "$name" "$na accepted (want >= 24)$(show "$T/shim.log")"
fi
