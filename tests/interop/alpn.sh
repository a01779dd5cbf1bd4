#!/bin/sh
# tests/interop/alpn.sh — the `alpn` key against real peers, both ways.
#   Accept rule (shimmed echo_server) vs openssl s_client -alpn:
#   negotiation in the client's order, a mismatch refused with a
#   no_application_protocol alert and a clear log line, and a client that
#   offers no ALPN accepted without one (tlsshim.conf(5)).
#   Connect rule (shimmed client) vs openssl s_server -alpn: negotiation,
#   a server that accepts none of the rule's protocols (its alert refuses
#   the connection, with a clear log line), a server without ALPN.
#   curl --http2 against the shimmed nginx (HTTP/2 on a plaintext listener)
#   behind alpn = ["h2", "http/1.1"]: curl negotiates h2 by ALPN and gets
#   its page over HTTP/2.
# Every refusal asserts the log line and that no program data crossed.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim alpn_setup
command -v openssl >/dev/null || { fail alpn_setup "openssl not installed"; exit 1; }
export TLSSHIM_LOG=info

accept_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "alpn-in"; direction = "accept"; port = $1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; ${2:-} }
);
EOF
}

# ---- accept rule vs s_client ------------------------------------------------
# srv_case NAME ok|refused RULE-KEYS EXPECT S_CLIENT-ARGS...
#   ok: the echo comes back, s_client prints EXPECT ("ALPN protocol: x" or
#       "No ALPN negotiated"), the shim's log line agrees.
#   refused: EXPECT is the s_client alert; no echo, the program's read
#       fails, one "ALPN mismatch" log line, the program never saw the line.
srv_case() {
	name=$1 want=$2 keys=$3 expect=$4
	shift 4
	P=$(free_port)
	accept_policy "$P" "$keys"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; return
	fi
	line="SECRET-$name"
	if [ "$want" = ok ]; then
		feed_until "$T/$name.got" "^$line\$" "$line" |
			timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
				-verify_return_error "$@" >"$T/$name.got" 2>"$T/$name.ossl"
	else
		(printf '%s\n' "$line"; wait_for "$T/$name.err" 'read:' 10) |
			timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
				"$@" >"$T/$name.got" 2>"$T/$name.ossl"
	fi
	wait_exit "$SRV" 10; rc=$?
	if [ "$want" = ok ]; then
		proto=$(sed -n 's/^ALPN protocol: //p' "$T/$name.got")
		if ! grep -q "^$line\$" "$T/$name.got"; then
			fail "$name" "no echo$(show "$T/$name.ossl" "$T/$name.err" "$T/$name.log")"
		elif ! grep -q -x -F -e "$expect" "$T/$name.got"; then
			fail "$name" "s_client did not say '$expect'$(show "$T/$name.got")"
		elif [ -n "$proto" ] && ! grep -q "accepted TLS.*, ALPN \"$proto\"" "$T/$name.log"; then
			fail "$name" "the log does not show ALPN \"$proto\"$(show "$T/$name.log")"
		elif [ -z "$proto" ] && { ! grep -q 'accepted TLS' "$T/$name.log" || grep -q 'ALPN' "$T/$name.log"; }; then
			fail "$name" "the log should show a connection without ALPN$(show "$T/$name.log")"
		elif [ "$rc" -ne 0 ]; then
			fail "$name" "echo_server exited $rc$(show "$T/$name.err" "$T/$name.log")"
		else
			pass "$name"
		fi
		return
	fi
	if grep -q SECRET "$T/$name.got" "$T/$name.out"; then
		fail "$name" "data crossed"
	elif [ "$rc" -ne 1 ] || ! grep -q '^echo_server: read: Connection reset by peer$' "$T/$name.err"; then
		fail "$name" "expected the program's read to fail with ECONNRESET; exit $rc$(show "$T/$name.err" "$T/$name.log")"
	elif [ "$(lines "$T/$name.log" 'ALPN mismatch: no application protocol in common with the peer \(the client offered none this rule accepts\)')" -ne 1 ]; then
		fail "$name" "expected one 'ALPN mismatch' log line$(show "$T/$name.log")"
	elif ! grep -q -F -e "$expect" "$T/$name.ossl"; then
		fail "$name" "s_client did not report '$expect'$(show "$T/$name.ossl")"
	else
		pass "$name"
	fi
}

srv_case alpn_srv_negotiates_client_order ok 'alpn = ["h2", "http/1.1"];' 'ALPN protocol: http/1.1' \
	-alpn 'http/1.1,h2'
