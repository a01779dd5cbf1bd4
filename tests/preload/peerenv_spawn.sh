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
