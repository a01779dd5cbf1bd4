#!/bin/sh
# tests/interop/inetd_cat.sh — openbsd-inetd under the shim (an accept rule
# on its port) running /bin/cat as a "nowait" stream service, started the
# way an administrator would: without -E, so inetd cleans the service's
# environment (LD_PRELOAD and TLSSHIM_CONFIG do not reach cat).  inetd
# accepts, forks, puts the connection on fds 0-2 and execs cat: the
# session is fresh (the server handshake is lazy) and no library in the
# new image can serve it, so the shim must hand it to a pump before the
# exec (see libtlsshim(7), fork and exec).
# Asserted: a verifying Python TLS client sends lines and gets them echoed
# back over TLS, 1 MB too; openssl s_client gets a verified handshake;
# a wiretap relay sees no plaintext; a client that floods without reading
# and then cuts the connection leaves no cat (or pump) behind; after a
# failed session, a service that shut its writing side still reads every
# byte sent before the failure, and one that writes 100 MB before reading
# is not stalled (two Python services).
# (tests/interop/inetd.sh covers inetd -E, where the service is shimmed.)
# tlsshim-test: big-capture (tests/run.sh: the flood moves some 40 MB)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim inetd_cat_setup
[ -x /usr/sbin/inetd ] || { fail inetd_cat_setup "/usr/sbin/inetd not installed (openbsd-inetd)"; exit 1; }

P=$(free_port) PH=$(free_port) PW=$(free_port)
# Two Python services for the failed-session cases below (they run
# without the library too: inetd cleans their environment).
cat >"$T/svc.py" <<'PY'
import os, socket, sys, time
# svc.py half GO OUT: shut the writing side, wait for the cue (the client
#   has sent and cut), then read to the end: every byte sent, then the reset.
# svc.py bigwrite OUT: write 100 MB before reading anything, then read to
#   the end.
s = socket.socket(fileno=0)
out, line = sys.argv[-1], ""
if sys.argv[1] == "half":
    s.shutdown(socket.SHUT_WR)
    end = time.time() + 60
    while not os.path.exists(sys.argv[2]) and time.time() < end:
        time.sleep(0.05)
else:
    try:
        s.sendall(b"z" * 100000000)
        line = "wrote=all "
    except OSError as e:
        line = "wrote=%s " % e.strerror
total, how = 0, "EOF"
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        total += len(d)
except OSError as e:
    how = e.strerror
