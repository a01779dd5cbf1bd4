#!/bin/sh
# tests/interop/python.sh — Python's ssl module as the peer, for the policy
# keys that shape the handshake: alpn, ciphers (TLS 1.2), ciphersuites
# (TLS 1.3), min_version, defaults inherited by rules, port lists; and a
# 5 MB transfer through the shimmed echo_server.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim python_setup

# accept_policy PORT [EXTRA-KEYS] [TOP-LEVEL-TEXT]
accept_policy() {
	policy "$T/p.conf" <<EOF
${3:-}
rules = (
  { name = "py-in"; direction = "accept"; port = $1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ${2:-} }
);
EOF
}

# server_case NAME EXPECT-REGEX(in the client's output) RULE-KEYS -- CLIENT-ARGS...
# The shimmed echo_server -1 with an accept rule; a Python client with
# CLIENT-ARGS; its output must match every line of EXPECT-REGEX ("|"-free,
# ";"-separated), and the server must exit 0.
server_case() {
	name=$1 expect=$2 keys=$3
	shift 3
	[ "$1" = -- ] && shift
	P=$(free_port)
	accept_policy "$P" "$keys"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; return
	fi
	peer client --port "$P" --ca "$CERTS/ca.crt" "$@" >"$T/$name.cli" 2>&1
	wait_exit "$SRV" 10; rc=$?
	_sc_bad=""
	_sc_old_ifs=$IFS; IFS=';'
	for _sc_re in $expect; do
		grep -q -E -e "$_sc_re" "$T/$name.cli" || _sc_bad=$_sc_re
	done
	IFS=$_sc_old_ifs
	if [ -n "$_sc_bad" ]; then
		fail "$name" "client output does not match /$_sc_bad/$(show "$T/$name.cli" "$T/$name.err" "$T/$name.log")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "echo_server exited $rc$(show "$T/$name.err" "$T/$name.log")"
	else
		pass "$name"
	fi
}

server_case py_alpn_accept_side '^alpn echo/1$;^echo ok' 'alpn = ["echo/1", "x-other"];' -- \
	--alpn x-unknown,echo/1 --send alpn
server_case py_ciphersuites_accept_side '^cipher TLS_CHACHA20_POLY1305_SHA256$;^echo ok' \
	'ciphersuites = "TLS_CHACHA20_POLY1305_SHA256";' -- --send suites
server_case py_ciphers_tls12_accept_side '^version TLSv1.2$;^cipher ECDHE-ECDSA-AES128-GCM-SHA256$;^echo ok' \
	'ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";' -- --tls12 --send ciphers
server_case py_large_transfer_5MB '^echo ok 5000000$;^unwrap ok' '' -- --random 5000000 --timeout 40

# connect side: the Python server reports what was negotiated.
# client_case NAME STATUS-REGEX RULE-KEYS [SERVER-ARGS...]
client_case() {
	name=$1 want=$2 keys=$3
	shift 3
	P=$(free_port)
	policy "$T/p.conf" <<EOF
rules = ( { name = "py-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; $keys } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_peer "$name.peer" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
		--status "$T/$name.st" "$@"; then
		fail "$name" "server did not start"; return
	fi
	printf 'over python\n' >"$T/$name.in"
	shimmed "$PROGS/client" localhost "$P" <"$T/$name.in" >"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	wait_exit "$PEER" 10
	if [ "$rc" -ne 0 ] || ! cmp -s "$T/$name.in" "$T/$name.got"; then
		fail "$name" "client exit $rc$(show "$T/$name.err" "$T/$name.log" "$T/$name.st")"
	elif ! grep -q -E -e "$want" "$T/$name.st"; then
		fail "$name" "server status does not match /$want/$(show "$T/$name.st")"
	else
		pass "$name"
	fi
}
client_case py_alpn_connect_side ' alpn=echo/1$' 'alpn = ["echo/1"];' --alpn other,echo/1
client_case py_ciphersuites_connect_side ' cipher=TLS_AES_128_GCM_SHA256 ' 'ciphersuites = "TLS_AES_128_GCM_SHA256";'
client_case py_ciphers_tls12_connect_side ' cipher=ECDHE-ECDSA-CHACHA20-POLY1305 ' \
	'ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305";' --tls12

# --- min_version, directly and through defaults -----------------------------
# refused_tls12 NAME RULE-KEYS [TOP-LEVEL]: a TLS 1.2-only Python client is
# refused (the program's read fails with ECONNRESET, one log line names the
# version); then a TLS 1.3 client on the same server works.
refused_tls12() {
	name=$1
	P=$(free_port)
	accept_policy "$P" "$2" "${3:-}"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; return
	fi
	peer client --port "$P" --ca "$CERTS/ca.crt" --tls12 --send "old client" >"$T/$name.cli12" 2>&1
	peer client --port "$P" --ca "$CERTS/ca.crt" --tls13 --send "new client" >"$T/$name.cli13" 2>&1
	wait_for "$T/$name.out" '^closed' 5
	stop "$SRV"
	if grep -q '^echo ok' "$T/$name.cli12"; then
		fail "$name" "the TLS 1.2 client was served"
	elif ! grep -q '^echo_server: read: Connection reset by peer$' "$T/$name.err"; then
		fail "$name" "the program's read did not fail with ECONNRESET$(show "$T/$name.err" "$T/$name.log")"
	elif [ "$(lines "$T/$name.log" 'version|protocol')" -ne 1 ]; then
		fail "$name" "expected one log line naming the version$(show "$T/$name.log")"
	elif ! grep -q '^echo ok' "$T/$name.cli13"; then
		fail "$name" "the TLS 1.3 client was not served$(show "$T/$name.cli13" "$T/$name.log")"
	else
		pass "$name"
	fi
}
refused_tls12 py_min_version_tls13_refuses_tls12_client 'min_version = "TLSv1.3";'
refused_tls12 py_defaults_min_version_inherited '' 'defaults = { min_version = "TLSv1.3"; };'

# --- port = [P, Q]: both ports are TLS -------------------------------------
name=py_port_list
P=$(free_port) Q=$(free_port)
policy "$T/p.conf" <<EOF
rules = (
  { name = "py-in"; direction = "accept"; port = [$P, $Q];
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; }
);
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name.p" -1 "$P" && sp=$SRV && start_echo "$name.q" -1 "$Q"; then
	sq=$SRV
	peer client --port "$P" --ca "$CERTS/ca.crt" --send first >"$T/$name.clip" 2>&1
	peer client --port "$Q" --ca "$CERTS/ca.crt" --send second >"$T/$name.cliq" 2>&1
	wait_exit "$sp" 10; rp=$?
	wait_exit "$sq" 10; rq=$?
	if grep -q '^echo ok' "$T/$name.clip" && grep -q '^echo ok' "$T/$name.cliq" && [ "$rp" -eq 0 ] && [ "$rq" -eq 0 ]; then
		pass "$name"
	else
		fail "$name" "servers exited $rp, $rq$(show "$T/$name.clip" "$T/$name.cliq" "$T/$name.log")"
	fi
else
	fail "$name" "echo_server never listened"
fi
