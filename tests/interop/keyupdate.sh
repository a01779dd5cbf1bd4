#!/bin/sh
# TLS 1.3 post-handshake messages never surface as data: openssl s_server
# sends KeyUpdate (once with update_requested, "K", once without, "k")
# between lines; the shimmed plain client receives exactly the three
# lines, in order, and keeps working across both key changes.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
P=$(free_port)
policy "$T/c.conf" <<EOC
rules = ( { name = "ku-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC
# s_server's input, one line at a time, each once the previous one has
# had its effect: a line when the client has printed the one before, a key
# update ("K"/"k" must be read alone) when s_server has reported the one
# before.  s_server ends the connection when its input ends, after "third"
# (with a bare FIN, which the shim rightly reports as a truncation): the
# client then exits by itself, having flushed what it received.
updates() { grep -c "SSL_do_handshake -> 1" "$T/srv.out" 2>/dev/null; }
feed() {
	wait_for "$T/srv.out" 'CIPHER is' 20 || return
	echo first;  wait_for "$T/out" '^first$' 10 || return
	echo K;      wait_for "$T/srv.out" 'SSL_do_handshake -> 1' 10 || return
	echo second; wait_for "$T/out" '^second$' 10 || return
	n=0; while [ "$(updates)" -lt 2 ] && [ $n -lt 100 ]; do
		[ $n = 0 ] && echo k
		sleep 0.1; n=$((n + 1))
	done
	echo third;  wait_for "$T/out" '^third$' 10
}
( feed | timeout $((60 * TS)) stdbuf -oL -eL openssl s_server -accept "$P" -cert "$CERTS/server.crt" -key "$CERTS/server.key" \
	-naccept 1 >"$T/srv.out" 2>&1 ) &
srv=$!; _bg_pids="$_bg_pids $srv"
wait_listen "$P" 15
# The client only receives (-s), printing each line as it arrives.
TLSSHIM_LOG_FILE="$T/log" timeout $((60 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
	"$PROGS/client" -s 127.0.0.1 "$P" </dev/null >"$T/out" 2>"$T/err"
rc=$?
wait_exit "$srv" 20
got=$(tr '\n' ' ' <"$T/out")
updates=$(updates)
if [ "$got" = "first second third " ] && [ "$updates" -ge 2 ]; then
	pass "KeyUpdate (requested and not) from the peer: data intact, never surfaces as data"
else
	fail "KeyUpdate" "client exit $rc, got: $got; server key updates: $updates; $(cat "$T/err" "$T/log")$(tail_of "$T/srv.out")"
fi

# Our own KeyUpdates (key_update_records): a shimmed client sends 40 full
# records (640 KiB) to a Python ssl server that counts, through OpenSSL's
# message callback, the KeyUpdate messages and records it receives.  With
# key_update_records = 8 (TLS 1.3): new keys after 8 records, then after
# every 8 more once 200 ms have passed since the last update (they are
# spaced, see gnutls_key_update_spaced below), so at least one KeyUpdate
# (the 40 records go out within a few ms: usually exactly one), as many
# debug lines, and every byte intact.  TLS 1.2 has no KeyUpdate: none,
# data intact.  The old library sent none (OpenSSL 3.0 never changes its
# sending keys unasked).
head -c 655360 /dev/urandom >"$T/ku.in"
want_sum=$(sha256sum <"$T/ku.in" | cut -d' ' -f1)
# ku_case NAME MAXVER WANT-UPDATES
ku_case() {
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "ku-send"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; key_update_records = 8; } );
EOC
	bg "$PY" "$TLSSHIM_TOP/tests/interop/py/ku_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" "$2" \
		>"$T/$1.srv" 2>&1
	srv=$!
	if ! wait_for "$T/$1.srv" '^ready' 10; then
		fail "$1" "the server did not start$(tail_of "$T/$1.srv")"; return
	fi
	TLSSHIM_LOG=debug TLSSHIM_LOG_FILE="$T/$1.log" shimmed "$PROGS/client" 127.0.0.1 "$P" \
		<"$T/ku.in" >"$T/$1.out" 2>"$T/$1.err"
	rc=$?
	# (a client that never connected leaves the server waiting)
	if [ "$rc" -eq 0 ]; then wait_exit "$srv" 20; else stop "$srv"; fi
	got=$(grep '^keyupdates' "$T/$1.srv")
	# shellcheck disable=SC2086 # split into its words on purpose
	set -- "$1" "$2" "$3" $got
	if [ "$rc" -ne 0 ] || [ "${11:-}" != "$want_sum" ] || [ "${9:-}" != 655360 ]; then
		fail "$1" "client exit $rc, server: ${got:-nothing}$(tail_of "$T/$1.err" "$T/$1.log" "$T/$1.srv")"
	elif if [ "$3" = some ]; then [ "${5:-0}" -lt 1 ]; else [ "${5:-}" != "$3" ]; fi; then
		fail "$1" "$5 KeyUpdates received, want $3 (server: $got)$(tail_of "$T/$1.log")"
	elif [ "$(lines "$T/$1.log" 'KeyUpdate: new sending keys after 8 records')" -ne "$5" ]; then
		fail "$1" "expected $5 debug lines$(tail_of "$T/$1.log")"
	else
		pass "$1"
	fi
}
ku_case key_update_records_tls13 1.3 some
ku_case key_update_records_tls12_none 1.2 0

# Our KeyUpdates are spaced, at most one per 200 ms: GnuTLS ends a
# connection whose peer sends more than 8 in a second ("Too many handshake
# packets have been received").  key_update_records = 1 and 2 MB of lines echoed by
# gnutls-serv: the old library sent one before every record and the
# connection died at the ninth (client exit 3, nothing echoed); now every
# byte comes back and at least one KeyUpdate is logged.
if command -v gnutls-serv >/dev/null; then
	head -c 1500000 /dev/urandom | base64 >"$T/gku.in"   # gnutls-serv echoes lines
	P=$(free_port)
	policy "$T/gku.conf" <<EOC
rules = ( { name = "gku"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; key_update_records = 1; } );
EOC
	bg gnutls-serv --echo -p "$P" --x509certfile "$CERTS/server.crt" --x509keyfile "$CERTS/server.key" \
		>"$T/gku.srv" 2>&1
	srv=$!
	if ! wait_for "$T/gku.srv" 'listening' 10; then
		fail gnutls_key_update_spaced "gnutls-serv did not start$(tail_of "$T/gku.srv")"
	else
		TLSSHIM_LOG=debug TLSSHIM_LOG_FILE="$T/gku.log" shimmed "$PROGS/client" -t localhost "$P" \
			<"$T/gku.in" >"$T/gku.out" 2>"$T/gku.err"
		rc=$?
		if [ "$rc" -ne 0 ] || ! cmp -s "$T/gku.in" "$T/gku.out"; then
			fail gnutls_key_update_spaced "client exit $rc, $(wc -c <"$T/gku.out") bytes back$(tail_of "$T/gku.err" "$T/gku.log" "$T/gku.srv")"
		elif [ "$(lines "$T/gku.log" 'KeyUpdate: new sending keys')" -lt 1 ]; then
			fail gnutls_key_update_spaced "no KeyUpdate logged$(tail_of "$T/gku.log")"
		else
			pass gnutls_key_update_spaced
		fi
	fi
	stop "$srv"
fi
# More than RFC 8446 allows under one AES-GCM key: a policy error.
cat >"$T/ku-big.conf" <<EOC
rules = ( { direction = "connect"; port = 1; key_update_records = 16777217; } );
EOC
if ! "$TLSSHIM_LAUNCHER" --check "$T/ku-big.conf" >"$T/ku-big.chk" 2>&1 &&
	grep -q "ku-big.conf:1: .*\"key_update_records\" 16777217 is out of range (0..16777216" "$T/ku-big.chk"; then
	pass key_update_records_too_large
else
	fail key_update_records_too_large "expected FILE:1 out of range$(tail_of "$T/ku-big.chk")"
fi
