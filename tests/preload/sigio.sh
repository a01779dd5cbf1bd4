#!/bin/sh
# tests/preload/sigio.sh — signal-driven I/O (O_ASYNC, F_SETOWN, F_SETSIG)
# on TLS descriptors (helper-77).
#
# The kernel raises the program's signal for ciphertext: a record's
# arrival, or room in the socket for ciphertext the library still holds.
# A program that writes on POLLOUT signals only while it has something
# left to write was told its last write() was taken whole; the library
# held the end of that record, the program ignored the POLLOUT signals,
# and the peer never got the request: a stall for ever (main: "fcntl:
# stalled ... wrote 16000 of 16000, reply 0 bytes").  O_ASYNC is refused
# on a TLS descriptor (libtlsshim(7), docs/design.md "Signal-driven I/O").
#
# SO_RCVLOWAT, the other way a program asks the kernel when to wake it:
# counted on ciphertext, the tail of a record below the mark kept the
# library's read asleep with the record's plain text above it (main:
# "client: EAGAIN after 0 bytes" at SO_RCVTIMEO).  py/lowat_peer.py.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim sigio_client

N=16000
P=$(free_port)
policy "$T/cli.conf" <<EOF2
# (close_timeout_ms 0: a refused client does not linger on a server that
# reads nothing yet)
rules = ( { name = "sigio-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
	    close_timeout_ms = 0; } );
EOF2

# run MODE PORT CERT KEY: one server, one client; the client's line in OUT.
run() {
	rm -f "$T/go"
	bg "$PY" "$PYD/sigio_server.py" "$2" $N "$T/go" "$3" "$4" >"$T/srv-$1.out" 2>&1
	_srv=$!
	if ! wait_for "$T/srv-$1.out" '^ready' 10; then
		OUT="server did not start"; RC=99; stop $_srv; return
	fi
	OUT=$(TLSSHIM_LOG_FILE="$T/$1.log" timeout -k 2 $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/cli.conf" "$PROGS/sigio_client" 127.0.0.1 "$2" "$1" $N "$T/go" $((3 * TS)) 2>&1)
	RC=$?
	stop $_srv
}

# The program is right on TCP: a port no rule names.
P0=$(free_port)
run plain "$P0" - -
case "$RC:$OUT" in
"0:plain: reply OK $N") pass "signal-driven I/O on a plain descriptor is the kernel's: $N bytes sent by POLLOUT signals, the reply read by a POLLIN signal" ;;
*) fail "signal-driven I/O on plain TCP" "exit $RC; got: $OUT" ;;
esac

for m in fcntl:fcntl ioctl:ioctl early:connect; do
	mode=${m%%:*} call=${m#*:}
	run "$mode" "$P" "$CERTS/server.crt" "$CERTS/server.key"
	case "$RC:$OUT" in
	"3:$mode: $call EINVAL")
		if grep -q "O_ASYNC.*refused" "$T/$mode.log"; then
			pass "O_ASYNC on a TLS descriptor ($mode) is refused with EINVAL and a log line, where the program stalled for ever"
		else
			fail "O_ASYNC on a TLS descriptor ($mode)" "no log line$(show "$T/$mode.log")"
		fi ;;
	*) fail "O_ASYNC on a TLS descriptor ($mode)" "exit $RC; got: $OUT$(show "$T/$mode.log")" ;;
	esac
done

# F_SETOWN and F_SETSIG on the TLS fd, then fdopen() (the session moves
# to a pump; the fd is plain text, O_ASYNC the kernel's): the owner went
# with the dup2 of the channel over the fd (main: "fdopen: stalled").
run fdopen "$P" "$CERTS/server.crt" "$CERTS/server.key"
case "$RC:$OUT" in
"0:fdopen: reply OK $N") pass "signal-driven I/O once the session is in a pump (fdopen): the owner and signal set on the TLS fd went with it" ;;
*) fail "signal-driven I/O after fdopen" "exit $RC; got: $OUT$(show "$T/fdopen.log")" ;;
esac

# lowat NAME ENVVAR MODE: lowat_peer.py's client in MODE, the library
# preloaded through ENVVAR, against its server (a 2,000-byte record in
# two pieces); its output in $out.
lowat() {
	PL=$(free_port)
	policy "$T/$1.conf" <<EOF2
rules = ( { name = "lowat-out"; direction = "connect"; port = $PL; ca = "$CERTS/ca.crt";
	    close_timeout_ms = 0; } );
EOF2
	bg "$PY" "$PYD/lowat_peer.py" server "$PL" "$CERTS/server.crt" "$CERTS/server.key" >"$T/$1-srv.out" 2>&1
	PEER=$!
	wait_for "$T/$1-srv.out" '^ready' 10
	out=$(TLSSHIM_LOG_FILE="$T/$1.log" timeout -k 2 $((30 * TS)) env "$2=$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/$1.conf" "$PY" "$PYD/lowat_peer.py" "$3" "$PL" 2>&1)
	stop "$PEER"
}

# SO_RCVLOWAT 1024 before connect(); a 2,000-byte record in two pieces.
lowat lowat LD_PRELOAD client
case "$out" in
"client: got 2000") pass "SO_RCVLOWAT on a TLS socket: a record's plain text above the mark is read, its ciphertext tail below it did not keep the read asleep" ;;
*) fail "SO_RCVLOWAT on a TLS socket" "got: $out$(show "$T/lowat.log")" ;;
esac

# The mark set by a launcher without the library, which execs the
# program on the socket (main: "client: EAGAIN after 0 bytes").
lowat lowat2 LOWAT_PRELOAD client-exec
case "$out" in
"client: got 2000") pass "SO_RCVLOWAT set before exec by a program without the library: the session's reads do not sleep on it" ;;
*) fail "SO_RCVLOWAT set before exec" "got: $out$(show "$T/lowat2.log")" ;;
esac
