#!/bin/sh
# tests/interop/openssl.sh — the shim against OpenSSL's own command-line
# peers: openssl s_client talking to the shimmed echo_server (TLS 1.3,
# TLS 1.2, IPv6, mutual TLS), and the shimmed client talking to
# openssl s_server -rev (TLS 1.3, TLS 1.2 only, client certificate
# required, and a TLS 1.2-only server refused under min_version TLSv1.3).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim openssl_setup
command -v openssl >/dev/null || { fail openssl_setup "openssl not installed"; exit 1; }
CLIENT_CN=$(openssl x509 -in "$CERTS/client.crt" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')

accept_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "ossl-in"; direction = "accept"; port = $1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ${2:-} }
);
EOF
}

# s_client_case NAME EXPECT-PROTOCOL ECHO-ARGS -- S_CLIENT-ARGS...
# The shimmed echo_server -1 ECHO-ARGS; s_client sends a line, waits for
# the echo, then its input ends (it sends close_notify: exit 0 expected).
s_client_case() {
	name=$1 proto=$2
	shift 2
	_ea=""
	while [ $# -gt 0 ] && [ "$1" != -- ]; do _ea="$_ea $1"; shift; done
	shift
	export TLSSHIM_LOG_FILE="$T/$name.log"
	# shellcheck disable=SC2086
	if ! start_echo "$name" -1 $_ea "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; return
	fi
	line="hello from s_client $name"
	feed_until "$T/$name.got" "^$line\$" "$line" |
		timeout $((20 * TS)) openssl s_client -CAfile "$CERTS/ca.crt" -verify_return_error -brief "$@" \
			>"$T/$name.got" 2>"$T/$name.ossl"
	wait_exit "$SRV" 10; rc=$?
	if ! grep -q "^$line\$" "$T/$name.got"; then
		fail "$name" "no echo$(show "$T/$name.ossl" "$T/$name.err" "$T/$name.log")"
	elif ! grep -q "^Protocol version: $proto\$" "$T/$name.ossl"; then
		fail "$name" "s_client did not negotiate $proto$(show "$T/$name.ossl")"
	elif ! grep -q '^Verification: OK' "$T/$name.ossl"; then
		fail "$name" "s_client did not verify the server$(show "$T/$name.ossl")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "echo_server exited $rc (s_client's close_notify should read as EOF)$(show "$T/$name.err" "$T/$name.log")"
	else
		pass "$name"
	fi
}

P=$(free_port); accept_policy "$P"
s_client_case s_client_tls13 TLSv1.3 -- -connect "127.0.0.1:$P" -servername localhost -tls1_3
P=$(free_port); accept_policy "$P"
s_client_case s_client_tls12 TLSv1.2 -- -connect "127.0.0.1:$P" -servername localhost -tls1_2
P=$(free_port); accept_policy "$P"
s_client_case s_client_verifies_ip_san TLSv1.3 -- -connect "127.0.0.1:$P" -verify_ip 127.0.0.1
P=$(free_port); accept_policy "$P"
s_client_case s_client_ipv6 TLSv1.3 -6 -- -connect "[::1]:$P" -verify_ip ::1
P=$(free_port); accept_policy "$P" "require_client_cert = true; ca = \"$CERTS/ca.crt\";"
s_client_case s_client_mtls_with_client_cert TLSv1.3 -- -connect "127.0.0.1:$P" \
	-cert "$CERTS/client.crt" -key "$CERTS/client.key"

# Mutual TLS, s_client without a certificate: no echo, the program's read
# fails with ECONNRESET, one log line with the reason.
name=s_client_mtls_without_client_cert_refused
P=$(free_port); accept_policy "$P" "require_client_cert = true; ca = \"$CERTS/ca.crt\";"
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_echo "$name" -1 "$P"; then
	(printf 'SECRET-PLAINTEXT-1234\n'; wait_for "$T/$name.err" 'read:' 10) |
		timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" -brief \
			>"$T/$name.got" 2>"$T/$name.ossl"
	wait_exit "$SRV" 10; rc=$?
	if grep -q SECRET "$T/$name.got"; then
		fail "$name" "the client without a certificate got its echo"
	elif [ "$rc" -ne 1 ] || ! grep -q '^echo_server: read: Connection reset by peer$' "$T/$name.err"; then
		fail "$name" "expected the program's read to fail with ECONNRESET; exit $rc$(show "$T/$name.err" "$T/$name.log")"
	elif [ "$(lines "$T/$name.log" 'certificate')" -ne 1 ]; then
		fail "$name" "expected one log line about the missing certificate$(show "$T/$name.log")"
	else
		pass "$name"
	fi
else
	fail "$name" "echo_server never listened$(show "$T/$name.err")"
fi

# Mutual TLS with a ca file of many CAs: the list of acceptable client CA
# names the server sends must fit in the handshake (a 16-bit length).
# 2,000 copies of one CA (each name once), then 400 distinct CAs of about
# 170-byte names (68 KB: no list is sent, as for a CA directory): the
# client with a certificate of the test CA gets its echo.  The library
# before failed both handshakes ("internal error").
{ cat "$CERTS/ca.crt"; copies "$CERTS/other-ca.crt" 2000; } >"$T/dupca.pem"
P=$(free_port); accept_policy "$P" "require_client_cert = true; ca = \"$T/dupca.pem\";"
s_client_case s_client_mtls_ca_bundle_repeats TLSv1.3 -- -connect "127.0.0.1:$P" \
	-cert "$CERTS/client.crt" -key "$CERTS/client.key"
if "$PY" "$PYD/manyca.py" 400 "$T/manyca.pem" 2>"$T/manyca.err"; then
	cat "$CERTS/ca.crt" >>"$T/manyca.pem"
	P=$(free_port); accept_policy "$P" "require_client_cert = true; ca = \"$T/manyca.pem\";"
	s_client_case s_client_mtls_ca_names_too_many TLSv1.3 -- -connect "127.0.0.1:$P" \
		-cert "$CERTS/client.crt" -key "$CERTS/client.key"
else
	fail s_client_mtls_ca_names_too_many "manyca.py failed$(show "$T/manyca.err")"
fi

# --- the shimmed client against openssl s_server -rev -----------------------
connect_policy() {
	policy "$T/p.conf" <<EOF
rules = ( { name = "ossl-out"; direction = "connect"; port = $1; ca = "$CERTS/ca.crt"; ${2:-} } );
EOF
}
printf 'hello world\nsecond line\n' >"$T/rev.in"
printf 'dlrow olleh\nenil dnoces\n' >"$T/rev.expect"

# s_server_case NAME EXPECT(ok|refused) EXPECT-IN-SERVER-OUTPUT S_SERVER-ARGS...
s_server_case() {
	name=$1 want=$2 srvsay=$3
	shift 3
	export TLSSHIM_LOG_FILE="$T/$name.log"
	rev_exchange "$name" -cert "$CERTS/server.crt" -key "$CERTS/server.key" "$@" || return
	if [ "$want" = ok ]; then
		if [ "$rc" -ne 0 ] || ! cmp -s "$T/rev.expect" "$T/$name.got"; then
			fail "$name" "client exit $rc, reversed text not received$(show "$T/$name.got" "$T/$name.err" "$T/$name.log" "$T/$name.srv")"
		elif ! grep -q -F -e "$srvsay" "$T/$name.srv"; then
			fail "$name" "s_server did not report '$srvsay'$(show "$T/$name.srv")"
		else
			pass "$name"
		fi
	else
		if [ "$rc" -eq 2 ] && [ "$(cat "$T/$name.err")" = "client: connect: Connection refused" ] &&
			[ ! -s "$T/$name.got" ] && [ "$(lines "$T/$name.log" "$srvsay")" -eq 1 ]; then
			pass "$name"
		else
			fail "$name" "expected connect() refused and one log line /$srvsay/; exit $rc$(show "$T/$name.err" "$T/$name.log")"
		fi
	fi
}

P=$(free_port); connect_policy "$P"
s_server_case s_server_tls13 ok "Protocol version: TLSv1.3"
P=$(free_port); connect_policy "$P"
s_server_case s_server_tls12_only ok "Protocol version: TLSv1.2" -tls1_2
P=$(free_port); connect_policy "$P" "cert = \"$CERTS/client.crt\"; key = \"$CERTS/client.key\";"
s_server_case s_server_requires_client_cert ok "$CLIENT_CN" -Verify 1 -CAfile "$CERTS/ca.crt" -verify_return_error
P=$(free_port); connect_policy "$P" 'min_version = "TLSv1.3";'
s_server_case s_server_tls12_only_refused_under_min_tls13 refused 'version|protocol' -tls1_2
