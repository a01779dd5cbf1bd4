#!/bin/sh
# tests/interop/curl.sh — curl (an unmodified HTTPS client) against the
# shimmed echo_server: the server answers with the request itself, which
# curl accepts as an HTTP/0.9 body (--http0.9).  echo_server -c closes
# after that one answer, as an HTTP/1.0 server would.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim curl_setup
command -v curl >/dev/null || { fail curl_setup "curl not installed"; exit 1; }

accept_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "curl-in"; direction = "accept"; port = $1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ${2:-} }
);
EOF
}

# curl_case NAME EXPECT(ok|fail) PROTO URL-HOST ECHO-ARGS -- CURL-ARGS...
curl_case() {
	name=$1 want=$2 proto=$3 host=$4
	shift 4
	_ea=""
	while [ $# -gt 0 ] && [ "$1" != -- ]; do _ea="$_ea $1"; shift; done
	shift
	export TLSSHIM_LOG_FILE="$T/$name.log"
	# shellcheck disable=SC2086
	if ! start_echo "$name" -1 -c $_ea "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; return
	fi
	timeout $((20 * TS)) curl --http0.9 -sS -v --max-time 15 --cacert "$CERTS/ca.crt" "$@" \
		"https://$host:$P/curl-test" >"$T/$name.got" 2>"$T/$name.curl"
	crc=$?
	wait_exit "$SRV" 10; rc=$?
	if [ "$want" = ok ]; then
		if [ "$crc" -ne 0 ]; then
			fail "$name" "curl exited $crc$(show "$T/$name.curl" "$T/$name.err" "$T/$name.log")"
		elif ! grep -q '^GET /curl-test HTTP/1.1' "$T/$name.got" || ! grep -q -i -F "Host: $host:$P" "$T/$name.got"; then
			fail "$name" "curl did not get its request echoed$(show "$T/$name.got")"
		elif ! grep -q "SSL connection using $proto " "$T/$name.curl"; then
			fail "$name" "curl did not negotiate $proto$(show "$T/$name.curl")"
		elif ! grep -q 'SSL certificate verify ok' "$T/$name.curl"; then
			fail "$name" "curl did not verify the server$(show "$T/$name.curl")"
		elif [ "$rc" -ne 0 ]; then
			fail "$name" "echo_server exited $rc$(show "$T/$name.err" "$T/$name.log")"
		else
			pass "$name"
		fi
	else
		if [ "$crc" -ne 0 ] && ! grep -q 'GET /curl-test' "$T/$name.got" && [ "$rc" -eq 1 ] &&
			grep -q '^echo_server: read: Connection reset by peer$' "$T/$name.err"; then
			pass "$name"
		else
			fail "$name" "expected curl to fail, no echo, and ECONNRESET in the program; curl $crc, server $rc$(show "$T/$name.got" "$T/$name.err" "$T/$name.log")"
		fi
	fi
}

P=$(free_port); accept_policy "$P"
curl_case curl_tls13 ok TLSv1.3 localhost --
P=$(free_port); accept_policy "$P"
curl_case curl_tls12 ok TLSv1.2 localhost -- --tlsv1.2 --tls-max 1.2
P=$(free_port); accept_policy "$P"
curl_case curl_ip_address ok TLSv1.3 127.0.0.1 --
P=$(free_port); accept_policy "$P"
curl_case curl_ipv6 ok TLSv1.3 '[::1]' -6 --
P=$(free_port); accept_policy "$P" "require_client_cert = true; ca = \"$CERTS/ca.crt\";"
curl_case curl_mtls_with_client_cert ok TLSv1.3 localhost -- --cert "$CERTS/client.crt" --key "$CERTS/client.key"
P=$(free_port); accept_policy "$P" "require_client_cert = true; ca = \"$CERTS/ca.crt\";"
curl_case curl_mtls_without_client_cert_refused fail TLSv1.3 localhost --
P=$(free_port); accept_policy "$P" 'min_version = "TLSv1.3";'
curl_case curl_tls12_refused_under_min_tls13 fail TLSv1.2 localhost -- --tlsv1.2 --tls-max 1.2
