#!/bin/sh
# Bulk data through the shim on both ends: every byte arrives, in order,
# and the end is a clean close_notify — also when the sender never reads
# (the server's TLS 1.3 session tickets then sit unread in its socket,
# and a close() over unread data would make the kernel send a RST that
# destroys data still in flight).
#
# A receiver that is behind its sender reads several records per recv()
# (core/tls.c, RBUF_BULK): the receiver runs under strace, which slows
# each of its system calls so that the sender's records queue up; at
# least one recvfrom must return more than one record's buffer (16,709
# bytes, OpenSSL's read-ahead buffer: before, no recvfrom could), and the
# stream arrives whole.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
P=$(free_port)
policy "$T/srv.conf" <<EOC
rules = ( { name = "bulk-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
cp "$POLICY" "$T/srv.conf.keep"
policy "$T/cli.conf" <<EOC
rules = ( { name = "bulk-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
for size in 64000000 1000; do
	POLICY="$T/srv.conf.keep" TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$PROGS/bulk" recv "$P" >"$T/recv.out" 2>&1
	rcv=$!
	wait_for "$T/recv.out" listening 15
	sent=$(TLSSHIM_LOG_FILE="$T/cli.log" timeout $((60 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/cli.conf" \
		"$PROGS/bulk" send 127.0.0.1 "$P" "$size" 2>&1)
	wait_exit "$rcv" 60; rc=$?
	got=$(grep '^bytes' "$T/recv.out")
	if [ $rc -eq 0 ] && [ -n "$got" ] && [ "$got" = "$(echo "$sent" | grep '^bytes')" ]; then
		pass "bulk $size bytes, shim on both ends: same count and checksum, clean end"
	else
		fail "bulk $size bytes, shim on both ends" "sender: $sent; receiver (exit $rc): $(cat "$T/recv.out" "$T/srv.log" "$T/cli.log" 2>/dev/null)"
	fi
done

# The receiver behind its sender: recvfrom returns up to four records.
name="bulk receiver behind its sender: a recvfrom takes more than one record's buffer"
if ! command -v strace >/dev/null; then
	fail "$name" "strace not installed (.ci/packages lists it)"
else
	POLICY="$T/srv.conf.keep" TLSSHIM_LOG_FILE="$T/srv2.log" shimbg strace -qq -s 0 -e trace=recvfrom \
		-o "$T/recv.st" "$PROGS/bulk" recv "$P" >"$T/recv2.out" 2>&1
	rcv=$!
	wait_for "$T/recv2.out" listening 15
	sent=$(TLSSHIM_LOG_FILE="$T/cli2.log" timeout $((60 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/cli.conf" "$PROGS/bulk" send 127.0.0.1 "$P" 16000000 2>&1)
	wait_exit "$rcv" 60; rc=$?
	got=$(grep '^bytes' "$T/recv2.out")
	# recvfrom calls that returned data: their count and the largest
	counts=$(awk '/^recvfrom\(/ && / = [0-9]+$/ && $NF + 0 > 0 { n++; if ($NF + 0 > m) m = $NF + 0 }
		END { print n + 0, m + 0 }' "$T/recv.st")
	big=${counts#* }
	if [ $rc -eq 0 ] && [ -n "$got" ] && [ "$got" = "$(echo "$sent" | grep '^bytes')" ] &&
	   [ "$big" -gt 16709 ]; then
		pass "$name (recvfrom with data, largest: $counts)"
	else
		fail "$name" "recvfrom with data, largest: $counts; sender: $sent; receiver (exit $rc):\
 $(cat "$T/recv2.out" "$T/srv2.log" "$T/cli2.log" 2>/dev/null)"
	fi
fi
