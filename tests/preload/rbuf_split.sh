#!/bin/sh
# tests/preload/rbuf_split.sh — a record that arrives in two pieces does
# not make a connection a bulk receiver (core/tls.c, RBUF_BULK).
#
# tests/preload/rbuf_split.py (Python's ssl, TLS 1.3) sends one record of
# 16,384 bytes in two pieces, the second only once the shimmed
# tests/progs/bulk recv (under strace -e recvfrom) took the first, then a
# record of 100 bytes.  OpenSSL asks the kernel for exactly a record's
# rest, so the second piece's recvfrom fills the request it was given:
# that is no sign that the peer is ahead (the kernel had nothing more).
# Asserted: no recvfrom asks for more than one record's buffer (16,709
# bytes and OpenSSL's alignment; the connection's next buffer after the
# split record was four records, 65,8xx bytes, when any recv that filled
# its request counted as "behind"), and the receiver's count and checksum
# are the sender's.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
name="rbuf_split: a record's rest read exactly keeps the one-record read buffer"
if ! command -v strace >/dev/null; then
	fail "$name" "strace not installed (.ci/packages lists it)"
	exit 0
fi
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "split-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
TLSSHIM_LOG_FILE="$T/srv.log" shimbg strace -qq -s 0 -e trace=recvfrom -o "$T/recv.st" \
	"$PROGS/bulk" recv "$P" >"$T/recv.out" 2>&1
rcv=$!
wait_for "$T/recv.out" listening 15
sent=$(timeout $((40 * TS)) "$PY" "$TLSSHIM_TOP/tests/preload/rbuf_split.py" "$P" "$CERTS/ca.crt" \
	"$T/recv.st" 2>&1)
wait_exit "$rcv" 30; rc=$?
got=$(grep '^bytes' "$T/recv.out")
# the largest length a recvfrom asked for (its third argument)
most=$(awk -F', ' '/^recvfrom\(/ { if ($3 + 0 > m) m = $3 + 0 } END { print m + 0 }' "$T/recv.st")
if [ $rc -eq 0 ] && [ -n "$got" ] && [ "$got" = "$(echo "$sent" | grep '^bytes')" ] &&
   [ "$most" -le 16720 ]; then
	pass "$name (largest recvfrom request: $most)"
else
	fail "$name" "largest recvfrom request: $most; sender: $sent; receiver (exit $rc):\
 $(cat "$T/recv.out" "$T/srv.log" 2>/dev/null)$(show "$T/recv.st")"
fi
