#!/bin/sh
# tests/preload/peerenv_spawn.sh — the peer's identity in the environment
# of children started with posix_spawn(3), system(3) and popen(3)
# (libtlsshim(7), "The peer in an exec'd service's environment"): a
# Python server under the shim accepts one TLS client (openssl s_client
# with a client certificate), makes the connection inheritable (fd > 2),
# puts forged TLS_PEER_SUBJECT, REMOTE_ADDR and TLS_CIPHER in its own
# environment, and runs `env` three ways.
# Asserted: each child got exactly the client's subject, SPKI pin,
# version, cipher and address (the forged values never), the first
# (posix_spawn) after the shim completed the lazy handshake, the later
# two from the values kept beside the pumped descriptor; the client then
# gets the server's "done" over TLS.
# A client under the shim (connect rule) runs `env` with its connection:
# with verify = "none" (a server of another CA) no TLS_PEER_ variable, with
# verify = "full" the server's subject, names and pin.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim peerenv_spawn_setup
[ -n "$T" ] && [ -d "$T" ] || { echo "FAIL peerenv_spawn_setup: no test directory"; exit 1; }
P=$(free_port)
policy "$T/pol.conf" <<EOC
rules = ( { name = "spawn-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
            require_client_cert = true; ca = "$CERTS/ca.crt"; } );
EOC
mkdir -p "$T/env"
TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$PY" "$TLSSHIM_TOP/tests/preload/py/peerenv_spawner.py" "$P" "$T/env" \
	>"$T/srv.out" 2>"$T/srv.err"
SRV=$!
if ! wait_for "$T/srv.out" '^listening' 10; then
	fail peerenv_spawn_setup "server did not listen$(show "$T/srv.err")"; exit 1
fi
SUBJ=$(openssl x509 -in "$CERTS/client.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
PIN=$(openssl x509 -in "$CERTS/client.crt" -noout -pubkey | openssl pkey -pubin -outform der |
	openssl dgst -sha256 -binary | openssl base64)
{ wait_for "$T/sc.out" '^done' 30; } |
	timeout $((30 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
		-cert "$CERTS/client.crt" -key "$CERTS/client.key" -tls1_3 \
		-ciphersuites TLS_AES_128_GCM_SHA256 -quiet >"$T/sc.out" 2>"$T/sc.err"
wait_exit "$SRV" 20
cport=$(sed -n 's/^peer_port=//p' "$T/srv.out")
{
	echo "REMOTE_ADDR=127.0.0.1"
	echo "REMOTE_PORT=$cport"
	echo "TLS_CIPHER=TLS_AES_128_GCM_SHA256"
	echo "TLS_PEER_SPKI_SHA256=$PIN"
	echo "TLS_PEER_SUBJECT=$SUBJ"
	echo "TLS_VERSION=TLSv1.3"
} >"$T/want"
for how in spawn system popen; do
	name=peerenv_spawn_$how
	if [ -n "$cport" ] && cmp -s "$T/want" "$T/env/$how.env"; then
		pass "$name"
	else
		fail "$name" "want '$(tr '\n' '|' <"$T/want")' got '$(tr '\n' '|' <"$T/env/$how.env" 2>/dev/null)'$(show "$T/srv.err" "$T/srv.log")"
	fi
done
name=peerenv_spawn_connection_still_serves
if grep -q '^done$' "$T/sc.out" && grep -q '^finished$' "$T/srv.out"; then
	pass "$name"
else
	fail "$name" "$(show "$T/sc.out" "$T/srv.out" "$T/srv.err")"
fi

# A connection made out (a connect rule), exec'd with it: the server's
# certificate names the peer only when it was verified.  With
# verify = "none" it is whatever the one who answered sent (here one of
# another CA, subject CN=localhost): no TLS_PEER_ (the library before
# passed its subject, names and pin as the peer's); with verify = "full"
# they are there.
out_case() { # out_case NAME VERIFY CERT WANT(yes|no)
	_P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "out"; direction = "connect"; port = $_P; verify = "$2"; ca = "$CERTS/ca.crt"; } );
EOC
	{ wait_for "$T/$1.cli" '^done' 20; } | timeout $((20 * TS)) openssl s_server -accept "127.0.0.1:$_P" \
		-cert "$CERTS/$3.crt" -key "$CERTS/$3.key" -naccept 1 -quiet >"$T/$1.srv" 2>&1 &
	_S=$!
	_bg_pids="$_bg_pids $_S"
	wait_listen "$_P" 15
	TLSSHIM_LOG_FILE="$T/$1.log" shimmed "$PY" "$TLSSHIM_TOP/tests/preload/py/connect_exec.py" "$_P" \
		"$T/$1.env" >"$T/$1.cli" 2>&1
	wait_exit "$_S" 20
	_subj=$(openssl x509 -in "$CERTS/$3.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
	_peer=$(grep -c '^TLS_PEER_' "$T/$1.env" 2>/dev/null)
	if [ "$4" = yes ]; then
		grep -q -x -F "TLS_PEER_SUBJECT=$_subj" "$T/$1.env" && [ "$_peer" = 3 ] && _ok=1 || _ok=0
	else
		[ "$_peer" = 0 ] && _ok=1 || _ok=0
	fi
	if grep -q '^done' "$T/$1.cli" && grep -q '^TLS_VERSION=TLSv1.3$' "$T/$1.env" &&
	   grep -q "^REMOTE_PORT=$_P\$" "$T/$1.env" && [ "$_ok" = 1 ]; then
		pass "$1"
	else
		fail "$1" "env '$(tr '\n' '|' <"$T/$1.env" 2>/dev/null)'$(show "$T/$1.cli" "$T/$1.log")"
	fi
}
out_case peerenv_connect_verify_none_no_peer_names none untrusted no
out_case peerenv_connect_verify_full_peer_names full server yes
