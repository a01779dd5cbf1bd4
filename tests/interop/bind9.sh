#!/bin/sh
# tests/interop/bind9.sh — BIND 9's named, an authoritative DNS server over
# TCP, made a DNS-over-TLS server (RFC 7858) by the shim: libuv event loops
# on 2 worker threads (-n 2), each accepting on the listening socket, and
# zone transfers written in many messages.  Two accept rules: port P with
# ALPN "dot" (dig asks for it, and will not transfer a zone over TLS
# without it), port Q requiring a client certificate from the test CA.
# The clients are BIND's own dig (+tls, verifying the chain and the name)
# and tests/interop/py/dot.py.
# Asserted:
#   * dig +tls gets an answer; a zone transfer (AXFR: 20004 records)
#     arrives whole, every address exact;
#   * 20 connections at once, 50 pipelined questions on each, every answer
#     right;
#   * on Q, dig with the test client certificate is answered; with one of
#     another CA it gets no answer, the shim logs why, named sees no query;
#   * a DNS client that does not speak TLS gets TLS alerts only, a silent
#     one nothing; named lives on;
#   * SIGTERM: named stops (exit 0); the shim logged no error; the wire
#     audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim bind9_setup
NAMED=$(command -v named || echo /usr/sbin/named)
[ -x "$NAMED" ] || { fail bind9_setup "named not installed (bind9)"; exit 1; }
command -v dig >/dev/null || { fail bind9_setup "dig not installed (bind9-dnsutils)"; exit 1; }

P=$(free_port)
Q=$(free_port)
N=$T/named
mkdir -p "$N"
# (tests/interop/nsd.sh's zone: dot.py load knows its addresses)
{
	printf '$ORIGIN example.test.\n$TTL 300\n'
	printf '@ IN SOA ns.invalid. hostmaster 1 3600 900 604800 300\n@ IN NS ns.invalid.\n'
	printf 'www IN A 192.0.2.80\n'
	awk 'BEGIN { for (k = 0; k < 20000; k++) printf "h%d IN A 10.0.%d.%d\n", k, int(k / 256), k % 256 }'
} >"$N/example.test.zone"
# Runs as root (no -u), no control channel, every file under $N, queries
# logged (named_client_cert_untrusted_refused looks for none).
cat >"$N/named.conf" <<EOC
options {
  directory "$N";
  listen-on port $P { 127.0.0.1; };
  listen-on port $Q { 127.0.0.1; };
  listen-on-v6 { none; };
  pid-file none;
  session-keyfile "$N/session.key";
  recursion no;
  allow-transfer { 127.0.0.1; };
  querylog yes;
};
controls { };
logging { channel q { file "$N/query.log"; print-time yes; }; category queries { q; }; };
zone "example.test" { type primary; file "$N/example.test.zone"; };
EOC
policy "$T/named.policy" <<EOC
rules = (
  { name = "dot"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; alpn = ["dot"]; },
  { name = "dot-mtls"; direction = "accept"; port = $Q; cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
    ca = "$CERTS/ca.crt"; require_client_cert = true; }
);
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg "$NAMED" -g -n 2 -c "$N/named.conf" >"$T/named.out" 2>&1
NA=$!
listen_or_exit bind9_setup "named" "$NA" "$P $Q" "$T/named.out" "$T/shim.log"
if ! wait_ready "$NA" "$T/named.out" 'all zones loaded' 30; then
	fail bind9_setup "named did not load its zone$(show "$T/named.out" "$T/shim.log")"; exit 1
fi

# dig_tls PORT OUT ARGS...: dig over TLS to 127.0.0.1:PORT, the chain
# verified against the test CA for the name localhost (bounded: 5 s a
# try, one try, 30 s in all).
dig_tls() {
	_dt_port=$1 _dt_out=$2
	shift 2
	timeout $((30 * TS)) dig @127.0.0.1 -p "$_dt_port" +tls +tls-ca="$CERTS/ca.crt" +tls-hostname=localhost \
		+time=$((5 * TS)) +tries=1 "$@" >"$_dt_out" 2>&1
}

