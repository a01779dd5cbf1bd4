#!/bin/sh
# TCP_REPAIR (checkpoint/restore: a root program's CAP_NET_ADMIN) on a
# socket a connect rule makes TLS (h195).  Repair mode moves no byte past
# the socket's own calls, which the library holds: its writes queue what
# the library gives them (TLS records) without sending, and its connect()
# makes a socket ESTABLISHED without a SYN, through the library's
# connect() all the same.  The library lets the option through (a TLS
# session's socket keeps working across it); these cases pin that no
# plaintext comes of it (libtlsshim(7), "TCP_REPAIR").  Each behind a
# recording relay to a TLS echo server (tests/preload/py/repair_client.py):
#   * repair_established: a session in repair mode, "secret plaintext"
#     queued in its send queue, repair off: it crosses as a TLS record
#     (the relay records no "secret") and the echo server sends it back;
#   * repair_fresh: repair on before connect(): the library's handshake
#     cannot run over a socket whose calls repair mode refuses, the
#     session fails, and neither write reaches anyone in clear.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim

# repair_case MODE: the echo server, the relay, the policy, the client.
repair_case() {
	_n=repair_$1
	P=$(free_port)
	Q=$(free_port)
	while [ "$Q" = "$P" ]; do Q=$(free_port); done
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "up"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; } );
EOC
	start_peer "$_n.peer" server --port "$Q" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
		--mode echo --count 1 --timeout $((15 * TS))
	_peer=$PEER
	start_peer "$_n.relay" relay --port "$P" --to "$Q" --record "$T/$_n.wire"
	_relay=$PEER
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" "$PY" "$PYD/repair_client.py" "$P" "$1" >"$T/$_n.out" 2>&1
	_rc=$?
	stop "$_relay"
	stop "$_peer"
}

repair_case established
if [ $_rc -eq 0 ] && grep -q '^repair ok$' "$T/$_n.out" && grep -q '^echo secret plaintext$' "$T/$_n.out" &&
   grep -q '^echo after$' "$T/$_n.out" && ! grep -q secret "$T/$_n.wire.c2s" 2>/dev/null; then
	pass "$_n: a TLS session in repair mode: its queued write crosses as TLS, echoed; nothing in clear"
else
	fail "$_n: a TLS session in repair mode keeps its bytes TLS" \
		"exit $_rc; $(show "$T/$_n.out" "$T/$_n.log")"
fi

repair_case fresh
if [ $_rc -eq 0 ] && grep -q '^repair ok$' "$T/$_n.out" && ! grep -q '^write ok' "$T/$_n.out" &&
   ! grep -q '^again ok' "$T/$_n.out" && ! grep -q secret "$T/$_n.wire.c2s" 2>/dev/null; then
	pass "$_n: connect() in repair mode to a TLS port: the session fails, no write goes anywhere in clear"
else
	fail "$_n: connect() in repair mode to a TLS port: nothing in clear" \
		"exit $_rc; $(show "$T/$_n.out" "$T/$_n.log")"
fi
