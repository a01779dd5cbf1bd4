#!/bin/sh
# tests/interop/nginx_proxy.sh — nginx as a reverse proxy with both of its
# sides made TLS by the shim: the front nginx (accept rule on its port)
# proxies with proxy_pass to an upstream block (HTTP/1.1, keep-alive, a
# pool of 4 idle connections) on 127.0.0.1:UP, and a connect rule makes
# those upstream connections TLS.  The upstream is a second nginx, under
# the shim with an accept rule on UP.  Both are plain-HTTP nginx configs.
# The client is curl --cacert over https:// to the front.
# Asserted: a 1 MB and a 10 MB body arrive with the right SHA-256, first
# sequentially, then 12 requests 4 at a time; the upstream served several
# requests on one connection (keep-alive to the upstream really used);
# the shim logged TLS on the front (accepted), on the proxy's upstream
# connections (connected, verified) and on the upstream (accepted).
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim nginx_proxy_setup
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { fail nginx_proxy_setup "nginx not installed (nginx-light)"; exit 1; }
command -v curl >/dev/null || { fail nginx_proxy_setup "curl not installed"; exit 1; }

mkdir -p "$T/www"
head -c 1048576 /dev/urandom >"$T/www/file1m"
head -c 10485760 /dev/urandom >"$T/www/file10m"

F=$(free_port)
U=$(free_port)
while [ "$U" = "$F" ]; do U=$(free_port); done
policy "$T/policy.conf" <<EOF
rules = (
  { name = "front-in"; direction = "accept"; port = $F;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "upstream-in"; direction = "accept"; port = $U;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "proxy-out"; direction = "connect"; port = $U; ca = "$CERTS/ca.crt"; }
);
EOF

U_D=$T/upstream
# shellcheck disable=SC2016
nginx_conf "$U_D" on conn '$request $status $body_bytes_sent conn=$connection reqs=$connection_requests' <<EOF
  default_type application/octet-stream;
  keepalive_timeout 60;
  keepalive_requests 1000;
  server { listen 127.0.0.1:$U; root $T/www; }
EOF
F_D=$T/front
nginx_conf "$F_D" on <<EOF
  upstream up {
    server 127.0.0.1:$U;
    keepalive 4;
  }
  server {
    listen 127.0.0.1:$F;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 5s;
      proxy_send_timeout 5s;
    }
  }
EOF

TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/upstream.log" shimbg "$NGINX" -e "$U_D/logs/error.log" -p "$U_D" \
	-c "$U_D/nginx.conf" >"$T/upstream.out" 2>&1
UPS=$!
track "$UPS"
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/front.log" shimbg "$NGINX" -e "$F_D/logs/error.log" -p "$F_D" \
	-c "$F_D/nginx.conf" >"$T/front.out" 2>&1
FRONT=$!
track "$FRONT"
if ! wait_listen "$U" 15 "$UPS" || ! wait_listen "$F" 15 "$FRONT"; then
	fail nginx_proxy_setup "nginx did not listen$(show "$T/upstream.out" "$U_D/logs/error.log" "$T/front.out" "$F_D/logs/error.log")"
	exit 1
fi
pcurl() { curl -sS --max-time 30 --cacert "$CERTS/ca.crt" --resolve "localhost:$F:127.0.0.1" "$@"; }
URL=https://localhost:$F
logs() { show "$F_D/logs/error.log" "$T/front.log" "$U_D/logs/error.log" "$T/upstream.log"; }

for f in file1m file10m; do
	name=nginx_proxy_${f}_sha256
	pcurl -o "$T/got.$f" -w '%{http_code}' "$URL/$f" >"$T/code.$f" 2>"$T/curl.$f"; rc=$?
	if [ "$rc" -eq 0 ] && [ "$(cat "$T/code.$f")" = 200 ] && [ "$(sha "$T/got.$f")" = "$(sha "$T/www/$f")" ]; then
		pass "$name"
	else
		fail "$name" "curl exit $rc, HTTP $(cat "$T/code.$f"), $(wc -c <"$T/got.$f" 2>/dev/null) bytes$(show "$T/curl.$f")$(logs)"
	fi
done

name=nginx_proxy_sequential_keepalive_6_requests
bad=""
i=1
while [ $i -le 6 ]; do
	f=file1m; [ $((i % 3)) -eq 0 ] && f=file10m
	pcurl -o "$T/seq.$i" "$URL/$f?seq=$i" 2>"$T/seq.err.$i" || bad="$bad [request $i: curl $(head -c 150 "$T/seq.err.$i")]"
	[ "$(sha "$T/seq.$i")" = "$(sha "$T/www/$f")" ] || bad="$bad [request $i: $f $(wc -c <"$T/seq.$i") bytes]"
	i=$((i + 1))
done
if [ -z "$bad" ]; then pass "$name"; else fail "$name" "$bad$(logs)"; fi

name=nginx_proxy_12_requests_4_parallel
mkdir -p "$T/par"
pcurl --parallel --parallel-max 4 -o "$T/par/a#1" "$URL/file1m?p=[1-8]" -o "$T/par/b#1" "$URL/file10m?p=[1-4]" \
	>"$T/par.out" 2>"$T/par.err"; rc=$?
same=0
for f in "$T/par"/a*; do cmp -s "$f" "$T/www/file1m" && same=$((same + 1)); done
for f in "$T/par"/b*; do cmp -s "$f" "$T/www/file10m" && same=$((same + 1)); done
if [ "$rc" -eq 0 ] && [ "$same" -eq 12 ]; then
	pass "$name"
else
	fail "$name" "curl exit $rc, $same of 12 bodies exact$(show "$T/par.err")$(logs)"
fi

name=nginx_proxy_upstream_keepalive_used
served=$(count "$U_D/logs/access.log" ' 200 ')
conns=$(sed -n 's/.* conn=\([0-9]*\) .*/\1/p' "$U_D/logs/access.log" 2>/dev/null | sort -u | wc -l)
maxreq=$(sed -n 's/.* reqs=\([0-9]*\)$/\1/p' "$U_D/logs/access.log" 2>/dev/null | sort -n | tail -1)
if [ "$served" -ge 20 ] && [ "${maxreq:-0}" -ge 2 ] && [ "$conns" -lt "$served" ]; then
	pass "$name ($served requests on $conns upstream connections)"
else
	fail "$name" "$served answers 200, $conns upstream connections, at most ${maxreq:-0} requests on one$(show "$U_D/logs/access.log")"
fi

name=nginx_proxy_all_links_logged_tls
na=$(logged_tls "$T/front.log" front-in accepted)
nc=$(count "$T/front.log" 'rule "proxy-out": connected TLSv1\.[23] .*verified')
nu=$(logged_tls "$T/upstream.log" upstream-in accepted)
if [ "$na" -ge 4 ] && [ "$nc" -ge 1 ] && [ "$nu" -ge 1 ] && [ "$nu" -eq "$nc" ]; then
	pass "$name (front accepted $na, proxy connected $nc, upstream accepted $nu)"
else
	fail "$name" "front accepted $na, proxy connected $nc, upstream accepted $nu$(show "$T/front.log" "$T/upstream.log")"
fi

name=nginx_proxy_ports_speak_tls
if tls_probe "$F" "$T/probe.f" && tls_probe "$U" "$T/probe.u"; then
	pass "$name"
else
	fail "$name" "openssl s_client failed$(show "$T/probe.f" "$T/probe.u")"
fi

kill -QUIT "$FRONT" "$UPS" 2>/dev/null
wait_gone "$FRONT" 15
wait_gone "$UPS" 15
