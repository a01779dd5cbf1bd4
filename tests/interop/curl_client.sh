#!/bin/sh
# tests/interop/curl_client.sh — curl as the legacy CLIENT: plain
# "curl http://localhost:P/" (non-blocking connect, then poll) under the
# shim with a connect rule, against real TLS servers: openssl s_server
# -www and nginx's own TLS (listen ... ssl).  The response body arrives;
# the wire carries no plaintext; a server with a wrongly named or an
# untrusted certificate makes curl fail to connect (exit 7), the shim's
# log names the reason, and the request never leaves.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim curl_client_setup
command -v curl >/dev/null || { fail curl_client_setup "curl not installed"; exit 1; }
command -v openssl >/dev/null || { fail curl_client_setup "openssl not installed"; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# The client.  curl cannot even start with the AddressSanitizer runtime
# preloaded (Debian 12, gcc 12's libasan: it hangs in setlocale() in main,
# shim or no shim; so does wget).  When that is so (the ASan pass of
# make check), Python's http.client stands in for it (also a plain client
# doing a non-blocking connect then poll, through getaddrinfo), and the
# case names say so.
CLIENT=curl
# (common.inc's asan_hangs tells the hang by curl's state: about a
# second where it hangs, however loaded the machine.)
if asan_hangs curl -V; then
	CLIENT=pyhttp
	echo "note: curl hangs with the sanitizer runtime alone preloaded (no shim); using Python's http.client"
fi

connect_policy() {
	policy "$T/c.conf" <<EOF
rules = ( { name = "curl-out"; direction = "connect"; port = $1; ca = "$CERTS/ca.crt"; } );
EOF
}

# get NAME OUT URL [OUT URL...]: the shimmed client, plain HTTP, each URL's
# body to its OUT (one kept-alive connection); verbose output $T/NAME.v,
# shim log $T/NAME.log; sets CRC (curl's exit status; 7: failed to connect).
get() {
	_g_name=$1; shift
	if [ "$CLIENT" = curl ]; then
		_g_n=$#
		while [ "$_g_n" -ge 2 ]; do
			set -- "$@" -o "$1" "$2"; shift 2; _g_n=$((_g_n - 2))
		done
		TLSSHIM_LOG_FILE="$T/$_g_name.log" TLSSHIM_LOG=info \
			shimmed curl -sS -v --max-time 20 "$@" 2>"$T/$_g_name.v"
	else
		TLSSHIM_LOG_FILE="$T/$_g_name.log" TLSSHIM_LOG=info \
			shimmed "$PY" "$PYD/pyhttp.py" "$@" >"$T/$_g_name.v" 2>&1
	fi
	CRC=$?
}

# ---------------------------------------------------------------- s_server
# s_server_case NAME CERT-BASENAME EXPECT(ok|refused) [LOG-REGEX]
# openssl s_server -www (one connection) behind a wiretap relay; the
# shimmed client connects to the relay (the connect rule names its port).
s_server_case() {
	name=${CLIENT}_shimmed_to_$1 cert=$2 want=$3 logre=${4:-}
	P=$(free_port); Q=$(free_port)
	bg openssl s_server -accept "127.0.0.1:$P" -www -naccept 1 \
		-cert "$CERTS/$cert.crt" -key "$CERTS/$cert.key" </dev/null >"$T/$name.srv" 2>&1
	srv=$!
	if ! wait_for "$T/$name.srv" '^ACCEPT' 10; then
		fail "$name" "s_server did not start$(show "$T/$name.srv")"; stop "$srv"; return
	fi
	if ! start_peer "$name.tap" relay --port "$Q" --to "$P" --record "$T/$name.wire"; then
		fail "$name" "relay did not start"; stop "$srv"; return
	fi
	connect_policy "$Q"
	get "$name" "$T/$name.body" "http://localhost:$Q/tlsshim-request-$$"
	stop "$PEER"
	if [ "$want" = ok ]; then
		wait_exit "$srv" 10
		if [ "$CRC" -ne 0 ]; then
			fail "$name" "$CLIENT exited $CRC$(show "$T/$name.v" "$T/$name.log")"
		elif ! grep -q '^s_server -accept' "$T/$name.body" || ! grep -q 'Ciphers supported' "$T/$name.body"; then
			fail "$name" "not s_server's -www page$(show "$T/$name.body")"
		elif ! grep -q -E "rule \"curl-out\": connected TLSv1\\.3 .* verified" "$T/$name.log"; then
			fail "$name" "no 'connected TLSv1.3 ... verified' log line$(show "$T/$name.log")"
		elif [ "$(od -A n -t x1 -N 1 "$T/$name.wire.c2s" | tr -d ' ')" != 16 ] ||
		     ! has_no "$T/$name.wire.c2s" "tlsshim-request-$$" || ! has_no "$T/$name.wire.s2c" "s_server -accept"; then
			fail "$name" "the wire is not TLS, or carries plaintext"
		else
			pass "$name"
		fi
	else
		stop "$srv"
		if [ "$CRC" -ne 7 ]; then
			fail "$name" "$CLIENT exited $CRC, expected 7 (failed to connect)$(show "$T/$name.v" "$T/$name.log")"
		elif [ -s "$T/$name.body" ]; then
			fail "$name" "$CLIENT got a body"
		elif [ "$(lines "$T/$name.log" "$logre")" -lt 1 ]; then
			fail "$name" "the shim's log does not say /$logre/$(show "$T/$name.log")"
		elif ! has_no "$T/$name.wire.c2s" "tlsshim-request"; then
			fail "$name" "the request reached the wire in clear"
		else
			pass "$name ($(grep -i -E -o -e "$logre" "$T/$name.log" | head -1))"
		fi
	fi
}

s_server_case s_server_www server ok
s_server_case s_server_wrong_name_refused wrongname refused 'hostname mismatch|address mismatch'
s_server_case s_server_untrusted_refused untrusted refused 'unable to get local issuer|certificate verify failed'

# ---------------------------------------------------------------- nginx ssl
if [ ! -x "$NGINX" ]; then
	fail curl_client_nginx_setup "nginx not installed (nginx-light)"; exit 1
fi
mkdir -p "$T/www"
printf '<html><body>nginx TLS index %s</body></html>\n' "$$" >"$T/www/index.html"
head -c 5242880 /dev/urandom >"$T/www/file5m"

# nginx_tls NAME CERT-BASENAME: start nginx (not shimmed) with its own TLS
# (1.2 and 1.3) on a new port $P; pid in NG.
nginx_tls() {
	D=$T/$1.d
	P=$(free_port)
	nginx_conf "$D" off <<EOF
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$P ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $CERTS/$2.crt;
    ssl_certificate_key $CERTS/$2.key;
    root $T/www;
  }
EOF
	bg "$NGINX" -e "$D/logs/error.log" -p "$D" -c "$D/nginx.conf" >"$T/$1.out" 2>&1
	NG=$!
	wait_listen "$P"
}