srv_case alpn_srv_negotiates_h2 ok 'alpn = ["h2", "http/1.1"];' 'ALPN protocol: h2' -alpn 'spdy/3,h2'
srv_case alpn_srv_mismatch_refused refused 'alpn = ["h2", "http/1.1"];' 'alert no application protocol' \
	-alpn 'spdy/3,imap'
srv_case alpn_srv_client_without_alpn_accepted ok 'alpn = ["h2", "http/1.1"];' 'No ALPN negotiated'
srv_case alpn_srv_tls12_mismatch_refused refused 'alpn = ["h2"];' 'alert no application protocol' \
	-tls1_2 -alpn 'http/1.1'

# ---- connect rule vs s_server -----------------------------------------------
connect_policy() {
	policy "$T/p.conf" <<EOF
rules = ( { name = "alpn-out"; direction = "connect"; port = $1; ca = "$CERTS/ca.crt"; ${2:-} } );
EOF
}
printf 'SECRET hello\n' >"$T/rev.in"
printf 'olleh TERCES\n' >"$T/rev.expect"

# cli_case NAME ok|refused RULE-KEYS EXPECT-PROTO S_SERVER-ARGS...
#   ok: s_server -rev answers; the shim's log shows ALPN EXPECT-PROTO
#       (none when empty) and s_server saw the rule's list in order.
#   refused: connect() fails (ECONNREFUSED), one "ALPN mismatch" log line,
#       nothing received, and s_server (no -rev: it prints what it gets)
#       never saw the secret.
cli_case() {
	name=$1 want=$2 keys=$3 expect=$4
	shift 4
	P=$(free_port)
	connect_policy "$P" "$keys"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if [ "$want" = ok ]; then rev=-rev; else rev=""; fi
	wait_for "$T/$name.done" '^done' 30 |
		openssl s_server -accept "127.0.0.1:$P" -naccept 1 $rev \
			-cert "$CERTS/server.crt" -key "$CERTS/server.key" "$@" >"$T/$name.srv" 2>&1 &
	srv=$!
	if ! wait_for "$T/$name.srv" '^ACCEPT' 10; then
		fail "$name" "s_server did not start$(show "$T/$name.srv")"; echo done >"$T/$name.done"; return
	fi
	shimmed "$PROGS/client" localhost "$P" <"$T/rev.in" >"$T/$name.got" 2>"$T/$name.err"
	rc=$?
	echo done >"$T/$name.done"
	wait_exit "$srv" 10 || true
	if [ "$want" = ok ]; then
		if [ "$rc" -ne 0 ] || ! cmp -s "$T/rev.expect" "$T/$name.got"; then
			fail "$name" "client exit $rc, reversed text not received$(show "$T/$name.got" "$T/$name.err" "$T/$name.log" "$T/$name.srv")"
		elif [ -n "$expect" ] && ! grep -q "connected TLS.*, ALPN \"$expect\"" "$T/$name.log"; then
			fail "$name" "the log does not show ALPN \"$expect\"$(show "$T/$name.log")"
		elif [ -z "$expect" ] && { ! grep -q 'connected TLS' "$T/$name.log" || grep -q 'ALPN' "$T/$name.log"; }; then
			fail "$name" "the log should show a connection without ALPN$(show "$T/$name.log")"
		elif [ -n "$expect" ] && ! grep -q "^ALPN protocols selected: $expect\$" "$T/$name.srv"; then
			fail "$name" "s_server did not select $expect$(show "$T/$name.srv")"
		else
			pass "$name"
		fi
		return
	fi
	if ! refused_clean "$name"; then
		:
	elif [ "$(lines "$T/$name.log" 'ALPN mismatch: no application protocol in common with the peer \(the server accepts none this rule offers\)')" -ne 1 ]; then
		fail "$name" "expected one 'ALPN mismatch' log line$(show "$T/$name.log")"
	elif ! grep -q "ALPN protocols advertised by the client: $expect" "$T/$name.srv"; then
		fail "$name" "s_server did not see the rule's offer '$expect'$(show "$T/$name.srv")"
	else
		pass "$name"
	fi
}

