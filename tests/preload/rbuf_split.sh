#!/bin/sh
# tests/preload/rbuf_split.sh — the read buffer's switch to four records
# (core/tls.c, RBUF_BULK), against records whose TCP segments
# tests/preload/rbuf_split.py (Python's ssl, TLS 1.3) places itself; the
# receiver is the shimmed tests/progs/bulk recv, under strace -e recvfrom.
#
#  * split: one record of 16,384 bytes in two pieces, the second only
#    once the receiver took the first, then a record of 100 bytes.
#    OpenSSL asks the kernel for exactly a record's rest, so the second
#    piece's recvfrom fills the request it was given: that is no sign
#    that the peer is ahead (the kernel had nothing more).  Asserted: no
#    recvfrom asks for more than one record's buffer (16,709 bytes and
#    OpenSSL's alignment; the connection's next buffer after the split
#    record was four records, 66,833 bytes, when any recv that filled its
#    request counted as "behind"), and the receiver's count and checksum
#    are the sender's.
#  * flip3, truncate, close: the receiver made a bulk one first (a recv
#    filled its one-record buffer; asserted: a later recvfrom asks for
#    more than 16,720 bytes), then in one segment: four records with one
#    byte of the third one's ciphertext flipped; one record and half of
#    the next, then FIN; four records and close_notify, then FIN.
#    Asserted: the program reads exactly the bytes before the bad record
#    (count and checksum, from bulk's "after N bytes"), then a read error
#    (exit 1), never end of file; the control (close) reads all, count and
#    checksum, and ends cleanly.
#  * hdr0..hdr5: in one segment, records placed so that the receiver's
#    first recvfrom, which fills the one-record buffer (asserted: one
#    returned 16,709 bytes, and a later one asks for a bulk buffer), ends
#    J bytes into a record's header (0: at a record's end; 5: the header
#    whole, its body not), then close_notify.  Asserted: count, checksum,
#    a clean end.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
if ! command -v strace >/dev/null; then
	fail "rbuf_split" "strace not installed (.ci/packages lists it)"
	exit 0
fi
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "split-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC

# rb_case CASE NAME
rb_case() {
	d=$T/$1
	mkdir -p "$d"
	TLSSHIM_LOG_FILE="$d/srv.log" shimbg strace -qq -s 0 -e trace=recvfrom -o "$d/recv.st" \
		"$PROGS/bulk" recv "$P" >"$d/recv.out" 2>&1
	rcv=$!
	wait_for "$d/recv.out" listening 15
	sent=$(timeout $((40 * TS)) "$PY" "$TLSSHIM_TOP/tests/preload/rbuf_split.py" "$P" \
		"$CERTS/ca.crt" "$d/recv.st" "$1" 2>&1)
	wait_exit "$rcv" 30; rc=$?
	# the largest length a recvfrom asked for (its third argument)
	most=$(awk -F', ' '/^recvfrom\(/ { if ($3 + 0 > m) m = $3 + 0 } END { print m + 0 }' \
		"$d/recv.st")
	want=$(echo "$sent" | sed -n 's/^bytes \([0-9]*\) .*/\1/p')
	case $1 in
	split)
		got=$(grep '^bytes' "$d/recv.out")
		ok=$([ $rc -eq 0 ] && [ -n "$got" ] && [ "$got" = "$(echo "$sent" | grep '^bytes')" ] &&
			[ "$most" -le 16720 ] && echo y) ;;
	hdr*)
		got=$(grep '^bytes' "$d/recv.out")
		ok=$([ $rc -eq 0 ] && [ -n "$got" ] && [ "$got" = "$(echo "$sent" | grep '^bytes')" ] &&
			grep -q '^recvfrom(.*) = 16709$' "$d/recv.st" && [ "$most" -gt 16720 ] &&
			echo y) ;;
	close)
		got=$(grep '^bytes' "$d/recv.out")
		ok=$([ $rc -eq 0 ] && [ -n "$got" ] && [ "$got" = "$(echo "$sent" | grep '^bytes')" ] &&
			[ "$most" -gt 16720 ] && echo y) ;;
	*)
		ok=$([ $rc -eq 1 ] && [ -n "$want" ] && ! grep -q '^bytes' "$d/recv.out" &&
			grep -q "^bulk: read: .*(after $want bytes)" "$d/recv.out" &&
			[ "$most" -gt 16720 ] && echo y) ;;
	esac
	if [ "$ok" = y ]; then
		pass "$2 (largest recvfrom request: $most)"
	else
		fail "$2" "largest recvfrom request: $most; sender: $sent; receiver (exit $rc):\
 $(cat "$d/recv.out" "$d/srv.log" 2>/dev/null)$(show "$d/recv.st")"
	fi
}

rb_case split "rbuf_split: a record's rest read exactly keeps the one-record read buffer"
rb_case flip3 \
	"rbuf_split: bulk buffer, third of four records flipped: the two before, then an error"
rb_case truncate \
	"rbuf_split: bulk buffer, a record cut by FIN: the one before, then an error, not EOF"
rb_case close "rbuf_split: bulk buffer, four records and close_notify: all of them, a clean end"
for j in 0 1 2 3 4 5; do
	rb_case hdr$j "rbuf_split: the first full recv ends $j bytes into a header: all, clean end"
done
