#!/bin/sh
# connect() again on a TLS socket whose connect the peer refused after
# the library's handshake had started (shim/connect.c, again).  The
# session stays in the table (the handshake started: the socket's bytes
# are the session's), and the library passed such a connect() to the
# kernel as the program gave it: the kernel answers the first with the
# refusal, and connected the second again, to the program's address, no
# rule applied: the old session's ClientHello (for the old rule's name)
# went there, to a port a deny rule names as well (found by h195).  Now
# the kernel is asked with a multicast host (as for a pumped number,
# pumped_connect): a connected or connecting socket is answered as
# before, and one the kernel would connect again is refused,
# ECONNABORTED, with a warning: a new socket connects anew.
# tests/preload/py/failed_reconnect.py makes the refusal (its own
# listener, queue full, then gone), then connects twice to the deny port
# and twice to a plain one:
#   * failed_reconnect: no connect works, neither port's recording
#     server gets a byte, and the warning says why;
#   * failed_reconnect_fastopen: sendto(MSG_FASTOPEN) instead, the same
#     four: refused (the deny port by its rule, EOPNOTSUPP; the plain
#     one goes to the session, which fails), no byte at either (pins);
#   * failed_reconnect_srr: the socket carries a loose source route
#     (IP_OPTIONS, LSRR) and connects non-blocking: tcp_v4_connect
#     routes to the route's first hop, so the multicast host was
#     connected (SYN_SENT, EINPROGRESS; a SYN left) before h200; now a
#     source-routed socket's call names the family and port alone
#     (EINVAL before any route): no connect works, none leaves the socket
#     SYN_SENT, the warning;
#   * failed_reconnect_mapped: an AF_INET6 client whose every address is
#     v4-mapped (::ffff:127.0.0.1), the same four blocking connects: the
#     multicast host in their place is ff02::1 whole, refused as above
#     (pins).
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim

# failed_run [fastopen]: the servers, the policy, the client.
failed_run() {
	_n=failed_reconnect${1:+_$1}
	P=$(free_port)
	D=$(free_port)
	while [ "$D" = "$P" ]; do D=$(free_port); done
	Q=$(free_port)
	while [ "$Q" = "$P" ] || [ "$Q" = "$D" ]; do Q=$(free_port); done
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "up"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; },
          { name = "no"; direction = "connect"; port = $D; action = "deny"; },
          { name = "clear"; direction = "connect"; port = $Q; action = "plain"; } );
EOC
	start_peer "$_n.deny" server --plain --port "$D" --mode record --count 1 \
		--record "$T/$_n.deny.rec" --timeout $((15 * TS))
	_deny=$PEER
	start_peer "$_n.plain" server --plain --port "$Q" --mode record --count 1 \
		--record "$T/$_n.plain.rec" --timeout $((15 * TS))
	_plain=$PEER
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout $((40 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" "$PY" "$PYD/failed_reconnect.py" "$P" "$D" "$Q" $1 \
		>"$T/$_n.out" 2>&1
	_rc=$?
	# (a connection to either comes only from a connect that worked: 3 s for
	# it to take that in, then both are stopped)
	wait_exit "$_deny" 3
	stop "$_deny"
	stop "$_plain"
}

failed_run
if [ $_rc -eq 0 ] && grep -q '^write EAGAIN$' "$T/$_n.out" &&
   grep -q '^refused yes$' "$T/$_n.out" && ! grep -q '^reconnected' "$T/$_n.out" &&
   [ "$(grep -c '^connect [0-9]' "$T/$_n.out")" -eq 4 ] &&
   [ ! -s "$T/$_n.deny.rec" ] && [ ! -s "$T/$_n.plain.rec" ] &&
   grep -q 'connect() again on fd [0-9]*, whose connection failed after its handshake started' \
	"$T/$_n.log"; then
	pass "$_n: connect() again after a refusal mid-handshake is refused (4 of 4);\
 no byte at a deny or a plain port"
else
	fail "$_n: connect() again after a refusal mid-handshake is refused" \
		"exit $_rc; $(wc -c <"$T/$_n.deny.rec" 2>/dev/null || echo 0) bytes at the deny\
 port; $(show "$T/$_n.out" "$T/$_n.log")"
fi

failed_run fastopen
if [ $_rc -eq 0 ] && grep -q '^refused yes$' "$T/$_n.out" && ! grep -q '^sent' "$T/$_n.out" &&
   [ "$(grep -c '^connect [0-9]' "$T/$_n.out")" -eq 4 ] &&
   [ ! -s "$T/$_n.deny.rec" ] && [ ! -s "$T/$_n.plain.rec" ]; then
	pass "$_n: MSG_FASTOPEN after a refusal mid-handshake: refused (4 of 4); no byte at a deny\
 or a plain port"
else
	fail "$_n: MSG_FASTOPEN after a refusal mid-handshake is refused" \
		"exit $_rc; $(show "$T/$_n.out" "$T/$_n.log")"
fi

failed_run srr
if [ $_rc -eq 0 ] && grep -q '^refused yes$' "$T/$_n.out" && ! grep -q '^reconnected' "$T/$_n.out" &&
   ! grep -q '^options refused' "$T/$_n.out" && ! grep -q '^syn' "$T/$_n.out" &&
   [ "$(grep -c '^connect [0-9]' "$T/$_n.out")" -eq 4 ] &&
   [ ! -s "$T/$_n.deny.rec" ] && [ ! -s "$T/$_n.plain.rec" ] &&
   grep -q 'connect() again on fd [0-9]*, whose connection failed after its handshake started' \
	"$T/$_n.log"; then
	pass "$_n: a source route (IP_OPTIONS, LSRR) after a refusal mid-handshake: refused (4 of\
 4), the socket never SYN_SENT"
else
	fail "$_n: a source-routed connect() again after a refusal mid-handshake is refused" \
		"exit $_rc; $(show "$T/$_n.out" "$T/$_n.log")"
fi

failed_run mapped
if [ $_rc -eq 0 ] && grep -q '^write EAGAIN$' "$T/$_n.out" &&
   grep -q '^refused yes$' "$T/$_n.out" && ! grep -q '^reconnected' "$T/$_n.out" &&
   [ "$(grep -c '^connect [0-9]' "$T/$_n.out")" -eq 4 ] &&
   [ ! -s "$T/$_n.deny.rec" ] && [ ! -s "$T/$_n.plain.rec" ] &&
   grep -q 'connect() again on fd [0-9]*, whose connection failed after its handshake started' \
	"$T/$_n.log"; then
	pass "$_n: v4-mapped addresses on an AF_INET6 socket after a refusal mid-handshake:\
 refused (4 of 4); no byte at a deny or a plain port"
else
	fail "$_n: v4-mapped connect() again after a refusal mid-handshake is refused" \
		"exit $_rc; $(show "$T/$_n.out" "$T/$_n.log")"
fi
