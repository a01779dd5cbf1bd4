#!/bin/sh
# What one request and response on a kept-open connection costs the
# library, counted (callgrind: calls, not time): a shimmed client
# (rtt_client, blocking write then read) against the shimmed echo_server,
# 100 and then 300 round trips; the difference over 200 is per round trip.
# The blocking read and the write make no call that a round trip does not
# need (issue 12, bench/README.md "Request latency, counted"):
#  - OpenSSL's "is this kTLS?" (about ten a record, BIO_get_ktls_send and
#    _recv) is answered without looking the connection up (BIO_get_data)
#    while no connection uses kTLS: the BIO's read and write look it up,
#    one each per round trip (13 before; up to 4 pass: a read may find
#    the kernel empty, or a record in two pieces);
#  - "does OpenSSL hold anything?" is one SSL_has_pending, no SSL_pending;
#  - the thread's waiter is one load, no pthread_getspecific;
#  - a call on a TLS fd takes its reference to the connection inline, no
#    call of shim_route_conn (and its conntab_get and shim_initialising);
#  - helgrind's client requests (four per lock taken and let go, each a
#    dozen instructions that do nothing outside helgrind) are made only
#    under helgrind: outside it the library's only one is the look that
#    asks (valgrind -v -v -v names the first request a tool did not
#    handle: it must be that look, HG+0x12e, not a lock's).
#  - OpenSSL's allocations (about five a round trip) reach malloc and
#    free through the library's hooks (core/alloc.c) in four instructions
#    a call, a load and test of one flag and a jump: the pump's and the
#    exit heap's tests run only once either may be in play (about six a
#    call while they ran every time, 8 K instructions a handshake).
# Only the library's own calls are counted.  The counts: default build
# only (valgrind cannot run a sanitizer build); the round trips themselves
# run in every build.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

