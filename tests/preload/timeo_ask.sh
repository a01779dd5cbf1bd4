#!/bin/sh
# tests/preload/timeo_ask.sh — a session's first wait knows the socket's
# SO_RCVTIMEO/SO_SNDTIMEO without asking the kernel when it cannot have
# one (shim/sock.c, shim_timeo_set): a socket whose whole history this
# process saw (shim_sock_whole: made here by socket(), or accepted from a
# listener made here), in a process that never set a time-out on any
# socket.  One getsockopt a connection that waits, at each end, before.
#
#   * timeo_whole_no_getsockopt: 20 pingpong connections, both ends
#     shimmed, each under strace: no getsockopt of SO_RCVTIMEO or
#     SO_SNDTIMEO at either end (main: one for each connection whose read
#     waited: the client's, about 20, and some of the server's);
#   * timeo_set_still_counts: a shimmed client that sets SO_RCVTIMEO (1 s)
#     on its socket, sends half a ping and reads: the read fails with
#     EAGAIN (the server waits for the rest), as the kernel's would; and
#     the time-out was asked (one getsockopt of SO_RCVTIMEO);
#   * timeo_set_mid_wait: a shimmed client in a process that set a
#     time-out on another socket (so its first wait asks the kernel) sends
#     half a ping and reads; preload_timeorace.so sets SO_RCVTIMEO (200 ms)
#     on the socket just after the library's getsockopt answered "none",
#     before the library notes it, as another thread would: the read fails
#     with EAGAIN (main: the note "none" was stored after the setsockopt
#     had cleared it, and the read waited for ever: killed at the bound);
#   * timeo_listener_inherited: a shimmed server whose listener has
#     SO_RCVTIMEO (1 s) set before accept(): the accepted socket inherits
#     it, and a read of a client that sends nothing fails with EAGAIN.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim timeo_setup
command -v strace >/dev/null || { fail timeo_setup "strace not installed (.ci/packages lists it)"; exit 1; }

P=$(free_port)
policy "$T/srv.conf" <<EOF
rules = ( { name = "timeo-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
policy "$T/cli.conf" <<EOF
rules = ( { name = "timeo-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            server_name = "localhost"; } );
EOF
# asked FILE: getsockopt calls of a send or receive time-out in FILE
asked() { grep -cE 'getsockopt\(.*SO_(RCV|SND)TIMEO' "$1"; }

name=timeo_whole_no_getsockopt
POLICY="$T/srv.conf" TLSSHIM_LOG_FILE="$T/srv.log" shimbg strace -f -qq -s 0 -e trace=getsockopt \
	-o "$T/srv.st" "$PROGS/pingpong" server "$P" >"$T/srv.out" 2>"$T/srv.err"
SRV=$!
if ! wait_for "$T/srv.out" '^listening' 30; then
	fail "$name" "pingpong server (under strace) never listened$(show "$T/srv.err")"
else
	POLICY="$T/cli.conf" TLSSHIM_LOG_FILE="$T/cli.log" shimmed strace -f -qq -s 0 -e trace=getsockopt \
		-o "$T/cli.st" "$PROGS/pingpong" client 127.0.0.1 "$P" 20 >"$T/cli.out" 2>&1
	rc=$?
	for kid in $(cat "/proc/$SRV/task/$SRV/children" 2>/dev/null); do
		kill "$kid" 2>/dev/null
	done
	wait_exit "$SRV" 10 >/dev/null
	s=$(asked "$T/srv.st") c=$(asked "$T/cli.st")
	if [ "$rc" -ne 0 ] || ! grep -q '^20 connections in ' "$T/cli.out"; then
		fail "$name" "pingpong client failed (exit $rc)$(show "$T/cli.out" "$T/cli.log")"
	elif [ "$s" -ne 0 ] || [ "$c" -ne 0 ]; then
		fail "$name" "time-outs asked: server $s, client $c (want none)$(show "$T/srv.st" "$T/cli.st")"
	else
		pass "$name (20 connections, both ends shimmed: no time-out asked at either end)"
	fi
fi

POLICY="$T/srv.conf" TLSSHIM_LOG_FILE="$T/srv2.log" shimbg "$PROGS/pingpong" server "$P" \
	>"$T/srv2.out" 2>"$T/srv2.err"
SRV2=$!
name=timeo_set_still_counts
if ! wait_for "$T/srv2.out" '^listening' 20; then
	fail "$name" "pingpong server never listened$(show "$T/srv2.err")"
else
	POLICY="$T/cli.conf" TLSSHIM_LOG_FILE="$T/set.log" shimmed strace -f -qq -s 0 -e trace=getsockopt \
		-o "$T/set.st" "$PY" -c '
import errno, socket, struct, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 1, 0))
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"0123456789abcdef")
try:
    s.recv(100)
    print("read returned")
except OSError as e:
    print("eagain" if e.errno == errno.EAGAIN else "errno %d" % e.errno)
s.close()
' "$P" >"$T/set.out" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] || ! grep -q '^eagain$' "$T/set.out"; then
		fail "$name" "the read did not time out with EAGAIN (exit $rc)$(show "$T/set.out" "$T/set.log")"
	elif [ "$(asked "$T/set.st")" -lt 1 ]; then
		fail "$name" "the time-out was never asked$(show "$T/set.st")"
	else
		pass "$name (SO_RCVTIMEO set: the read timed out with EAGAIN, the time-out asked)"
	fi
fi

name=timeo_set_mid_wait
if ! grep -q '^listening' "$T/srv2.out"; then
	fail "$name" "pingpong server never listened$(show "$T/srv2.err")"
else
	TLSSHIM_LOG_FILE="$T/mid.log" timeout -k 2 $((10 * TS)) \
		env LD_PRELOAD="$SHIM_PRELOAD $PROGS/preload_timeorace.so" TLSSHIM_CONFIG="$T/cli.conf" \
		"$PY" -c '
import errno, os, socket, struct, sys
o = socket.socket()
o.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 0, 0))
o.close()
s = socket.socket()
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"0123456789abcdef")
os.environ["TLSSHIM_TEST_TIMEO_RACE"] = "200"
try:
    s.recv(100)
    print("read returned", flush=True)
