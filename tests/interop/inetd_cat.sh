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
# and then cuts the connection leaves no cat (or pump) behind.
# (tests/interop/inetd.sh covers inetd -E, where the service is shimmed.)
# tlsshim-test: big-capture (tests/run.sh: the flood moves some 40 MB)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim inetd_cat_setup
[ -x /usr/sbin/inetd ] || { fail inetd_cat_setup "/usr/sbin/inetd not installed (openbsd-inetd)"; exit 1; }

P=$(free_port)
cat >"$T/inetd.conf" <<EOF
127.0.0.1:$P	stream	tcp4	nowait	$(id -un)	/bin/cat	cat
EOF
policy "$T/policy.conf" <<EOF
rules = ( { name = "inetd-in"; direction = "accept"; port = $P;
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
port, ca, big = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
try:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                        server_hostname="localhost")
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
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
s.settimeout(3)
sent = 0
try:
    while sent < 200000000:
        sent += s.send(b"x" * 16384)
except OSError:
    pass
print("sent %d" % sent, flush=True)
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

kill_tree "$INETD"
