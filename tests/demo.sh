#!/bin/sh
# tests/demo.sh — what "make demo" runs: a plain, TLS-unaware echo server
# becomes a TLS server through tlsshim, and openssl s_client talks to it.
#
#   1. certs/mkcerts.sh makes a throwaway CA and server certificate in
#      BUILD/demo-certs;
#   2. a policy BUILD/demo.conf says: the sockets accepted on PORT speak TLS;
#   3. the launcher starts BUILD/progs/echo_server under that policy:
#        BUILD/tlsshim -c BUILD/demo.conf -- BUILD/progs/echo_server PORT
#   4. openssl s_client connects, verifies the server against the demo CA,
#      sends a line and prints what came back.
# Exit status 0 when the echo came back over a verified TLS connection.
set -u
# The library refuses policy, cert and CA files other users can write: the
# files written here must not be, whatever umask the caller has (a CI
# container with umask 000 failed every test at its policy file).
umask 022
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-build}
case "$B" in /*) ;; *) B="$top/$B" ;; esac
certs="$B/demo-certs"
conf="$B/demo.conf"
launcher="$B/tlsshim"
echo_server="$B/progs/echo_server"
text="hello through tlsshim"

die() { echo "demo: $*" >&2; exit 1; }
for f in "$launcher" "$B/libtlsshim.so" "$echo_server"; do
	[ -e "$f" ] || die "$f is missing: run 'make' and 'make test-build' (or 'make demo') first"
done
command -v openssl >/dev/null 2>&1 || die "openssl is not installed"

work=$(mktemp -d "${TMPDIR:-/tmp}/tlsshim-demo.XXXXXX") || die "mktemp failed"
srv=""
cleanup() {
	[ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A free port on 127.0.0.1 (python3 if there, else a random high port).
port=$(python3 -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null) ||
	port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000))

echo "== 1. certificates (certs/mkcerts.sh $certs)"
sh "$top/certs/mkcerts.sh" "$certs" >"$work/mkcerts.log" 2>&1 || { cat "$work/mkcerts.log"; die "mkcerts.sh failed"; }
for f in ca.crt server.crt server.key; do [ -s "$certs/$f" ] || die "mkcerts.sh made no $certs/$f"; done
echo "   CA $certs/ca.crt; server certificate $certs/server.crt (localhost, 127.0.0.1, ::1)"

echo "== 2. policy ($conf)"
cat >"$conf" <<EOF
# tlsshim demo policy: connections accepted on port $port speak TLS.
rules = (
  { name = "demo-echo";
    direction = "accept";
    port = $port;
    cert = "$certs/server.crt";
    key  = "$certs/server.key";
  }
);
EOF
sed 's/^/   /' "$conf"
"$launcher" --check "$conf" >"$work/check.log" 2>&1 || { cat "$work/check.log"; die "the policy does not validate"; }

echo "== 3. the plain echo server, under the launcher"
echo "   \$ $launcher -c $conf -- $echo_server -1 $port"
TLSSHIM_LOG=info "$launcher" -c "$conf" -- "$echo_server" -1 "$port" >"$work/server.out" 2>"$work/server.err" &
srv=$!
i=0
until grep -q '^listening' "$work/server.out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$srv" 2>/dev/null; then
		cat "$work/server.out" "$work/server.err" >&2
		die "the echo server did not start"
	fi
	sleep 0.1
done
sed 's/^/   server: /' "$work/server.out"

echo "== 4. openssl s_client, verifying the server against the demo CA"
echo "   \$ echo \"$text\" | openssl s_client -connect 127.0.0.1:$port -CAfile $certs/ca.crt -verify_return_error -brief"
# s_client hangs up as soon as its input ends: keep the input open until
# the echo is back (at most 10 s).
{
	echo "$text"
	i=0
	while [ $i -lt 100 ] && ! grep -q "^$text\$" "$work/client.out" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
} | timeout 20 openssl s_client -connect "127.0.0.1:$port" -CAfile "$certs/ca.crt" \
	-verify_return_error -brief >"$work/client.out" 2>"$work/client.err"
rc=$?
grep -E '^(Protocol version|Ciphersuite|Peer certificate|Verification)' "$work/client.err" | sed 's/^/   s_client: /'
sed 's/^/   echoed back: /' "$work/client.out"

# The server exits after its one connection; give it a moment, then stop it.
i=0
while [ $i -lt 50 ] && kill -0 "$srv" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill "$srv" 2>/dev/null
wait "$srv" 2>/dev/null
srv=""
grep '^tlsshim' "$work/server.err" | grep -v 'rule.* loaded' | sed 's/^/   shim log: /'

if [ "$rc" -ne 0 ] || ! grep -q "^$text\$" "$work/client.out" ||
	! grep -q '^Verification: OK' "$work/client.err"; then
	echo "== FAILED: s_client exit $rc" >&2
	sed 's/^/   s_client: /' "$work/client.err" >&2
	sed 's/^/   server: /' "$work/server.err" >&2
	exit 1
fi

cat <<EOF
== What happened
   echo_server is an ordinary blocking TCP server: socket, bind, listen,
   accept, read, write.  It has no TLS code and was not recompiled.  The
   launcher checked the policy, put libtlsshim.so in LD_PRELOAD and ran it.
   On the socket accepted on port $port (rule "demo-echo") the shim ran the
   TLS server handshake with $certs/server.crt on the first read;
   after that the program's read() returned the decrypted line and its
   write() sent it back encrypted.  s_client verified the certificate
   chain against the demo CA, and the program's close() ended the session
   with a TLS close_notify.  No byte of "$text" crossed the wire in clear.
   Try it yourself:  $launcher -c $conf -- $echo_server $port
EOF
exit 0