name=named_dig_tls_query
dig_tls "$P" "$T/q.out" +noall +answer h77.example.test A
rc=$?
if [ $rc -eq 0 ] && grep -q -E '^h77\.example\.test\.[[:space:]]+300[[:space:]]+IN[[:space:]]+A[[:space:]]+10\.0\.0\.77$' "$T/q.out"; then
	pass "$name"
else
	fail "$name" "dig exit $rc$(show "$T/q.out" "$T/shim.log")"
fi

name=named_dig_axfr_20004_records_over_tls
dig_tls "$P" "$T/axfr.out" example.test AXFR
rc=$?
awk 'BEGIN { for (k = 0; k < 20000; k++) printf "h%d.example.test. 10.0.%d.%d\n", k, int(k / 256), k % 256 }' | sort >"$T/axfr.want"
awk '$4 == "A" && $1 ~ /^h/ { print $1, $5 }' "$T/axfr.out" | sort >"$T/axfr.got"
if [ $rc -eq 0 ] && grep -q '^;; XFR size: 20004 records' "$T/axfr.out" && cmp -s "$T/axfr.want" "$T/axfr.got"; then
	pass "$name ($(grep -o 'XFR size: .*' "$T/axfr.out"); every address exact)"
else
	fail "$name" "dig exit $rc, $(wc -l <"$T/axfr.got") of 20000 addresses: $(grep '^;;' "$T/axfr.out" | tail -n 3 | tr '\n' '|')$(show "$T/shim.log")"
fi

name=named_20_connections_50_pipelined_questions_each
timeout -k 2 $((60 * TS)) "$PY" "$PYD/dot.py" load "$P" "$CERTS/ca.crt" 20 50 >"$T/load.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^load ok 1000 of 1000$' "$T/load.out"; then
	pass "$name (1000 answers right)"
else
	fail "$name" "exit $rc: $(head -c 300 "$T/load.out")$(show "$T/shim.log")"
fi

name=named_client_cert_answered
dig_tls "$Q" "$T/mtls.out" +tls-certfile="$CERTS/client.crt" +tls-keyfile="$CERTS/client.key" +short h300.example.test A
rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$T/mtls.out")" = "10.0.1.44" ] &&
   grep -q 'rule "dot-mtls": accepted TLSv1\.3 .* client .*CN=' "$T/shim.log"; then
	pass "$name"
else
	fail "$name" "dig exit $rc$(show "$T/mtls.out" "$T/shim.log")"
fi

name=named_client_cert_untrusted_refused
dig_tls "$Q" "$T/unt.out" +tls-certfile="$CERTS/client-untrusted.crt" +tls-keyfile="$CERTS/client-untrusted.key" +short h301.example.test A
rc=$?
if ! grep -q '^10\.' "$T/unt.out" && [ "$(count "$T/shim.log" 'rule "dot-mtls": .*certificate verification failed')" -eq 1 ] &&
   ! grep -q 'h301\.example\.test' "$N/query.log"; then
	pass "$name (dig exit $rc; $(grep -o 'certificate verification failed: .*' "$T/shim.log" | head -n 1))"
else
	fail "$name" "dig exit $rc$(show "$T/unt.out" "$N/query.log" "$T/shim.log")"
fi

no_clear named_plain_dns_client_gets_no_answer "$P" "plain DNS" "$NA"

name=named_stops_on_sigterm
kill "$NA"
wait_exit "$NA" 15
rc=$?
if [ $rc -eq 0 ] && grep -q 'exiting' "$T/named.out"; then
	pass "$name"
else
	fail "$name" "exit status $rc$(show "$T/named.out")"
fi

name=named_every_connection_tls_no_error
na=$(logged_tls "$T/shim.log" dot accepted)
if [ "$na" -ge 22 ] && ! grep -q ': error: ' "$T/shim.log"; then
	pass "$name ($na accepted on the DoT port)"
else
	fail "$name" "$na accepted (want >= 22)$(show "$T/shim.log")"
fi
kill_tree "$NA"
