#!/bin/sh
# tests/preload/ktls.sh — `ktls = true` (kernel TLS, opt-in).
#
# On a kernel without the "tls" ULP (the project's machines): a rule with
# ktls = true works exactly as without it — the same bytes, checked by
# sha256, through sendfile() on a blocking and on a non-blocking socket
# (server side) and through the shimmed client (client side, sendfile and
# write) — and the shim says so in ONE info line per process, however many
# connections.  On a kernel that has kTLS the same transfers must show
# "kTLS send" on every connection and sendfile() going zero-copy through
# the kernel on the non-blocking socket; that branch has never run on the
# project's machines.  Both end with a PASS line saying which was checked.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

if grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then KTLS=1; else KTLS=; fi

# --- the key is checked like any other ------------------------------------
printf 'rules = ( { name = "k"; direction = "accept"; port = 1;\n  cert = "%s"; key = "%s"; ktls = "yes"; } );\n' \
	"$CERTS/server.crt" "$CERTS/server.key" >"$T/bad.conf"
"$TLSSHIM_LAUNCHER" --check "$T/bad.conf" >"$T/bad.out" 2>&1; rc=$?
if [ $rc -ne 0 ] && grep -q "bad.conf:2: .*\"ktls\" must be true or false" "$T/bad.out"; then
	pass "ktls: a non-boolean value is refused with FILE:LINE"
else
	fail "ktls: a non-boolean value is refused with FILE:LINE" "rc=$rc: $(cat "$T/bad.out")"
fi

# --- server side: sendfile() under a rule with ktls = true -----------------
head -c 3000000 /dev/urandom >"$T/file"
# serve NAME KTLS-VALUE: three connections (block, nonblock, nonblock) of
# sendfile() of $T/file to a Python ssl client; sets OUT, RC (server's exit).
serve() {
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "kt-in"; direction = "accept"; port = $P; ktls = $2;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
	TLSSHIM_LOG=debug TLSSHIM_LOG_FILE="$T/$1.log" shimbg "$PY" "$TLSSHIM_TOP/tests/preload/py/ktls_sendfile_server.py" \
		"$P" "$T/file" block nonblock nonblock >"$T/$1.out" 2>&1
	srv=$!
	wait_for "$T/$1.out" '^listening' 15
	OUT=$(timeout $((60 * TS)) "$PY" "$TLSSHIM_TOP/tests/preload/py/ktls_client.py" "$P" "$CERTS/ca.crt" "$T/file" 3 2>&1)
	wait_exit "$srv" 30; RC=$?
}

serve plain false
if [ "$OUT" = "ok 3" ] && [ $RC -eq 0 ] && has_no "$T/plain.log" "kTLS"; then
	pass "ktls = false: sendfile() 3 x 3 MB intact (sha256), no kTLS line"
else
	fail "ktls = false: sendfile() 3 x 3 MB intact" "client: $OUT; server exit $RC$(tail_of "$T/plain.out" "$T/plain.log")"
fi

serve kt true
said=$(grep -c 'kTLS: rule "kt-in" has ktls = true, but' "$T/kt.log")
if [ "$OUT" = "ok 3" ] && [ $RC -eq 0 ] && grep -c '^sent ' "$T/kt.out" | grep -qx 3; then
	pass "ktls = true: sendfile() on a blocking and a non-blocking socket, 3 x 3 MB intact (sha256)"
else
	fail "ktls = true: sendfile() 3 x 3 MB intact" "client: $OUT; server exit $RC$(tail_of "$T/kt.out" "$T/kt.log")"
fi

# --- client side: the shimmed client with ktls = true ----------------------
P=$(free_port)
policy "$T/cli.conf" <<EOC
rules = ( { name = "kt-out"; direction = "connect"; port = $P; ktls = true;
            ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOC
head -c 200000 /dev/urandom >"$T/cli.in"
cli_ok=1
for flag in -S ""; do
	if ! start_peer "peer$flag" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
		--status "$T/peer$flag.st"; then
		cli_ok=; echo "peer did not start" >>"$T/cli.err"; break
	fi
	# shellcheck disable=SC2086
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/cli$flag.log" shimmed "$PROGS/client" $flag 127.0.0.1 "$P" \
		<"$T/cli.in" >"$T/cli$flag.got" 2>>"$T/cli.err" || cli_ok=
	wait_exit "$PEER" 10
	cmp -s "$T/cli.in" "$T/cli$flag.got" || { cli_ok=; echo "client $flag: data differs" >>"$T/cli.err"; }
done
if [ -n "$cli_ok" ]; then
	pass "ktls = true on a connect rule: the shimmed client's sendfile() and write() echoed intact"
else
	fail "ktls = true on a connect rule" "$(cat "$T/cli.err")$(tail_of "$T/cli-S.log" "$T/cli.log")"
fi

# --- which path ran --------------------------------------------------------
if [ -z "$KTLS" ]; then
	# Fallback: one info line per process (3 connections: still one), no
	# connection claims kTLS, and the handshake lines say "kTLS off".
	off=$(grep -c 'accepted TLSv1.3 .*, kTLS off' "$T/kt.log")
	if [ "$said" = 1 ] && [ "$off" = 3 ] && has_no "$T/kt.log" "kTLS send" &&
	   has_no "$T/kt.log" "zero-copy" && [ "$(grep -c 'kTLS: rule "kt-out"' "$T/cli-S.log")" = 1 ]; then
		pass "kTLS not available on this kernel: fallback checked (one info line per process, $off connections in software)"
	else
		fail "kTLS fallback" "info lines: $said (want 1), 'kTLS off' handshakes: $off (want 3)$(tail_of "$T/kt.log")"
	fi
else
	# A kernel with kTLS (never run on the project's machines): every
	# connection sends through the kernel, and the non-blocking sendfile()
	# went zero-copy.
	on=$(grep -c 'accepted TLSv1.3 .*, kTLS send' "$T/kt.log")
	zc=$(grep -c 'sendfile: zero-copy through kernel TLS' "$T/kt.log")
	if [ "$said" = 0 ] && [ "$on" = 3 ] && [ "$zc" = 2 ] && grep -q ', kTLS send' "$T/cli-S.log"; then
		pass "kTLS active on this kernel: 3 connections sent through the kernel, sendfile() zero-copy on 2"
	else
		fail "kTLS active" "fallback lines $said (want 0), kTLS-send handshakes $on (want 3), zero-copy sendfile $zc (want 2)$(tail_of "$T/kt.log")"
	fi
fi
