#!/bin/sh
# tests/interop/dnsmasq.sh — DNS over TLS made by the shim from a plain
# DNS server and forwarder: Debian's dnsmasq (one process with its own
# poll loop; each TCP client is served by a forked child, which opens its
# own TCP connection to the upstream server, trying MSG_FASTOPEN first)
# under an accept rule on its port and a connect rule to the upstream's,
# which is tests/interop/py/dot.py, a resolver that speaks only TLS.
# Asserted, for 3 clients one after the other (dot.py client, 4 questions
# pipelined on one connection each): names from dnsmasq's hosts file
# answered locally, others forwarded upstream over TLS and answered, an
# unknown local-only name refused; the upstream answered every forwarded
# question; the shim accepted 3 and connected 3 (verified), each child's
# TCP Fast Open refused (a warn line) and its connect() made TLS, and
# logged no error; a plain DNS client gets nothing but TLS alerts; the
# wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim dnsmasq_setup
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || { fail dnsmasq_setup "dnsmasq not installed (dnsmasq-base)"; exit 1; }

P=$(free_port)
U=$(free_port)
while [ "$U" = "$P" ]; do U=$(free_port); done
printf '10.1.2.3 host1.test\n10.1.2.4 host2.test\n' >"$T/hosts"
bg "$PY" "$PYD/dot.py" server "$U" "$CERTS/server.crt" "$CERTS/server.key" 192.0.2.7 >"$T/up.out" 2>&1
UP=$!
if ! wait_ready "$UP" "$T/up.out" '^ready' 10; then
	fail dnsmasq_setup "dot.py server did not start$(show "$T/up.out")"
	exit 1
fi
policy "$T/dns.policy" <<EOC
rules = (
  { name = "dns-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "dns-up"; direction = "connect"; port = $U; ca = "$CERTS/ca.crt"; server_name = "localhost"; }
);
EOC
# -k: in the foreground, but forking for TCP (-d would not fork).  Names
# under .test are local only (never forwarded).
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg "$DNSMASQ" -k --log-facility=- -p "$P" \
	--listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --addn-hosts="$T/hosts" \
	--local=/test/ --server="127.0.0.1#$U" -u root --pid-file= --log-queries >"$T/dnsmasq.out" 2>&1
DM=$!
listen_or_exit dnsmasq_setup "dnsmasq" "$DM" "$P" "$T/dnsmasq.out" "$T/shim.log"

name=dnsmasq_dot_local_and_forwarded
good=0
for i in 1 2 3; do
	timeout $((30 * TS)) "$PY" "$PYD/dot.py" client "$P" "$CERTS/ca.crt" host1.test "fwd$i.example" \
		host2.test nothere.test >"$T/client.$i" 2>&1 || continue
	grep -q '^host1\.test rcode 0 answers 1 addr 10\.1\.2\.3$' "$T/client.$i" &&
	grep -q "^fwd$i\\.example rcode 0 answers 1 addr 192\\.0\\.2\\.7\$" "$T/client.$i" &&
	grep -q '^host2\.test rcode 0 answers 1 addr 10\.1\.2\.4$' "$T/client.$i" &&
	grep -q '^nothere\.test rcode [35] answers 0 addr -$' "$T/client.$i" && good=$((good + 1))
done
if [ $good -eq 3 ] && [ "$(count "$T/up.out" '^answered fwd[123]\.example$')" -eq 3 ]; then
	pass "$name (3 clients: 2 local names, 1 forwarded over TLS, 1 unknown each)"
else
	fail "$name" "$good of 3 clients answered right: $(cat "$T"/client.* | tr '\n' '|')$(show "$T/up.out" "$T/dnsmasq.out" "$T/shim.log")"
fi

name=dnsmasq_both_sides_tls
na=$(logged_tls "$T/shim.log" dns-in accepted)
nc=$(count "$T/shim.log" 'rule "dns-up": connected TLSv1\.3 .*verified')
if [ "$na" -eq 3 ] && [ "$nc" -eq 3 ] && ! grep -q ': error: ' "$T/shim.log" &&
   [ "$(grep ': warn: ' "$T/shim.log" | grep -c -v 'MSG_FASTOPEN')" -eq 0 ]; then
	pass "$name (accepted 3, connected 3 verified; $(count "$T/shim.log" 'MSG_FASTOPEN') Fast Open attempts refused, then connect())"
else
	fail "$name" "accepted $na of 3, connected $nc of 3$(show "$T/shim.log")"
fi

name=dnsmasq_plain_client_gets_nothing_in_clear
# (a shell argument cannot hold a DNS message's zero bytes: the plain
# client's first bytes are text, which is no TLS either)
plain_clients "$P" "$T/raw" "host1.test"
if [ ! -s "$T/raw.silent" ] && alerts_only "$T/raw.plain" && alive "$DM"; then
	pass "$name (silent client: nothing; plain client: $(wc -c <"$T/raw.plain") bytes, TLS alerts only)"
else
	fail "$name" "silent client got '$(head -c 60 "$T/raw.silent")'; plain client got '$(od -A n -t x1 "$T/raw.plain" | head -c 120)'"
fi

kill_tree "$DM"
stop "$UP"
