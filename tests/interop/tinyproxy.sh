#!/bin/sh
# tests/interop/tinyproxy.sh — a threaded HTTP proxy made TLS on both
# sides by the shim: Debian's tinyproxy (a thread per client) under an
# accept rule on its port and a connect rule to the origin's port.
# Clients: curl with an HTTPS proxy (--proxy https://..., verified against
# the test CA), asking for http:// URLs that tinyproxy fetches from
# tests/interop/py/https_origin.py, which speaks only TLS.
# Asserted: 8 downloads of 500 KB at once through the proxy, exact; the
# shim accepted 8 TLS clients and connected 8 times to the origin,
# verified; no error or warning; a plain HTTP client on the proxy port
# gets nothing back but TLS alerts; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim tinyproxy_setup
TINYPROXY=$(command -v tinyproxy || echo /usr/bin/tinyproxy)
[ -x "$TINYPROXY" ] || { fail tinyproxy_setup "tinyproxy not installed (tinyproxy)"; exit 1; }

open_tmp
X=$T/tp
mkdir -p "$X/www"
chmod 777 "$X"
head -c 500000 /dev/urandom >"$X/www/big"
P=$(free_port)
if ! start_origin "$X/www"; then
	fail tinyproxy_setup "https_origin.py did not start$(show "$T/origin.out")"
	exit 1
fi
cat >"$X/tinyproxy.conf" <<EOC
Port $P
Listen 127.0.0.1
Timeout 30
MaxClients 32
Allow 127.0.0.1
LogLevel Info
LogFile "$X/tinyproxy.log"
EOC
policy "$T/tp.policy" <<EOC
rules = (
  { name = "proxy-in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "origin-out"; direction = "connect"; port = $O; ca = "$CERTS/ca.crt"; server_name = "localhost"; }
);
EOC
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/shim.log" shimbg "$TINYPROXY" -d -c "$X/tinyproxy.conf" >"$T/tp.out" 2>&1
TP=$!
listen_or_exit tinyproxy_setup "tinyproxy" "$TP" "$P" "$T/tp.out" "$X/tinyproxy.log" "$T/shim.log"

name=tinyproxy_8_downloads_at_once
proxy_downloads "$P" "http://127.0.0.1:$O/big" "$X/www/big"
if [ $BAD -eq 0 ] && [ $OK -eq 8 ]; then
	pass "$name (500000 bytes each, exact)"
else
	fail "$name" "$BAD curl failed, $OK of 8 exact: $(cat "$T"/curl.*.err | head -c 300)$(show "$X/tinyproxy.log" "$T/shim.log")"
fi

name=tinyproxy_both_sides_tls
na=$(logged_tls "$T/shim.log" proxy-in accepted)
nc=$(count "$T/shim.log" 'rule "origin-out": connected TLSv1\.3 .*verified')
if [ "$na" -eq 8 ] && [ "$nc" -eq 8 ] && ! grep -q -E ': (error|warn): ' "$T/shim.log"; then
	pass "$name (accepted 8, connected 8 verified)"
else
	fail "$name" "accepted $na of 8, connected $nc of 8$(show "$T/shim.log")"
fi

no_clear tinyproxy_plain_client_gets_nothing_in_clear "$P" "GET http://127.0.0.1:$O/big HTTP/1.0
" "$TP"

kill_tree "$TP"
stop "$ORIGIN"
