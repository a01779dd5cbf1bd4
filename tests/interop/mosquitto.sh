#!/bin/sh
# tests/interop/mosquitto.sh — a message broker with a publisher and a
# subscriber, all three unmodified and under the shim: Debian's mosquitto
# (MQTT broker, its own poll/epoll loop) with an accept rule on its port,
# mosquitto_sub and mosquitto_pub (libmosquitto, non-blocking sockets)
# with a connect rule.
# Asserted: 200 small messages (one publisher connection, -l) and a 1 MB
# message (-f) published with QoS 1 arrive at the subscriber exactly and in
# order; the shim logged TLS on the broker (accepted) and on both clients
# (connected, server verified); openssl s_client gets a verified TLS
# handshake on the broker's port; a plain mosquitto_pub without the shim is
# refused.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim mqtt_setup
for _c in mosquitto mosquitto_pub mosquitto_sub; do
	command -v "$_c" >/dev/null || [ -x "/usr/sbin/$_c" ] ||
		{ fail mqtt_setup "$_c not installed (mosquitto, mosquitto-clients)"; exit 1; }
done
MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)

P=$(free_port)
policy "$T/policy.conf" <<EOF
rules = (
  { name = "mqtt-in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "mqtt-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; }
);
EOF
cat >"$T/mosquitto.conf" <<EOF
user $(id -un)
persistence false
allow_anonymous true
listener $P 127.0.0.1
log_dest file $T/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
log_type subscribe
connection_messages true
EOF
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/broker.log" shimbg "$MOSQ" -c "$T/mosquitto.conf" >"$T/mosquitto.out" 2>&1
BROKER=$!
track "$BROKER"
if ! wait_ready "$BROKER" "$T/mosquitto.log" "Opening ipv4 listen socket on port $P" 15 || ! wait_listen "$P"; then
	fail mqtt_setup "mosquitto did not start$(show "$T/mosquitto.log" "$T/mosquitto.out" "$T/broker.log")"
	exit 1
fi

# The messages: 200 lines, then a 1 MB payload (base64, no newline).
i=1
while [ $i -le 200 ]; do echo "message $i over mqtt+tls $$"; i=$((i + 1)); done >"$T/lines"
head -c 786432 /dev/urandom | base64 -w0 >"$T/big"
{ cat "$T/lines"; cat "$T/big"; echo; } >"$T/want"

export TLSSHIM_LOG=info
TLSSHIM_LOG_FILE="$T/sub.log" shimbg mosquitto_sub -h 127.0.0.1 -p "$P" -i subtls -q 1 -t 'tlsshim/#' -C 201 \
	>"$T/got" 2>"$T/sub.err"
SUB=$!
track "$SUB"
name=mqtt_subscriber_subscribed_over_tls
if wait_ready "$SUB" "$T/mosquitto.log" 'subtls 1 tlsshim/#' 15; then
	pass "$name"
else
	fail "$name" "no subscription in the broker's log$(show "$T/mosquitto.log" "$T/mosquitto.out" "$T/sub.err" "$T/sub.log" "$T/broker.log")"
fi

name=mqtt_publish_200_lines_and_1MB_exact
TLSSHIM_LOG_FILE="$T/pub.log" shimmed mosquitto_pub -h 127.0.0.1 -p "$P" -i pubtls1 -q 1 -t tlsshim/lines -l \
	<"$T/lines" >"$T/pub1.out" 2>&1
rc1=$?
TLSSHIM_LOG_FILE="$T/pub.log" shimmed mosquitto_pub -h 127.0.0.1 -p "$P" -i pubtls2 -q 1 -t tlsshim/big -f "$T/big" \
	>"$T/pub2.out" 2>&1
rc2=$?
wait_gone "$SUB" 30; src=$?
if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] && [ "$src" -eq 0 ] && cmp -s "$T/got" "$T/want"; then
	pass "$name"
else
	fail "$name" "pub exits $rc1 $rc2, sub exit $src, got $(wc -c <"$T/got") of $(wc -c <"$T/want") bytes, $(wc -l <"$T/got") lines$(show "$T/pub1.out" "$T/pub2.out" "$T/sub.err" "$T/pub.log" "$T/mosquitto.log")"
fi

name=mqtt_all_ends_logged_tls
na=$(logged_tls "$T/broker.log" mqtt-in accepted)
ns=$(count "$T/sub.log" 'rule "mqtt-out": connected TLSv1\.[23] .*verified')
np=$(count "$T/pub.log" 'rule "mqtt-out": connected TLSv1\.[23] .*verified')
if [ "$na" -ge 3 ] && [ "$ns" -eq 1 ] && [ "$np" -eq 2 ]; then
	pass "$name"
else
	fail "$name" "broker accepted $na, subscriber connected $ns, publishers connected $np$(show "$T/broker.log" "$T/sub.log" "$T/pub.log")"
fi
unset TLSSHIM_LOG

name=mqtt_port_speaks_tls
if tls_probe "$P" "$T/probe"; then
	pass "$name"
else
	fail "$name" "openssl s_client failed$(show "$T/probe" "$T/broker.log")"
fi

name=mqtt_plain_publisher_refused
before=$(lines "$T/broker.log" 'does not speak TLS')
out=$(audit_exclude_during "$P" "a plain MQTT publisher must be refused" \
	timeout $((30 * TS)) mosquitto_pub -h 127.0.0.1 -p "$P" -i plainpub -q 1 -t tlsshim/plain -m 'plain got through' 2>&1)
prc=$?
after=$(lines "$T/broker.log" 'does not speak TLS')
if [ "$prc" -ne 0 ] && [ "$after" -gt "$before" ] && ! grep -q plainpub "$T/mosquitto.log"; then
	pass "$name (mosquitto_pub: $(echo "$out" | head -1))"
else
	fail "$name" "mosquitto_pub exit $prc, refusals logged $before -> $after$(show "$T/mosquitto.log" "$T/mosquitto.out" "$T/broker.log")"
fi

name=mqtt_broker_sigterm_exit_0
kill -TERM "$BROKER"
wait_gone "$BROKER" 15; rc=$?
if [ "$rc" -eq 0 ]; then
	pass "$name"
else
	fail "$name" "mosquitto exited $rc$(show "$T/mosquitto.log" "$T/mosquitto.out" "$T/broker.log")"
fi