P=$(free_port)
policy "$T/hot.conf" <<EOC
rules = ( { name = "hot-in"; direction = "accept"; port = $P; handshake_timeout_ms = $((60000 * TS));
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
          { name = "hot-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; handshake_timeout_ms = $((60000 * TS)); } );
EOC
if ! start_echo echo "$P"; then
	fail "hot path counts: echo_server" "never listened $(show "$T/echo.out" "$T/echo.err")"
	exit 0
fi

# The round trips themselves, in every build (the sanitizers watch them).
shimmed "$PROGS/rtt_client" localhost "$P" 300 >"$T/rtt.out" 2>"$T/rtt.err"
rc=$?
if [ $rc -eq 0 ] && grep -q '^rtt ok 300$' "$T/rtt.out"; then
	pass "hot path: 300 requests and responses on one kept-open connection, both ends shimmed"
else
	fail "hot path: 300 round trips" "exit $rc $(show "$T/rtt.out" "$T/rtt.err" "$T/echo.err")"
fi

callgrind_usable "hot path counts" || exit 0

ok=1
for n in 100 300; do
	# (valgrind runs it 20-50 times slower: its own bound, not shimmed's)
	timeout -k 2 $((120 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		valgrind -q --tool=callgrind --callgrind-out-file="$T/cg-$n" \
		"$PROGS/rtt_client" localhost "$P" "$n" >"$T/rtt-$n.out" 2>"$T/rtt-$n.err"
	rc=$?
	if [ $rc -ne 0 ] || ! grep -q "^rtt ok $n\$" "$T/rtt-$n.out" || [ ! -s "$T/cg-$n" ]; then
		fail "hot path counts: $n round trips under callgrind" "exit $rc $(show "$T/rtt-$n.out" "$T/rtt-$n.err" "$T/echo.err")"
		ok=0
	fi
done
[ $ok = 1 ] || exit 0

# name FUNC MAX-per-100-round-trips
each() { cg_bound "hot path" "$T/cg-100" "$T/cg-300" 100 "round trips" "$@"; }
each "OpenSSL's kTLS questions answered without a look-up" BIO_get_data 400
each "one look at what OpenSSL holds, not two" SSL_pending 0
each "the thread's waiter without a key look-up" pthread_getspecific 0

# own FILE FUNC: the instructions of FUNC itself (callgrind's self cost;
# its callers are not always listed in the caller tree).
own() {
	callgrind_annotate --inclusive=no --threshold=100 "$1" 2>/dev/null | awk -v fn="$2" '
		/\[.*libtlsshim\.so\]$/ { f = $0; sub(/ \[.*/, "", f); sub(/.*:/, "", f)
			if (f == fn) { c = $1; gsub(/,/, "", c); t += c } }
		END { print t + 0 }'
}
# calls FILE FUNC: FUNC's calls from anywhere (its caller tree).
calls() {
	callgrind_annotate --tree=caller --threshold=100 "$1" 2>/dev/null | awk -v fn="$2" '
		/^ *$/ { n = 0; next }
		/ < / { c = $0; sub(/x\).*/, "", c); sub(/.*\(/, "", c); gsub(/,/, "", c); n += c; next }
		/ \* / { f = $0; sub(/ \[.*/, "", f); sub(/.*[:* ]/, "", f); if (f == fn) t += n; n = 0; next }
		END { print t + 0 }'
}
# (each of OpenSSL's CRYPTO_malloc and CRYPTO_free calls the hook once; the
# hook's own callers are not listed, as it jumps to malloc or free)
for fn in crypto_malloc crypto_free; do
	oa=$(own "$T/cg-100" $fn); ob=$(own "$T/cg-300" $fn)
	ca=$(calls "$T/cg-100" CRYPTO_${fn#crypto_}); cb=$(calls "$T/cg-300" CRYPTO_${fn#crypto_})
	if [ $((cb - ca)) -gt 0 ] && [ $((ob - oa)) -le $((4 * (cb - ca))) ]; then
		pass "hot path: OpenSSL's allocator hook $fn in 4 instructions a call ($((ob - oa)) in $((cb - ca)) calls)"
	else
		fail "hot path: OpenSSL's allocator hook $fn in 4 instructions a call" "$((ob - oa)) instructions in $((cb - ca)) calls over 200 round trips (want at most 4 a call, and some calls)"
	fi
done
a=$(own "$T/cg-100" shim_route_conn); b=$(own "$T/cg-300" shim_route_conn)
if [ $(( (b - a) / 2 )) -le 0 ]; then
	pass "hot path: a TLS fd's connection referenced without a call (shim_route_conn: $(( (b - a) / 2 )) instructions per 100 round trips)"
else
	fail "hot path: a TLS fd's connection referenced without a call" "shim_route_conn ran $(( (b - a) / 2 )) instructions per 100 round trips (want 0; $a in 100 round trips, $b in 300)"
fi

# Helgrind's requests outside helgrind (the tool "none" handles none of
# them, and at -v -v -v names the first it met).
timeout -k 2 $((120 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	valgrind -v -v -v --tool=none --log-file="$T/vg-none.log" \
	"$PROGS/rtt_client" localhost "$P" 20 >"$T/rtt-none.out" 2>"$T/rtt-none.err"
rc=$?
first=$(grep -o 'unhandled client request: 0x[0-9a-f]* ([A-Z]*+0x[0-9a-f]*)' "$T/vg-none.log" | head -n 1)
if [ $rc -ne 0 ] || ! grep -q '^rtt ok 20$' "$T/rtt-none.out"; then
	fail "hot path: helgrind's requests only under helgrind" "20 round trips under valgrind --tool=none: exit $rc $(show "$T/rtt-none.out" "$T/rtt-none.err")"
elif [ "$first" = "unhandled client request: 0x4847012e (HG+0x12e)" ]; then
	pass "hot path: helgrind's requests only under helgrind (outside it, the first is the look that asks)"
else
	fail "hot path: helgrind's requests only under helgrind" "first request outside helgrind: ${first:-none seen}"
fi