open(out, "w").write("%s%s=%d end=%s\n" % (line, "total" if sys.argv[1] == "half" else "read", total, how))
PY
cat >"$T/inetd.conf" <<EOF
127.0.0.1:$P	stream	tcp4	nowait	$(id -un)	/bin/cat	cat
127.0.0.1:$PH	stream	tcp4	nowait	$(id -un)	$PY	python3 $T/svc.py half $T/half.go $T/half.out
127.0.0.1:$PW	stream	tcp4	nowait	$(id -un)	$PY	python3 $T/svc.py bigwrite $T/bigw.out
EOF
policy "$T/policy.conf" <<EOF
rules = ( { name = "inetd-in"; direction = "accept"; port = [$P, $PH, $PW];
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
# -d: foreground, debug messages on stderr.
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/inetd.log" shimbg /usr/sbin/inetd -d "$T/inetd.conf" >"$T/inetd.out" 2>&1
INETD=$!
track "$INETD"
if ! wait_listen "$P" 15; then
	fail inetd_cat_setup "inetd did not listen$(show "$T/inetd.out" "$T/inetd.log")"
	exit 1
fi

cat >"$T/client.py" <<'PY'
import socket, ssl, sys, os
from strict_tls import strict_client_ctx, connect
port, ca, big = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = strict_client_ctx(ca)
try:
    s = connect(ctx, port, 20)
    print("tls %s" % s.version(), flush=True)
    f = s.makefile("rb")
    for line in (b"hello inetd cat", b"second line"):
        s.sendall(line + b"\n")
        print("echo %r" % f.readline().rstrip(b"\n").decode(), flush=True)
    data = os.urandom(big // 2).hex().encode() + b"\n"
    s.sendall(data)                   # cat's pipe buffers are smaller: it
    got = f.readline()                # must echo while we send (1 MB fits
    print("big %s" % ("ok" if got == data else "MISMATCH %d of %d" % (len(got), len(data))), flush=True)
    s = s.unwrap()                    # close_notify: cat reads end of file
    print("unwrap ok")
except Exception as e:
    print("error %s: %s" % (type(e).__name__, e))
PY
# Through a wiretap relay.  The 1 MB line goes in one sendall while cat
# echoes it: cat writes as it reads, the socket buffers hold the rest.
name=inetd_cat_echo_over_tls
RP=$(free_port)
start_peer tap relay --port "$RP" --to "$P" --record "$T/wire" || RP=""
out=$(timeout 60 "$PY" "$T/client.py" "${RP:-$P}" "$CERTS/ca.crt" 1000000 2>&1)
want="echo 'hello inetd cat'
echo 'second line'
big ok
unwrap ok"
if [ "$(echo "$out" | grep -v '^tls ')" = "$want" ] && echo "$out" | grep -q '^tls TLSv1\.[23]$'; then
	pass "$name"
else
	fail "$name" "client: '$(echo "$out" | tr '\n' '|' | cut -c1-300)'$(show "$T/inetd.log" "$T/inetd.out")"
fi
# What came back is a TLS server's answer (a ServerHello: record type 22,
# handshake type 2), not the client's own ClientHello echoed by a cat
# that speaks plain text, and no plaintext.
name=inetd_cat_server_answers_tls_no_plaintext
rec=$(od -A n -t x1 -N 6 "$T/wire.s2c" 2>/dev/null | tr -d ' \n')
if [ -n "$RP" ] && [ "$(echo "$rec" | cut -c1-2)" = 16 ] && [ "$(echo "$rec" | cut -c11-12)" = 02 ] &&
   has_no "$T/wire.s2c" "hello inetd cat"; then
	pass "$name"
else
	fail "$name" "relay port '${RP}', first bytes from the server: '$rec' (16....01: the client's ClientHello came back: cat spoke plain text)"
fi
stop "$PEER"

name=inetd_cat_openssl_s_client_line_echoed
feed_until "$T/sc.out" 'line for s_client' 'line for s_client' |
	timeout 20 openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" -verify_return_error \
		-verify_hostname localhost -quiet -no_ign_eof >"$T/sc.out" 2>"$T/sc.err"
if grep -q '^line for s_client$' "$T/sc.out"; then
	pass "$name"
else
	fail "$name" "s_client got '$(head -c 200 "$T/sc.out" | tr '\n' '|')'$(show "$T/sc.err" "$T/inetd.log")"
fi

# A client that sends without reading the echo, then cuts the connection
# (no close_notify): cat is blocked writing to its channel, the pump has
# a failed session.  The pump must drop what cat writes and reset the
# channel within its bound, so that both end (helper-63: both waited for
# ever, one pair per such client).
name=inetd_cat_failed_session_with_blocked_service_ends
cat >"$T/flood.py" <<'PY'
import socket, ssl, struct, sys
from strict_tls import strict_client_ctx, connect
# Send until blocked 3 s, never reading; then close without close_notify
# (a FIN; "rst": SO_LINGER 0, a RST).
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = strict_client_ctx(ca)
s = connect(ctx, port, 10)
s.settimeout(3)
sent = 0
try:
    while sent < 200000000:
        sent += s.send(b"x" * 16384)
except OSError:
    pass
print("sent %d" % sent, flush=True)
if sys.argv[3:] == ["rst"]:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
print("cut", flush=True)
PY
n=0
while pgrep -x cat >/dev/null && [ $n -lt $((100 * TS)) ]; do sleep 0.1; n=$((n + 1)); done
timeout $((60 * TS)) "$PY" "$T/flood.py" "$P" "$CERTS/ca.crt" >"$T/flood.out" 2>&1
n=0
while pgrep -x cat >/dev/null && [ $n -lt $((300 * TS)) ]; do sleep 0.1; n=$((n + 1)); done
if ! grep -q '^cut$' "$T/flood.out"; then
	fail "$name" "the client did not run$(show "$T/flood.out")"
elif pgrep -x cat >/dev/null; then
	fail "$name" "cat (and its pump) still there $((n / 10)) s after the cut: $(ps -eo pid,stat,wchan:24,args | grep -v ps | tr '\n' '|')"
elif ! alive "$INETD"; then
	fail "$name" "inetd died$(show "$T/inetd.out")"
else
	pass "$name ($(sed -n 's/^sent //p' "$T/flood.out") bytes sent unread; the service ended)"
fi

# A service that shut its writing side reads slowly what a client sent
# before it cut the connection (no close_notify): every byte, then the
# reset (helper-64: the pump took the service's end of file for its end
# being gone and reset with bytes still queued).
name=inetd_half_closed_service_gets_every_byte_before_the_reset
cat >"$T/sendcut.py" <<'PY'
import socket, ssl, sys
from strict_tls import strict_client_ctx, connect
port, ca, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = strict_client_ctx(ca)
s = connect(ctx, port, 30)
sent = 0
while sent < n:
    sent += s.send(b"y" * min(16384, n - sent))
print("sent %d" % sent, flush=True)
socket.socket.shutdown(s, socket.SHUT_WR)       # a FIN, no close_notify
print("cut", flush=True)
# Read on to the end (the service's close_notify, raw): closing with it
# unread would send a RST instead, another case.
try:
    while socket.socket.recv(s, 65536):
        pass
except OSError:
    pass
PY
timeout $((60 * TS)) "$PY" "$T/sendcut.py" "$PH" "$CERTS/ca.crt" 3000000 >"$T/sendcut.out" 2>&1 &
KC=$!
wait_for "$T/sendcut.out" '^cut' 60
: >"$T/half.go"
wait_for "$T/half.out" 'end=' 60
kill "$KC" 2>/dev/null; wait "$KC" 2>/dev/null
if grep -q '^total=3000000 end=Connection reset by peer$' "$T/half.out"; then
	pass "$name"
else
	fail "$name" "service: '$(cat "$T/half.out" 2>/dev/null)' client: '$(tr '\n' '|' <"$T/sendcut.out")'$(show "$T/inetd.log")"
fi

# A service that writes 100 MB before it reads, to a client that floods
# without reading and then cuts (a reset): the pump drops what the
# service writes after the failure, so its write ends, whole, and it
# reads what came before the reset (helper-64: the pump drained once,
# then the service's write waited for the 10 s bound and failed).
name=inetd_service_writing_to_a_failed_session_is_not_stalled
timeout $((60 * TS)) "$PY" "$T/flood.py" "$PW" "$CERTS/ca.crt" rst >"$T/cutrst.out" 2>&1
wait_for "$T/bigw.out" 'end=' 60
if grep -q '^wrote=all read=[0-9]* end=Connection reset by peer$' "$T/bigw.out"; then
	pass "$name ($(cat "$T/bigw.out"))"
else
	fail "$name" "service: '$(cat "$T/bigw.out" 2>/dev/null)' client: '$(tr '\n' '|' <"$T/cutrst.out")'$(show "$T/inetd.log")"
fi

kill_tree "$INETD"
