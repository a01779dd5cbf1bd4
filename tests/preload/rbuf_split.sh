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
#  * reads across the switch (rd_case): tests/preload/rbuf_reader.py, the
#    shimmed receiver, reads with recv(1), recv(65536), recv(MSG_PEEK)
#    then recv, recv(20000, MSG_WAITALL), readv of four small iovecs,
#    recvmsg, recvmmsg, FIONREAD before each read (a read of its count
#    gives that count exactly), poll before each read, edge-triggered
#    epoll (reads until a short one or EAGAIN, then epoll_wait: a bound
#    of 20 s catches a buffered record no edge announces), a fork past
#    the switch with records buffered (the child reads on; or the
#    parent, the child closing its copy), or an execve there (the new
#    program reads on).  Senders: rbuf_split.py "many" (fifteen records
#    of mixed sizes in one piece: the switch part-way), the shimmed
#    tests/progs/bulk send of 1,000,000 bytes, and flip3 and truncate
#    above.  Asserted: the switch (a recvfrom asked for more than 65,536
#    bytes; "many": one returned 16,709 first); count, checksum and a
#    clean end, or (flip3, truncate) exactly the bytes before the bad
#    record, then an error.  splice(2) from a TLS socket is refused
#    (EINVAL, the shim's log says to use read): not among them.
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
cp "$POLICY" "$T/srv.conf.keep"
policy "$T/cli.conf" <<EOC
rules = ( { name = "split-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
POLICY="$T/srv.conf.keep"

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

# rd_case MODE NAME [SENDER]: tests/preload/rbuf_reader.py MODE, shimmed,
# under strace (-f for a fork or an exec), against rbuf_split.py's case "many"
# (fifteen records in one piece, then close_notify; the default), "shim":
# the shimmed tests/progs/bulk send of 1,000,000 bytes (both ends
# shimmed), or rbuf_split.py's flip3 or truncate (a bulk reader first,
# then a flipped byte in the third of four records; a record cut by FIN).
# Asserted: the switch happened (a recvfrom asked for more than 65,536
# bytes: more than any the reader asks, so the shim's four-record buffer;
# "many": one returned 16,709 first); many and shim: the
# count and checksum are the sender's, a clean end; flip3 and truncate:
# exactly the bytes before the bad record were read, then a read error
# (exit 1), no end of file.
rd_case() {
	d=$T/rd-$1${3:+-$3}
	mkdir -p "$d"
	case $1 in fork* | exec) ff=-f ;; *) ff= ;; esac
	RBUF_PREFIX="$d/prefix" TLSSHIM_LOG_FILE="$d/srv.log" shimbg strace -qq $ff -s 0 \
		-e trace=recvfrom -o "$d/recv.st" "$PY" "$TLSSHIM_TOP/tests/preload/rbuf_reader.py" "$P" "$1" \
		>"$d/recv.out" 2>&1
	rcv=$!
	wait_for "$d/recv.out" listening 15
	if [ "${3:-}" = shim ]; then
		sent=$(TLSSHIM_LOG_FILE="$d/cli.log" timeout $((60 * TS)) env \
			LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/cli.conf" \
			"$PROGS/bulk" send 127.0.0.1 "$P" 1000000 2>&1)
	else
		sent=$(timeout $((40 * TS)) "$PY" "$TLSSHIM_TOP/tests/preload/rbuf_split.py" "$P" \
			"$CERTS/ca.crt" "$d/recv.st" "${3:-many}" 2>&1)
	fi
	wait_exit "$rcv" 60; rc=$?
	most=$(awk -F', ' '/recvfrom\(/ { if ($3 + 0 > m) m = $3 + 0 } END { print m + 0 }' \
		"$d/recv.st")
	got=$(grep '^bytes' "$d/recv.out")
	want=$(echo "$sent" | sed -n 's/^bytes \([0-9]*\) .*/\1/p')
	case ${3:-many} in
	flip3|truncate)
		ok=$([ $rc -eq 1 ] && [ -n "$want" ] && [ -z "$got" ] &&
			grep -q "^error [A-Z]* after $want bytes\$" "$d/recv.out" && echo y) ;;
	*)
		ok=$([ $rc -eq 0 ] && [ -n "$got" ] && [ "$got" = "$(echo "$sent" | grep '^bytes')" ] &&
			grep -q '^end clean$' "$d/recv.out" && echo y) ;;
	esac
	[ "${3:-many}" = many ] && ! grep -q 'recvfrom(.*) = 16709$' "$d/recv.st" && ok=
	if [ "$ok" = y ] && [ "$most" -gt 65536 ]; then
		pass "$2 (largest recvfrom request: $most)"
	else
		fail "$2" "largest recvfrom request: $most; sender: $sent; receiver (exit $rc):\
 $(cat "$d/recv.out" "$d/srv.log" "$d/cli.log" 2>/dev/null)$(show "$d/recv.st")"
	fi
}

for m in r1 r64k peek waitall readv recvmsg recvmmsg fionread poll epollet forkchild \
	forkparent exec; do
	rd_case $m "rbuf_split: reads across the switch to four records ($m): all, in order, clean end"
done
for m in r64k peek waitall readv recvmsg recvmmsg fionread poll epollet forkchild exec; do
	rd_case $m "rbuf_split: both ends shimmed, 1,000,000 bytes read with $m: all, clean end" shim
done
for m in r1 r64k peek waitall readv recvmmsg fionread poll epollet forkchild exec; do
	rd_case $m "rbuf_split: bulk buffer read with $m, third of four records flipped: \
the two before, then an error" flip3
	rd_case $m "rbuf_split: bulk buffer read with $m, a record cut by FIN: the one before, \
then an error, not EOF" truncate
done
