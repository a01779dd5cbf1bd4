#!/bin/sh
# recv/send flags and socket options on a TLS fd behave as on TCP:
# MSG_PEEK leaves the plaintext in place (and sees records that came after
# an earlier peek, at most SO_RCVBUF of them; with MSG_WAITALL it waits for
# the whole count, with MSG_TRUNC it counts), MSG_WAITALL waits for the whole count across
# records, MSG_TRUNC discards (a NULL buffer too), MSG_ERRQUEUE reads the
# error queue and never the stream, TCP_INQ gives TCP_CM_INQ, recvmsg leaves
# msg_controllen, msg_flags (MSG_CTRUNC, MSG_CMSG_CLOEXEC), msg_namelen and
# the control buffer as TCP's recvmsg does (each pattern compared with a
# plain TCP pair's), no receive time stamp comes on a TLS fd; SO_PEEK_OFF,
# SO_ZEROCOPY (and MSG_ZEROCOPY with it) and MSG_OOB are refused
# (EOPNOTSUPP); SO_RCVTIMEO ends a blocking read with EAGAIN (also when a
# record trickles in), and O_NONBLOCK set by ioctl(FIONBIO) (what CPython's
# setblocking uses) makes an empty read say EAGAIN.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
P=$(free_port)
policy "$T/c.conf" <<EOC
rules = ( { name = "flags-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 3 >"$T/echo.out" 2>&1
echo1=$!
wait_for "$T/echo.out" '^listening' 15
TLSSHIM_LOG_FILE="$T/log" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" "$PY" "$PYD/flags_client.py" "$P" >"$T/out" 2>&1
cat "$T/out"
grep -q "^PASS the connection works" "$T/out" || fail "flags script" "$(tail_of "$T/out" "$T/log" "$T/echo.out")"
stop "$echo1"

# sendmmsg()/recvmmsg() on a TLS fd: message by message through TLS.
P=$(free_port)
policy "$T/m.conf" <<EOC
rules = ( { name = "mmsg-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$TLSSHIM_TOP/tests/preload/tls_echo_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" 1 >"$T/echo2.out" 2>&1
echo2=$!
wait_for "$T/echo2.out" '^listening' 15
out=$(TLSSHIM_LOG_FILE="$T/mlog" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/m.conf" \
	"$PROGS/mmsg_client" localhost "$P" 2>&1)
wait_exit "$echo2" 20
if [ "$out" = "sent 3 msgs, echoed: alpha-beta-gamma
count 2^20: sent 1024, echoed 1024
at eof: 3 msgs, lengths 0 0 0" ] && ! grep -q "connection error" "$T/echo2.out"; then
	pass "sendmmsg/recvmmsg on a TLS fd: three messages encrypted and echoed intact; a count past 1024 sends 1024 and reads no further entry (the shim's check of every message read past the vector: SIGSEGV); at the end of the stream three empty messages, as the kernel gives them"
else
	fail "sendmmsg/recvmmsg" "$out$(tail_of "$T/mlog" "$T/echo2.out")"
fi

# SO_SNDTIMEO: a blocking write to a peer that never reads ends with
# EAGAIN (or a short count) instead of blocking for ever.
P=$(free_port)
policy "$T/w.conf" <<EOC
rules = ( { name = "sndto-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            handshake_timeout_ms = 1000; close_timeout_ms = 1000; } );   # bound the close-time flush and the lingering close (else 5 s at exit)
EOC
bg "$PY" "$PYD/stall_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" "$T/stall.done" >"$T/stall.out" 2>&1
stall=$!
wait_for "$T/stall.out" '^listening' 15
out=$(TLSSHIM_LOG_FILE="$T/wlog" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/w.conf" \
	"$PY" "$PYD/sndtimeo_client.py" "$P" 2>&1)
touch "$T/stall.done"
wait_exit "$stall" 10
if [ "$out" = "errno EAGAIN" ]; then
	pass "SO_SNDTIMEO: a blocking write to a peer that never reads ends with EAGAIN"
else
	fail "SO_SNDTIMEO" "$out$(tail_of "$T/wlog" "$T/stall.out")"
fi

# SO_RCVTIMEO bounds one read as a whole: a record that trickles in (3 bytes
# every 0.1 s, against a 0.4 s time-out) ends the read with EAGAIN; the
# library waited afresh for each piece and returned after about 1 s.
P=$(free_port)
policy "$T/t.conf" <<EOC
rules = ( { name = "trickle-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
# trickle N [ARG]: rcvtimeo_trickle_client.py (with ARG) against a trickle
# server; its output in $out, the logs in $T/tlogN and $T/trickleN.out.
trickle() {
	bg "$PY" "$PYD/rawtls.py" server "${TRICKLE_MODE:-trickle}" "$P" "$CERTS/server.crt" "$CERTS/server.key" >"$T/trickle$1.out" 2>&1
	_trk=$!
	wait_for "$T/trickle$1.out" '^ready' 15
	out=$(TLSSHIM_LOG_FILE="$T/tlog$1" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/t.conf" \
		"$PY" "$PYD/rcvtimeo_trickle_client.py" "$P" ${2:+"$2"} 2>&1)
	wait_exit "$_trk" 10
}
trickle 1
case "$out" in
"first errno EAGAIN"*"then b'REPLY-1\\n'")
	pass "SO_RCVTIMEO bounds a read whose record trickles in: EAGAIN, then the record" ;;
*)	fail "SO_RCVTIMEO, a record that trickles in" "$out$(tail_of "$T/tlog1" "$T/trickle1.out")" ;;
esac
# A time-out past INT_MAX ms: 4,294,968 s wrapped in the library's int to
# 704 ms, and the read ended with EAGAIN before the record was whole.
trickle 2 4294968
case "$out" in
"first data b'REPLY-1\\n'"*)
	pass "SO_RCVTIMEO of 4,294,968 s (past INT_MAX ms) waits for the record" ;;
*)	fail "SO_RCVTIMEO past INT_MAX ms" "$out$(tail_of "$T/tlog2" "$T/trickle2.out")" ;;
esac
# A read with SO_RCVTIMEO is never restarted by the kernel (signal(7)): a
# handler with SA_RESTART ends it with EINTR.  The library restarted it.
# The record's end waits for the client (trickle-hold): a signal that comes
# late on a loaded machine still finds the read waiting.
TRICKLE_MODE=trickle-hold trickle 3 restart
case "$out" in
"first errno EINTR"*"then b'REPLY-1\\n'")
	pass "SO_RCVTIMEO and a handler with SA_RESTART: EINTR, as the kernel, then the record" ;;
*)	fail "SO_RCVTIMEO and SA_RESTART" "$out$(tail_of "$T/tlog3" "$T/trickle3.out")" ;;
esac

# ... and one recvmsg(MSG_WAITALL) into several buffers as a whole: one-byte
# records every 0.3 s against a 0.4 s time-out and eight one-byte buffers
# end the call with the few bytes that came in time (the library waited
# afresh for each buffer: all eight, after about 2.4 s).
TRICKLE_MODE=drip trickle 4 iov
case "$out" in
"iov got "[1-7]*"then b'"*)
	pass "SO_RCVTIMEO bounds a recvmsg(MSG_WAITALL) into several buffers as a whole" ;;
*)	fail "SO_RCVTIMEO, recvmsg into several buffers" "$out$(tail_of "$T/tlog4" "$T/trickle4.out")" ;;
esac

# SIOCOUTQ counts what the library holds too (a record a non-blocking write
# left behind), and sends what the socket takes when asked: the library
# said 0 while it held a record, and a program that waited for 0 before
# hanging up lost it (the server never got every byte the writes took).
P=$(free_port)
policy "$T/q.conf" <<EOC
rules = ( { name = "outq-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$PYD/stall_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" "$T/outq.done" "$T/outq.count" >"$T/outq.out" 2>&1
oq=$!
wait_for "$T/outq.out" '^listening' 15
out=$(TLSSHIM_LOG_FILE="$T/qlog" timeout $((30 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/q.conf" \
	"$PY" "$PYD/outq_client.py" "$P" "$T/outq.done" "$T/outq.count" 2>&1)
wait_exit "$oq" 20
set -- $out
if [ "$1" = sent ] && [ "$3" = outq0 ] && [ "$2" = "$5" ]; then
	pass "SIOCOUTQ counts the record the library holds: 0 only once the peer has every byte ($2)"
else
	fail "SIOCOUTQ, a record held by the library" "$out$(tail_of "$T/qlog" "$T/outq.out")"
fi

# A peek keeps no more than TCP's could show (its receive queue, SO_RCVBUF):
# peeks that only count (MSG_PEEK|MSG_TRUNC, a NULL buffer, 1 GiB asked)
# against a peer that floods 8 MiB.  The library decrypted and kept all of
# it (the peer's to size: no bound), where TCP's closed window stops it.
P=$(free_port)
policy "$T/pb.conf" <<EOC
rules = ( { name = "peekbound-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
bg "$PY" "$PYD/rawtls.py" server flood "$P" "$CERTS/server.crt" "$CERTS/server.key" >"$T/flood.out" 2>&1
fl=$!
wait_for "$T/flood.out" '^ready' 15
out=$(TLSSHIM_LOG_FILE="$T/pblog" timeout $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/pb.conf" \
	"$PY" "$PYD/peek_bound_client.py" "$P" 2>&1)
stop "$fl"
set -- $out
if [ "$1" = rcvbuf ] && [ "$4" -gt 0 ] && [ "$4" -le "$2" ] && [ "$6" -gt 0 ] && [ "$6" -le "$2" ] &&
   [ "$8" = ok ]; then
	pass "a peek that counts keeps at most SO_RCVBUF of plain text (peek $4, MSG_WAITALL $6, SO_RCVBUF $2), the stream intact"
else
	fail "a counting peek against a flooding peer" "$out$(tail_of "$T/pblog" "$T/flood.out")"
fi
