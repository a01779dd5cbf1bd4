#!/bin/sh
# tests/interop/unbound.sh — DNS over TLS made by the shim from a plain
# recursive resolver: Debian's unbound (2 threads, each with its own event
# loop and its own listening socket on the port: so-reuseport; upstream
# TCP queries with non-blocking connect(), trying TCP Fast Open first,
# several queries on one upstream connection) under an accept rule on its
# port and a connect rule to the upstream's, which is
# tests/interop/py/dot.py, a resolver that speaks only TLS.
# Asserted, for 4 clients one after the other (dot.py client, 4 questions
# pipelined on one connection each): a local name answered from unbound's
# local-data, two others forwarded upstream over TLS and answered, an
# unknown local name NXDOMAIN; the upstream answered every forwarded
# question; the shim accepted 4 and connected (verified), refused each
# TCP Fast Open with a warn line and logged no error; a plain DNS client
# gets nothing but TLS alerts; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim unbound_setup
UNBOUND=$(command -v unbound || echo /usr/sbin/unbound)
[ -x "$UNBOUND" ] || { fail unbound_setup "unbound not installed (unbound)"; exit 1; }

P=$(free_port)
U=$(free_port)
while [ "$U" = "$P" ]; do U=$(free_port); done
bg "$PY" "$PYD/dot.py" server "$U" "$CERTS/server.crt" "$CERTS/server.key" 192.0.2.7 >"$T/up.out" 2>&1
UP=$!
if ! wait_ready "$UP" "$T/up.out" '^ready' 10; then
	fail unbound_setup "dot.py server did not start$(show "$T/up.out")"
	exit 1
fi
# do-not-query-localhost: no (the upstream is on 127.0.0.1); no trust
# anchor, no chroot, no privilege drop, in the foreground.
cat >"$T/unbound.conf" <<EOC
server:
  interface: 127.0.0.1@$P
  port: $P
  num-threads: 2
  so-reuseport: yes
  do-ip6: no
  do-udp: yes
  do-tcp: yes
  tcp-upstream: yes
  do-not-query-localhost: no
  module-config: "iterator"
  username: ""
  chroot: ""
  directory: "$T"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
  do-daemonize: no
  access-control: 127.0.0.0/8 allow
  local-zone: "test." static
  local-data: "host1.test. A 10.1.2.3"
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$U
EOC
policy "$T/dns.policy" <<EOC
rules = (
  { name = "dns-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "dns-up"; direction = "connect"; port = $U; ca = "$CERTS/ca.crt"; server_name = "localhost"; }
);
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg "$UNBOUND" -d -c "$T/unbound.conf" >"$T/unbound.out" 2>&1
UB=$!
track "$UB"
if ! wait_listen "$P" 15 "$UB" || ! wait_ready "$UB" "$T/unbound.out" 'start of service' 15; then
	fail unbound_setup "unbound did not start$(show "$T/unbound.out" "$T/shim.log")"
	exit 1
fi
nl=$(grep -c -E "^ *[0-9]+: [0-9A-F]+:$(printf '%04X' "$P") 00000000:0000 0A " /proc/net/tcp)

name=unbound_dot_local_and_forwarded
good=0
for i in 1 2 3 4; do
	timeout $((30 * TS)) "$PY" "$PYD/dot.py" client "$P" "$CERTS/ca.crt" host1.test "fwd$i.example" \
		"other$i.example" nothere.test >"$T/client.$i" 2>&1 || continue
	grep -q '^host1\.test rcode 0 answers 1 addr 10\.1\.2\.3$' "$T/client.$i" &&
	grep -q "^fwd$i\\.example rcode 0 answers 1 addr 192\\.0\\.2\\.7\$" "$T/client.$i" &&
	grep -q "^other$i\\.example rcode 0 answers 1 addr 192\\.0\\.2\\.7\$" "$T/client.$i" &&
	grep -q '^nothere\.test rcode 3 answers 0 addr -$' "$T/client.$i" && good=$((good + 1))
done
if [ $good -eq 4 ] && [ "$(count "$T/up.out" '^answered (fwd|other)[1-4]\.example$')" -eq 8 ]; then
	pass "$name (4 clients: 1 local name, 2 forwarded over TLS, 1 unknown each; $nl listening sockets on the port)"
else
	fail "$name" "$good of 4 clients answered right: $(cat "$T"/client.* | tr '\n' '|')$(show "$T/up.out" "$T/unbound.out" "$T/shim.log")"
fi

name=unbound_both_sides_tls
na=$(logged_tls "$T/shim.log" dns-in accepted)
nc=$(count "$T/shim.log" 'rule "dns-up": connected TLSv1\.3 .*verified')
if [ "$na" -eq 4 ] && [ "$nc" -ge 1 ] && ! grep -q ': error: ' "$T/shim.log" &&
   [ "$(grep ': warn: ' "$T/shim.log" | grep -c -v 'MSG_FASTOPEN')" -eq 0 ]; then
	pass "$name (accepted 4, connected $nc verified; $(count "$T/shim.log" 'MSG_FASTOPEN') Fast Open attempts refused, then connect())"
else
	fail "$name" "accepted $na of 4, connected $nc$(show "$T/shim.log")"
fi

no_clear unbound_plain_client_gets_nothing_in_clear "$P" "host1.test" "$UB"

kill_tree "$UB"
stop "$UP"
