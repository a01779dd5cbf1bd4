#!/bin/sh
# tests/preload/refuse.sh — a shimmed client never talks to a server it
# cannot authenticate.  For each bad server (expired certificate, wrong
# name, unknown CA, TLS 1.2 under min_version TLSv1.3, plaintext, silent):
#   * the program's connect() fails: "client: connect: Connection refused"
#     (ECONNREFUSED), exit 2;
#   * exactly one log line names the reason, and the connection (rule
#     name, peer address:port);
#   * not one byte of the program's plaintext reached the server: a relay
#     between them records the raw TCP bytes, the server records what it
#     decrypted, and neither holds the marker.
# Also verify = "none": the connection works and every one is logged.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim refuse_setup

MARK=SECRET-PLAINTEXT-1234

# refused NAME REASON-REGEX CLIENT-HOST EXTRA-RULE-KEYS|NOCA SERVER-ARGS...
refused() {
	name=$1 why=$2 host=$3 keys=$4
	shift 4
	P=$(free_port) Q=$(free_port)
	if [ "$keys" = NOCA ]; then keys=""; else keys="ca = \"$CERTS/ca.crt\"; $keys"; fi
	policy "$T/$name.conf" <<EOF
rules = (
  { name = "to-bad-server"; direction = "connect"; port = $P;
    $keys }
);
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_peer "$name.srv" server --port "$Q" --mode record --record "$T/$name.dec" \
		--status "$T/$name.st" --timeout $((8 * TS)) "$@"; then
		fail "$name" "server did not start$(show "$T/$name.srv.err")"; return
	fi
	srv=$PEER
	if ! start_peer "$name.relay" relay --port "$P" --to "$Q" --record "$T/$name.raw"; then
		fail "$name" "relay did not start"; stop "$srv"; return
	fi
	relay=$PEER
	[ -n "${plain_peer:-}" ] && audit_exclude "$P" "$name: $plain_peer"
	printf '%s\n' "$MARK" | shimmed "$PROGS/client" "$host" "$P" >"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	wait_exit "$srv" 10
	stop "$relay"
	n=$(lines "$T/$name.log" "$why")
	if [ "$rc" -ne 2 ] || [ "$(cat "$T/$name.err")" != "client: connect: Connection refused" ]; then
		fail "$name" "expected exit 2 and 'client: connect: Connection refused', got exit $rc$(show "$T/$name.err" "$T/$name.log")"
	elif [ -s "$T/$name.got" ]; then
		fail "$name" "the program received data from the refused server$(show "$T/$name.got")"
	elif [ ! -s "$T/$name.raw.c2s" ]; then
		fail "$name" "no bytes went through the relay: the test proves nothing$(show "$T/$name.st")"
	elif ! has_no "$T/$name.raw.c2s" "$MARK"; then
		fail "$name" "PLAINTEXT LEAKED: the marker is in the raw TCP bytes sent to the server"
	elif [ -f "$T/$name.dec" ] && ! has_no "$T/$name.dec" "$MARK"; then
		fail "$name" "PLAINTEXT LEAKED: the server decrypted the marker"
	elif [ "$n" -ne 1 ]; then
		fail "$name" "expected exactly 1 log line matching /$why/, found $n$(show "$T/$name.log")"
	elif ! grep -i -E -e "$why" "$T/$name.log" | grep -F 'to-bad-server' | grep -q -F "127.0.0.1:$P"; then
		fail "$name" "the log line does not name the connection (rule to-bad-server, peer 127.0.0.1:$P)$(show "$T/$name.log")"
	elif ! grep -q '^tlsshim\[[0-9][0-9]*\]: ' "$T/$name.log"; then
		fail "$name" "the log line does not start with tlsshim[PID]:$(show "$T/$name.log")"
	elif ! has_no "$T/$name.log" "$MARK"; then
		fail "$name" "the log holds the program's plaintext"
	else
		pass "$name"
	fi
}

S="--cert $CERTS/server.crt --key $CERTS/server.key"
refused refuse_expired_certificate 'expired' localhost "" \
	--cert "$CERTS/expired.crt" --key "$CERTS/expired.key"
refused refuse_wrong_name 'mismatch|hostname|name' localhost "" \
	--cert "$CERTS/wrongname.crt" --key "$CERTS/wrongname.key"
refused refuse_ip_address_not_in_certificate 'mismatch|hostname|name|ip' 127.0.0.1 "" \
	--cert "$CERTS/wrongname.crt" --key "$CERTS/wrongname.key"
# shellcheck disable=SC2086
refused refuse_explicit_server_name_mismatch 'mismatch|hostname|name' localhost \
	'server_name = "other.example";' $S
refused refuse_untrusted_ca 'unable to get local issuer|unknown ca|untrusted|self.signed|issuer' localhost "" \
	--cert "$CERTS/untrusted.crt" --key "$CERTS/untrusted.key"
# shellcheck disable=SC2086
# No "ca" key (EXTRA-RULE-KEYS "NOCA"): the system trust store, which does
# not know the test CA.
# shellcheck disable=SC2086
refused refuse_test_ca_unknown_to_system_store 'unable to get local issuer|unknown ca|untrusted|self.signed|issuer' \
	localhost "NOCA" $S
refused refuse_tls12_server_under_min_tls13 'version|protocol' localhost \
	'min_version = "TLSv1.3";' $S --tls12
plain_peer="a plaintext server greets the shimmed client on purpose (the client must refuse it)"
refused refuse_plaintext_server 'plain|ssl|record|version|protocol|handshake|eof|not speak' localhost "" \
	--plain --mode greet --greeting "PLAINTEXT GREETING FROM A NON-TLS SERVER
"
plain_peer=""
refused refuse_handshake_timeout 'time' localhost 'handshake_timeout_ms = 500;' --plain

# --- verify = "none": insecure, but works; a warning on every connection ----
name=verify_none_connects_and_warns_each_time
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = (
  { name = "insecure-out"; direction = "connect"; port = $P; verify = "none"; }
);
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_peer "$name.srv" server --port "$P" --count 2 --status "$T/$name.st" \
	--cert "$CERTS/untrusted.crt" --key "$CERTS/untrusted.key"; then
	printf 'first\n' >"$T/$name.in1"
	printf 'second\n' >"$T/$name.in2"
	shimmed "$PROGS/client" localhost "$P" <"$T/$name.in1" >"$T/$name.got1" 2>"$T/$name.err"
	rc1=$?
	n1=$(lines "$T/$name.log" 'verif|insecure')
	shimmed "$PROGS/client" localhost "$P" <"$T/$name.in2" >"$T/$name.got2" 2>>"$T/$name.err"
	rc2=$?
	n2=$(lines "$T/$name.log" 'verif|insecure')
	wait_exit "$PEER" 10
	if [ "$rc1" -ne 0 ] || [ "$rc2" -ne 0 ] || ! cmp -s "$T/$name.in1" "$T/$name.got1" ||
		! cmp -s "$T/$name.in2" "$T/$name.got2"; then
		fail "$name" "connections failed: exit $rc1, $rc2$(show "$T/$name.err" "$T/$name.log" "$T/$name.st")"
	elif [ "$n1" -lt 1 ] || [ "$n2" -le "$n1" ]; then
		fail "$name" "expected a warning per connection: $n1 after the first, $n2 after the second$(show "$T/$name.log")"
	else
		pass "$name"
	fi
else
	fail "$name" "server did not start"
fi
