#!/bin/sh
# tests/interop/memcached.sh — a threaded libevent daemon: Debian's
# memcached (-t 4: a listener thread hands each accepted connection to one
# of 4 worker threads, each with its own libevent loop; replies go out
# with sendmsg() of several iovecs) under the shim with an accept rule.
# Asserted: 24 Python ssl clients at once, each a 100 KB value set and
# got back exact and 50 pipelined set/get pairs, then quit (memcached
# closes); stats say 24 connections were served; the shim accepted TLS
# 25 times (with the probe) and logged no error; a plain client gets
# nothing back but TLS alerts; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim memcached_setup
MEMCACHED=$(command -v memcached || echo /usr/bin/memcached)
[ -x "$MEMCACHED" ] || { fail memcached_setup "memcached not installed (memcached)"; exit 1; }

P=$(free_port)
policy "$T/mc.policy" <<EOC
rules = ( { name = "mc-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
# -U 0: no UDP.  As root memcached wants a user to run as (-u).
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg "$MEMCACHED" -u root -l 127.0.0.1 -p "$P" -U 0 \
	-t 4 -c 256 -m 64 >"$T/mc.out" 2>&1
MC=$!
listen_or_exit memcached_setup "memcached" "$MC" "$P" "$T/mc.out" "$T/shim.log"

name=memcached_24_clients_at_once
timeout -k 2 $((60 * TS)) "$PY" "$PYD/mc_client.py" "$P" "$CERTS/ca.crt" 24 100000 >"$T/client.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^ok 24 of 24$' "$T/client.out"; then
	pass "$name (100 KB value each, exact; 50 pipelined set/get pairs each)"
else
	fail "$name" "exit $rc: $(tr '\n' '|' <"$T/client.out")$(show "$T/mc.out" "$T/shim.log")"
fi

name=memcached_stats_and_log
tls_stats "$P" "$T/stats" -verify_return_error -verify_hostname localhost
conns=$(stat_value "$T/stats" 'STAT total_connections ')
n=$(logged_tls "$T/shim.log" mc-in accepted)
# total_connections counts the listening socket too: 24 + 1 + the stats client.
if [ "$conns" = 26 ] && [ "$n" -eq 25 ] && ! grep -q -E ': (error|warn): ' "$T/shim.log"; then
	pass "$name (total_connections $conns, 25 TLS sessions accepted, no error)"
else
	fail "$name" "total_connections '$conns' (26 expected), $n of 25 accepted$(show "$T/stats.err" "$T/shim.log")"
fi

name=memcached_plain_client_gets_nothing_in_clear
plain_clients "$P" "$T/raw" "stats"
if [ ! -s "$T/raw.silent" ] && alerts_only "$T/raw.plain" && alive "$MC"; then
	pass "$name (silent client: nothing; plain 'stats': $(wc -c <"$T/raw.plain") bytes, TLS alerts only)"
else
	fail "$name" "silent client got '$(head -c 60 "$T/raw.silent")'; plain client got '$(od -A n -t x1 "$T/raw.plain" | head -c 120)'"
fi

kill_tree "$MC"