name=${CLIENT}_shimmed_to_nginx_tls
if nginx_tls ngx_ok server; then
	connect_policy "$P"
	get "$name" "$T/$name.body" "http://localhost:$P/index.html"
	if [ "$CRC" -eq 0 ] && cmp -s "$T/$name.body" "$T/www/index.html" &&
	   grep -q 'rule "curl-out": connected TLSv1.3 .* verified' "$T/$name.log" &&
	   grep -q '"GET /index.html HTTP/1.1" 200 ' "$T/ngx_ok.d/logs/access.log"; then
		pass "$name"
	else
		fail "$name" "$CLIENT exit $CRC$(show "$T/$name.v" "$T/$name.log" "$T/ngx_ok.d/logs/error.log")"
	fi

	name=${CLIENT}_shimmed_to_nginx_tls_5MB_download
	get "$name" "$T/$name.body" "http://localhost:$P/file5m"
	if [ "$CRC" -eq 0 ] && cmp -s "$T/$name.body" "$T/www/file5m"; then
		pass "$name"
	else
		fail "$name" "$CLIENT exit $CRC, $(wc -c <"$T/$name.body" 2>/dev/null) bytes$(show "$T/$name.v" "$T/$name.log")"
	fi

	# Two requests, one kept-alive connection: one handshake.
	name=${CLIENT}_shimmed_to_nginx_tls_keepalive_two_requests
	get "$name" "$T/$name.b1" "http://localhost:$P/index.html?a=1" "$T/$name.b2" "http://localhost:$P/index.html?a=2"
	if [ "$CRC" -eq 0 ] && cmp -s "$T/$name.b1" "$T/www/index.html" && cmp -s "$T/$name.b2" "$T/www/index.html" &&
	   [ "$(lines "$T/$name.log" 'connected TLS')" -eq 1 ] &&
	   [ "$(lines "$T/ngx_ok.d/logs/access.log" 'GET /index.html\?a=[12] HTTP/1.1" 200 ')" -eq 2 ]; then
		pass "$name"
	else
		fail "$name" "$CLIENT exit $CRC, $(lines "$T/$name.log" 'connected TLS') handshakes$(show "$T/$name.v" "$T/$name.log")"
	fi
	stop "$NG"
else
	fail "$name" "nginx with TLS did not listen$(show "$T/ngx_ok.out" "$T/ngx_ok.d/logs/error.log")"; stop "$NG"
fi

name=${CLIENT}_shimmed_to_nginx_tls_wrong_name_refused
if nginx_tls ngx_bad wrongname; then
	connect_policy "$P"
	get "$name" "$T/$name.body" "http://localhost:$P/index.html"
	if [ "$CRC" -eq 7 ] && [ ! -s "$T/$name.body" ] &&
	   [ "$(lines "$T/$name.log" 'hostname mismatch|address mismatch')" -ge 1 ] &&
	   ! grep -q 'GET /index.html' "$T/ngx_bad.d/logs/access.log" 2>/dev/null; then
		pass "$name"
	else
		fail "$name" "$CLIENT exit $CRC (expected 7)$(show "$T/$name.v" "$T/$name.log" "$T/ngx_bad.d/logs/access.log")"
	fi
	stop "$NG"
else
	fail "$name" "nginx with TLS did not listen$(show "$T/ngx_bad.out" "$T/ngx_bad.d/logs/error.log")"; stop "$NG"
fi