except OSError as e:
    print("eagain" if e.errno == errno.EAGAIN else "errno %d" % e.errno, flush=True)
s.close()
' "$P" >"$T/mid.out" 2>&1
	rc=$?
	if ! grep -q '^timeorace: set$' "$T/mid.out"; then
		fail "$name" "the injector never set the time-out (exit $rc)$(show "$T/mid.out" "$T/mid.log")"
	elif [ "$rc" -ne 0 ] || ! grep -q '^eagain$' "$T/mid.out"; then
		fail "$name" "the read did not time out with EAGAIN (exit $rc: 124 is the bound)\
$(show "$T/mid.out" "$T/mid.log")"
	else
		pass "$name (SO_RCVTIMEO set between the library's look and its note: EAGAIN)"
	fi
fi
stop "$SRV2"

name=timeo_listener_inherited
P2=$(free_port)
policy "$T/lsn.conf" <<EOF
rules = ( { name = "timeo-lsn"; direction = "accept"; port = $P2;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
POLICY="$T/lsn.conf" TLSSHIM_LOG_FILE="$T/lsn.log" shimbg "$PY" -c '
import errno, socket, struct, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 1, 0))
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
try:
    c.recv(100)
    print("read returned", flush=True)
except OSError as e:
    print("eagain" if e.errno == errno.EAGAIN else "errno %d" % e.errno, flush=True)
c.close()
' "$P2" >"$T/lsn.out" 2>&1
LSN=$!
if ! wait_for "$T/lsn.out" '^listening' 20; then
	fail "$name" "the server never listened$(show "$T/lsn.out")"
else
	# a TLS client that sends nothing after its handshake, until the
	# server closes
	bg "$PY" -c '
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                    server_hostname="localhost")
print("connected", flush=True)
try:
    s.recv(1)
except OSError:
    pass
' "$P2" "$CERTS/ca.crt" >"$T/hold.out" 2>&1
	HOLD=$!
	wait_exit "$LSN" 30 >/dev/null
	if grep -q '^eagain$' "$T/lsn.out"; then
		pass "$name (the listener's SO_RCVTIMEO held on the accepted socket: EAGAIN)"
	else
		fail "$name" "the accepted socket's read did not time out with EAGAIN$(show "$T/lsn.out" "$T/lsn.log" "$T/hold.out")"
	fi
	stop "$HOLD"
fi
stop "$LSN"
