#!/bin/sh
# tests/interop/nginx_proxyv2.sh — nginx (Debian's, `listen ...
# proxy_protocol`) under the shim with an accept rule proxy_protocol = "v2":
# curl reaches it over TLS, nginx reads the PROXY v2 header the shim puts
# ahead of the plaintext, and its access log shows the client's real
# address and source port ($proxy_protocol_addr:$proxy_protocol_port) and
# the address it connected to ($proxy_protocol_server_addr:..._port).
# Also: several requests on one kept-alive connection (the header comes
# once, at the start), master + worker (the worker is forked and accepts),
# and no "broken header" complaint in nginx's error log.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim nginx_proxyv2_setup
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { fail nginx_proxyv2_setup "nginx not installed (nginx-light)"; exit 1; }
command -v curl >/dev/null || { fail nginx_proxyv2_setup "curl not installed"; exit 1; }
[ -n "$T" ] && [ -d "$T" ] || { echo "FAIL nginx_proxyv2_setup: no test directory"; exit 1; }

mkdir -p "$T/www"
printf 'tlsshim nginx proxy v2 %s\n' "$$" >"$T/www/index.html"

for master in off on; do
	M=master_$master
	D=$T/$M
	P=$(free_port)
	nginx_conf "$D" "$master" pp \
		'$proxy_protocol_addr:$proxy_protocol_port -> $proxy_protocol_server_addr:$proxy_protocol_server_port $remote_addr "$request" $status' <<EOF
  keepalive_timeout 30;
  server {
    listen 127.0.0.1:$P proxy_protocol;
    root $T/www;
  }
EOF
	policy "$T/$M.conf" <<EOF
rules = ( { name = "nginx-pp2"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key";
            proxy_protocol = "v2"; } );
EOF
	TLSSHIM_LOG_FILE="$T/$M.log" shimbg "$NGINX" -e "$D/logs/error.log" -p "$D" -c "$D/nginx.conf" \
		>"$T/$M.out" 2>&1
	NG=$!
	if ! wait_listen "$P"; then
		fail "nginx_proxyv2_${M}_setup" "nginx did not listen$(show "$T/$M.out" "$D/logs/error.log" "$T/$M.log")"
		stop "$NG"; continue
	fi
	URL=https://localhost:$P

	# One request from a known source port.
	name=nginx_proxyv2_${M}_access_log_has_client_address
	body=$(curl -sS --max-time $((30 * TS)) --cacert "$CERTS/ca.crt" --resolve "localhost:$P:127.0.0.1" \
		--local-port 20000-29999 -w '\nlocal_port=%{local_port}\n' "$URL/index.html" 2>"$T/$M.curl.err")
	lp=$(echo "$body" | sed -n 's/^local_port=//p')
	n=0
	while [ "$n" -lt $((50 * TS)) ] && ! grep -q 'GET /index.html' "$D/logs/access.log" 2>/dev/null; do
		sleep 0.1; n=$((n + 1))
	done
	want="127.0.0.1:$lp -> 127.0.0.1:$P 127.0.0.1 \"GET /index.html HTTP/1.1\" 200"
	if echo "$body" | grep -q "tlsshim nginx proxy v2 $$" && [ -n "$lp" ] &&
	   [ "$(grep 'GET /index.html' "$D/logs/access.log")" = "$want" ]; then
		pass "$name"
	else
		fail "$name" "want '$want' log '$(tr '\n' '|' <"$D/logs/access.log" 2>/dev/null)' body '$(echo "$body" | tr '\n' '|')'$(show "$T/$M.curl.err" "$D/logs/error.log" "$T/$M.log")"
	fi

	# Three requests on one connection: one header, three log lines with
	# the same client port.
	name=nginx_proxyv2_${M}_keepalive_one_header
	out=$(curl -sS --max-time $((30 * TS)) --cacert "$CERTS/ca.crt" --resolve "localhost:$P:127.0.0.1" \
		--local-port 30000-39999 -w 'port=%{local_port}\n' \
		"$URL/index.html?a" "$URL/index.html?b" "$URL/index.html?c" 2>"$T/$M.curl2.err")
	ports=$(echo "$out" | sed -n 's/^port=//p' | sort -u)
	n=0
	while [ "$n" -lt $((50 * TS)) ] && ! grep -q 'GET /index.html?c' "$D/logs/access.log" 2>/dev/null; do
		sleep 0.1; n=$((n + 1))
	done
	logged=$(grep -E 'GET /index.html\?[abc] ' "$D/logs/access.log" | sed 's/ -> .*//' | sort -u)
	if [ "$(echo "$ports" | wc -l)" = 1 ] && [ -n "$ports" ] && [ "$logged" = "127.0.0.1:$ports" ] &&
	   [ "$(grep -c -E 'GET /index.html\?[abc] .* 200$' "$D/logs/access.log")" = 3 ]; then
		pass "$name"
	else
		fail "$name" "ports '$ports' logged '$logged'$(show "$D/logs/access.log" "$D/logs/error.log")"
	fi

	# No complaint about a broken PROXY header in nginx's error log.
	name=nginx_proxyv2_${M}_no_header_errors
	if grep -q -i 'proxy protocol\|broken header' "$D/logs/error.log"; then
		fail "$name" "$(grep -i 'proxy protocol\|broken header' "$D/logs/error.log" | head -n 3)"
	else
		pass "$name"
	fi
	stop "$NG"
done