cli_case alpn_cli_negotiates ok 'alpn = ["h2", "http/1.1"];' 'http/1.1' -alpn 'http/1.1'
cli_case alpn_cli_negotiates_h2 ok 'alpn = ["h2", "http/1.1"];' 'h2' -alpn 'spdy/3,h2'
cli_case alpn_cli_mismatch_refused refused 'alpn = ["h2", "spdy/3"];' 'h2, spdy/3' -alpn 'http/1.1'
cli_case alpn_cli_server_without_alpn ok 'alpn = ["h2", "http/1.1"];' ''

# The offer itself, seen by the server: both names, in the rule's order.
name=alpn_cli_offer_seen_by_server
if grep -q '^ALPN protocols advertised by the client: h2, http/1.1$' "$T/alpn_cli_negotiates.srv"; then
	pass "$name"
else
	fail "$name" "s_server did not see 'h2, http/1.1'$(show "$T/alpn_cli_negotiates.srv")"
fi

# ---- curl --http2 against the shimmed nginx ---------------------------------
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX" ] || ! command -v curl >/dev/null; then
	fail alpn_curl_http2_nginx "nginx or curl not installed"
	exit 0
fi
if ! "$NGINX" -V 2>&1 | grep -q -e '--with-http_v2_module'; then
	fail alpn_curl_http2_nginx "this nginx has no HTTP/2 module"
	exit 0
fi
D=$T/nginx
mkdir -p "$D/tmp" "$D/logs" "$D/www"
printf 'tlsshim h2 page %s\n' "$$" >"$D/www/index.html"
P=$(free_port)
# nginx 1.22 speaks HTTP/2 on a plaintext listener ("listen ... http2")
# with prior knowledge: the shim's ALPN h2 is what tells the client so.
nginx_conf "$D" off <<EOF
  server {
    listen 127.0.0.1:$P http2;
    root $D/www;
  }
EOF
policy "$T/nginx.conf" <<EOF
rules = ( { name = "h2-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
            alpn = ["h2", "http/1.1"]; } );
EOF
export TLSSHIM_LOG_FILE="$T/nginx.log"
shimbg "$NGINX" -e "$D/logs/error.log" -p "$D" -c "$D/nginx.conf" >"$T/nginx.out" 2>&1
NG=$!
name=alpn_curl_http2_nginx
if ! wait_listen "$P"; then
	fail "$name" "nginx did not listen$(show "$T/nginx.out" "$D/logs/error.log" "$T/nginx.log")"
else
	timeout $((20 * TS)) curl -v -sS --http2 --max-time $((10 * TS)) --cacert "$CERTS/ca.crt" \
		--resolve "localhost:$P:127.0.0.1" "https://localhost:$P/index.html" \
		>"$T/h2.got" 2>"$T/h2.curl"
	if ! grep -q 'ALPN: server accepted h2' "$T/h2.curl"; then
		fail "$name" "curl did not negotiate h2$(show "$T/h2.curl")"
	elif ! grep -q '^< HTTP/2 200' "$T/h2.curl"; then
		fail "$name" "no HTTP/2 200 answer$(show "$T/h2.curl" "$D/logs/error.log")"
	elif ! cmp -s "$D/www/index.html" "$T/h2.got"; then
		fail "$name" "the page did not arrive$(show "$T/h2.got")"
	elif ! grep -q '"GET /index.html HTTP/2.0" 200' "$D/logs/access.log"; then
		fail "$name" "nginx did not log an HTTP/2 request$(show "$D/logs/access.log")"
	elif ! grep -q 'accepted TLS.*, ALPN "h2"' "$T/nginx.log"; then
		fail "$name" "the shim's log does not show ALPN h2$(show "$T/nginx.log")"
	else
		pass "$name"
	fi
	# A client whose offer nginx's rule does not list is refused before
	# nginx reads a byte.
	name=alpn_curl_http11_only_refused_by_h2_rule
	policy_note=$(grep -c . "$D/logs/access.log")
	timeout $((20 * TS)) openssl s_client -connect "127.0.0.1:$P" -CAfile "$CERTS/ca.crt" \
		-alpn 'spdy/3' </dev/null >"$T/h2bad.got" 2>"$T/h2bad.ossl"
	if grep -q 'alert no application protocol' "$T/h2bad.ossl" &&
		[ "$(grep -c . "$D/logs/access.log")" -eq "$policy_note" ] &&
		[ "$(lines "$T/nginx.log" 'ALPN mismatch')" -eq 1 ]; then
		pass "$name"
	else
		fail "$name" "expected a no_application_protocol alert and one log line$(show "$T/h2bad.ossl" "$T/nginx.log")"
	fi
fi
stop "$NG"
