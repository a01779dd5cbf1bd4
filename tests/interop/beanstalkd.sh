#!/bin/sh
# tests/interop/beanstalkd.sh — a single-threaded epoll work queue with
# no TLS of its own: Debian's beanstalkd under the shim with an accept
# rule.  Its clients block in "reserve" until another connection puts a
# job: the producer's bytes, decrypted on one connection, must wake a
# reply written on another, all in one epoll loop.
# Asserted: 16 consumers (Python ssl) block in reserve, a producer puts
# 16 jobs of 60 KB; each consumer gets one job whole, the 16 bodies are
# the 16 put; stats say 16 puts and 16 deletes; the shim accepted TLS 18
# times and logged no error; a client with a certificate of another CA
# is refused on a port that requires one; a plain client gets nothing
# back but TLS alerts; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim beanstalkd_setup
BEANSTALKD=$(command -v beanstalkd || echo /usr/bin/beanstalkd)
[ -x "$BEANSTALKD" ] || { fail beanstalkd_setup "beanstalkd not installed (beanstalkd)"; exit 1; }

P=$(free_port)
PM=$(free_port)
policy "$T/bs.policy" <<EOC
rules = (
  { name = "bs-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "bs-mtls"; direction = "accept"; port = $PM; cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
    ca = "$CERTS/ca.crt"; require_client_cert = true; }
);
EOC
# Two beanstalkd: one per port (-z: jobs up to 1 MB).
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg "$BEANSTALKD" -l 127.0.0.1 -p "$P" -z 1048576 \
	>"$T/bs.out" 2>&1
BS=$!
listen_or_exit beanstalkd_setup beanstalkd "$BS" "$P" "$T/bs.out" "$T/shim.log"
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim-m.log" shimbg "$BEANSTALKD" -l 127.0.0.1 -p "$PM" \
	>"$T/bsm.out" 2>&1
BSM=$!
listen_or_exit beanstalkd_setup beanstalkd "$BSM" "$PM" "$T/bsm.out" "$T/shim-m.log"

name=beanstalkd_reserve_woken_by_another_connection
timeout -k 2 $((60 * TS)) "$PY" "$PYD/bs_client.py" "$P" "$CERTS/ca.crt" 16 60000 >"$T/client.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^ok 16 of 16$' "$T/client.out"; then
	pass "$name (16 consumers, 16 jobs of 60000 bytes, each body exact and once)"
else
	fail "$name" "exit $rc: $(tr '\n' '|' <"$T/client.out")$(show "$T/bs.out" "$T/shim.log")"
fi

name=beanstalkd_stats_and_log
tls_stats "$P" "$T/stats" -verify_return_error -verify_hostname localhost
puts=$(stat_value "$T/stats" 'cmd-put: ')
dels=$(stat_value "$T/stats" 'cmd-delete: ')
n=$(logged_tls "$T/shim.log" bs-in accepted)
# 16 consumers, the producer, the stats client.
if [ "$puts" = 16 ] && [ "$dels" = 16 ] && [ "$n" -eq 18 ] && ! grep -q -E ': (error|warn): ' "$T/shim.log"; then
	pass "$name (cmd-put $puts, cmd-delete $dels, 18 TLS sessions accepted, no error)"
else
	fail "$name" "cmd-put '$puts', cmd-delete '$dels' (16 expected), $n of 18 accepted$(show "$T/stats.err" "$T/shim.log")"
fi

name=beanstalkd_client_cert_required
tls_stats "$PM" "$T/m-ok" -cert "$CERTS/client.crt" -key "$CERTS/client.key"
good=$(stat_value "$T/m-ok" 'cmd-stats: ')
tls_stats "$PM" "$T/m-bad" -cert "$CERTS/client-untrusted.crt" -key "$CERTS/client-untrusted.key"
tls_stats "$PM" "$T/m-none"
# The refused clients' "stats" never reached beanstalkd (it accepted
# their connections, the shim's handshake waits for the first read, and
# read an error): the next client allowed is its stats command number 2.
tls_stats "$PM" "$T/m-ok2" -cert "$CERTS/client.crt" -key "$CERTS/client.key"
after=$(stat_value "$T/m-ok2" 'cmd-stats: ')
if [ "$good" = 1 ] && [ "$after" = 2 ] && [ ! -s "$T/m-bad.out" ] && [ ! -s "$T/m-none.out" ] && alive "$BSM"; then
	pass "$name (client of the test CA served; another CA's client and one without a certificate got nothing; beanstalkd got 2 stats commands)"
else
	fail "$name" "cmd-stats '$good' then '$after' (1, 2 expected); other CA got $(wc -c <"$T/m-bad.out") bytes, none $(wc -c <"$T/m-none.out")$(show "$T/m-bad.err" "$T/shim-m.log")"
fi

no_clear beanstalkd_plain_client_gets_nothing_in_clear "$P" "stats" "$BS"

kill_tree "$BS"
kill_tree "$BSM"
