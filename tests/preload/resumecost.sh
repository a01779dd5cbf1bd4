#!/bin/sh
# What a resumed client connection costs the library, counted (callgrind:
# calls, not time): the shimmed pingpong client (a connect rule with the
# session cache, on by default) against the shimmed pingpong server,
# 10 and then 30 sequential connections, each after the first resuming
# the session of the one before (TLS 1.3 tickets); the difference over
# 20 is per connection.  The library makes no call of these on a resumed
# connection (issue 12, bench/README.md "The resumed rows, counted"):
#  - X509_cmp_current_time, which allocated and formatted an ASN1_TIME
#    for the current time to tell whether the session's peer certificate
#    has expired (about 5,400 instructions; twice a connection: the
#    cache's look before offering the session, the engine's after the
#    handshake): tls_x509_expired asks the same (tests/unit/test_resume.c
#    checks its answers against X509_cmp_current_time's);
#  - snprintf, for the peer's address and the copies of the peer and the
#    name (four a connection, 600 to 1,000 instructions each);
#  - inet_ntop, for the peer's IPv4 address (glibc's writes it with
#    sprintf: 1,500 instructions).
# The counts: default build only (valgrind cannot run a sanitizer build);
# the connections themselves, and their resumption, run in every build.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

P=$(free_port)
policy "$T/rc.conf" <<EOC
rules = ( { name = "rc-in"; direction = "accept"; port = $P; handshake_timeout_ms = $((60000 * TS));
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
          { name = "rc-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; handshake_timeout_ms = $((60000 * TS)); } );
EOC
export TLSSHIM_LOG=info
TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$PROGS/pingpong" server "$P" >"$T/srv.out" 2>"$T/srv.err"
SRV=$!
if ! wait_for "$T/srv.out" '^listening' 10; then
	fail "resumed connection counts: pingpong server" "never listened $(show "$T/srv.out" "$T/srv.err")"
	exit 0
fi

# resumed LOG: the client connections of LOG that resumed their session.
resumed() { lines "$1" 'rule "rc-out": connected .*, session resumed$'; }

# The connections themselves, in every build (the sanitizers watch them).
TLSSHIM_LOG_FILE="$T/cli.log" shimmed "$PROGS/pingpong" client localhost "$P" 20 >"$T/cli.out" 2>"$T/cli.err"
rc=$?
if [ $rc -eq 0 ] && grep -q '^20 connections' "$T/cli.out" && [ "$(resumed "$T/cli.log")" -eq 19 ]; then
	pass "resumed connections: 20 sequential connections, 19 resumed, both ends shimmed"
else
	fail "resumed connections: 20 connections, 19 resumed" "exit $rc, resumed $(resumed "$T/cli.log") $(show "$T/cli.out" "$T/cli.err" "$T/cli.log" "$T/srv.err")"
fi

callgrind_usable "resumed connection counts" || exit 0

ok=1
for n in 10 30; do
	before=$(lines "$T/srv.log" 'rule "rc-in": accepted .*, session resumed$')
	# (valgrind runs it 20-50 times slower: its own bound, not shimmed's)
	TLSSHIM_LOG=warn TLSSHIM_LOG_FILE="$T/cg-$n.log" timeout -k 2 $((120 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" valgrind -q --tool=callgrind --callgrind-out-file="$T/cg-$n" \
		"$PROGS/pingpong" client localhost "$P" "$n" >"$T/cg-$n.out" 2>"$T/cg-$n.err"
	rc=$?
	got=$(( $(lines "$T/srv.log" 'rule "rc-in": accepted .*, session resumed$') - before ))
	if [ $rc -ne 0 ] || ! grep -q "^$n connections" "$T/cg-$n.out" || [ ! -s "$T/cg-$n" ] ||
	   [ "$got" -ne $((n - 1)) ]; then
		fail "resumed connection counts: $n connections under callgrind" "exit $rc, $got resumed (server) $(show "$T/cg-$n.out" "$T/cg-$n.err" "$T/cg-$n.log" "$T/srv.err")"
		ok=0
	fi
done
[ $ok = 1 ] || exit 0

# name FUNC MAX-per-10-connections
each() { cg_bound "resumed connection" "$T/cg-10" "$T/cg-30" 10 connections "$@"; }
each "the peer's expiry told without X509_cmp_current_time" X509_cmp_current_time 0
each "the peer and the name formatted and copied without snprintf" snprintf 0
each "the peer's IPv4 address written without inet_ntop" inet_ntop 0
