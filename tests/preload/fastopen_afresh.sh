#!/bin/sh
# TCP Fast Open (sendto, sendmsg or sendmmsg with MSG_FASTOPEN and a
# destination) on a TLS number whose connect was refused before its
# handshake started (TCP state CLOSE): connect() there matches the
# destination afresh (shim/connect.c, again(): the session ends, the
# number is plain, a plain rule's port is connected in clear, a tls
# rule's gets a new session), but Fast Open went to the session, which
# could connect nothing: EPIPE, and the session's handshake marked
# started, so that a connect() after it was refused too (ECONNABORTED).
# Now (h208) Fast Open is what connect() is there: the session ends
# (shim_fastopen_afresh) and the call is a fresh socket's, judged by its
# destination as before (shim_fastopen_refused: a tls or deny rule's
# port is refused, EOPNOTSUPP; a plain one's is connected and sent to,
# in clear, as the policy says).  tests/preload/py/fastopen_afresh.py:
#   * fastopen_afresh: Fast Open to the plain port: the kernel's pending
#     error first (ECONNREFUSED), then its line sent there (the recording
#     server gets it), as connect() (the same two answers) and a write do
#     on another socket refused the same way; Fast Open to the tls port
#     is refused (EOPNOTSUPP).
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim

_n=fastopen_afresh
P=$(free_port)
Q=$(free_port)
while [ "$Q" = "$P" ]; do Q=$(free_port); done
policy "$T/$_n.conf" <<EOC
rules = ( { name = "up"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; },
          { name = "clear"; direction = "connect"; port = $Q; action = "plain"; } );
EOC
start_peer "$_n.plain" server --plain --port "$Q" --mode record --count 2 \
	--record "$T/$_n.rec" --timeout $((15 * TS))
_plain=$PEER
TLSSHIM_LOG_FILE="$T/$_n.log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$POLICY" "$PY" "$PYD/fastopen_afresh.py" "$P" "$Q" >"$T/$_n.out" 2>&1
_rc=$?
wait_exit "$_plain" 10
stop "$_plain"
if [ $_rc -eq 0 ] && grep -q '^fastopen 0 ECONNREFUSED$' "$T/$_n.out" &&
   grep -q '^fastopen 1 sent 14$' "$T/$_n.out" && grep -q '^tls EOPNOTSUPP$' "$T/$_n.out" &&
   grep -q '^connect 0 ECONNREFUSED$' "$T/$_n.out" && grep -q '^connect 1 ok$' "$T/$_n.out" &&
   grep -q '^fastopen line$' "$T/$_n.rec" && grep -q '^connect line$' "$T/$_n.rec"; then
	pass "$_n: Fast Open on a TLS socket refused before its handshake is matched afresh, as\
 connect() is: sent to a plain port, refused to a TLS one"
else
	fail "$_n: Fast Open on a TLS socket refused before its handshake is matched afresh" \
		"exit $_rc; $(show "$T/$_n.out" "$T/$_n.log" "$T/$_n.rec")"
fi
