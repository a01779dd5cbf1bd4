#!/bin/sh
# tests/interop/varnish.sh — a caching HTTP accelerator that has no TLS at
# all, made TLS on both sides by the shim: Debian's varnishd (a manager
# process that opens the listening socket and forks the worker, which
# drops its privileges to user vcache; an acceptor thread per pool hands
# each connection to a worker thread; backend connections made with a
# non-blocking connect and poll; replies written with writev from the
# cache) under an accept rule on its port and connect rules to its two
# backends: tests/interop/py/https_origin.py with the test's server
# certificate, and another with a certificate of another CA.
# Asserted: 8 curl at once, each its own object (8 misses fetched from
# the origin over verified TLS), then the same 8 again served from the
# cache (hits), all exact; the shim accepted 16 TLS clients, connected 8
# times verified, logged no error; 4 downloads at once in pipe mode (the
# bytes copied both ways between two TLS connections in a poll() loop)
# exact; 16 downloads multiplexed over HTTP/2 on one connection (ALPN
# h2), exact; a request routed to the backend with
# the untrusted certificate gets varnish's 503 and the shim's warning
# (varnish never sent it a byte: the wire audit); a plain HTTP client on
# the varnish port gets nothing back but TLS alerts; the wire audit.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim varnish_setup
VARNISHD=$(command -v varnishd || echo /usr/sbin/varnishd)
[ -x "$VARNISHD" ] || { fail varnish_setup "varnishd not installed (varnish)"; exit 1; }

id vcache >/dev/null 2>&1 && getent group varnish >/dev/null || { fail varnish_setup "no vcache user or varnish group (varnish)"; exit 1; }

# The VCL compiler runs as user varnish, the worker as vcache (both of
# group varnish), and both load the library, which reads the policy's
# key: their group's to read, as the log file is theirs to write.
open_tmp
X=$T/vn
mkdir -p "$X/www" "$X/bad" "$X/certs"
chgrp varnish "$X"
chmod 775 "$X"
cp "$CERTS/ca.crt" "$CERTS/server.crt" "$CERTS/server.key" "$X/certs/"
: >"$X/shim.log"
chgrp -R varnish "$X/certs" "$X/shim.log"
chmod 640 "$X/certs/server.key"
chmod 660 "$X/shim.log"
san_logs_to "$X"
head -c 300000 /dev/urandom >"$X/www/big"
echo secret-of-the-bad-backend >"$X/bad/big"
P=$(free_port)
if ! start_origin "$X/www"; then
	fail varnish_setup "https_origin.py did not start$(show "$T/origin.out")"
	exit 1
fi
B=$(free_port)
while [ "$B" = "$P" ] || [ "$B" = "$O" ]; do B=$(free_port); done
bg "$PY" "$PYD/https_origin.py" "$B" "$X/bad" "$CERTS/untrusted.crt" "$CERTS/untrusted.key" >"$T/bad.out" 2>&1
BAD_ORIGIN=$!
if ! wait_ready "$BAD_ORIGIN" "$T/bad.out" '^ready' 10; then
	fail varnish_setup "the untrusted origin did not start$(show "$T/bad.out")"
	exit 1
fi
cat >"$X/default.vcl" <<EOC
vcl 4.1;
backend origin { .host = "127.0.0.1"; .port = "$O"; }
backend untrusted { .host = "127.0.0.1"; .port = "$B"; }
sub vcl_recv {
	if (req.url ~ "^/pipe/") {
		set req.url = regsub(req.url, "^/pipe", "");
		return (pipe);
	}
	if (req.url ~ "^/bad/") {
		set req.backend_hint = untrusted;
		set req.url = regsub(req.url, "^/bad", "");
		return (pass);
	}
}
EOC
chmod 644 "$X/default.vcl"
policy "$T/vn.policy" <<EOC
rules = (
  { name = "varnish-in"; direction = "accept"; port = $P; cert = "$X/certs/server.crt"; key = "$X/certs/server.key";
    alpn = ["h2", "http/1.1"]; },
  { name = "origin-out"; direction = "connect"; port = $O; ca = "$CERTS/ca.crt"; server_name = "localhost"; },
  { name = "untrusted-out"; direction = "connect"; port = $B; ca = "$CERTS/ca.crt"; server_name = "localhost"; }
);
EOC
# -F: in the foreground; -n: its working directory; -s: a small cache in
# memory; HTTP/2 on (prior knowledge: the client that negotiated "h2" by
# ALPN with the shim starts with the HTTP/2 preface).  As root the worker runs as user vcache.
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$X/shim.log" shimbg "$VARNISHD" -F -a "127.0.0.1:$P" -f "$X/default.vcl" \
	-n "$X/work" -s malloc,32m -p feature=+http2 >"$T/vn.out" 2>&1
VN=$!
track "$VN"
if ! wait_listen "$P" $((20 * TS)) "$VN" || ! wait_ready "$VN" "$T/vn.out" 'Child starts' 20; then
	fail varnish_setup "varnishd did not start$(show "$T/vn.out" "$X/shim.log")"
	exit 1
fi

# vcurl N PATH: downloads (daemons.inc) of N at once over TLS from
# varnish, HTTP/1.1 (ALPN "http/1.1").
vcurl() { downloads "$1" "$X/www/big" "https://localhost:$P$2" --cacert "$CERTS/ca.crt" --http1.1; }

name=varnish_8_misses_at_once
vcurl 8 /big
if [ $BAD -eq 0 ] && [ $OK -eq 8 ]; then
	pass "$name (300000 bytes each, exact)"
else
	fail "$name" "$BAD curl failed, $OK of 8 exact: $(cat "$T"/curl.*.err | head -c 300)$(show "$T/vn.out" "$X/shim.log")"
fi

name=varnish_8_hits_from_the_cache
vcurl 8 /big
# A hit: X-Varnish names this request and the one that filled the cache.
hits=$(cat "$T"/got.?.h | tr -d '\r' | grep -c -i -E '^x-varnish: [0-9]+ [0-9]+$')
if [ $BAD -eq 0 ] && [ $OK -eq 8 ] && [ "$hits" -eq 8 ]; then
	pass "$name (8 hits, exact)"
else
	fail "$name" "$BAD curl failed, $OK of 8 exact, $hits hits: $(cat "$T"/curl.*.err | head -c 300)$(show "$T/vn.out" "$X/shim.log")"
fi

name=varnish_both_sides_tls
na=$(logged_tls "$X/shim.log" varnish-in accepted)
nc=$(count "$X/shim.log" 'rule "origin-out": connected TLSv1\.3 .*verified')
if [ "$na" -eq 16 ] && [ "$nc" -eq 8 ] && ! grep -q -E ': (error|warn): ' "$X/shim.log"; then
	pass "$name (accepted 16, connected 8 verified, no error)"
else
	fail "$name" "accepted $na of 16, connected $nc of 8$(show "$X/shim.log")"
fi

name=varnish_pipe_both_ways
# return (pipe): varnish copies bytes between the client's connection
# and a new backend connection, both TLS, in one poll() loop.
vcurl 4 /pipe/big
nc=$(count "$X/shim.log" 'rule "origin-out": connected TLSv1\.3 .*verified')
# The origin (Python's http.server over ssl) ends each answer with a TCP
# FIN and no close_notify (SSLSocket.shutdown sends none): varnish, which
# reads a piped backend to its end, may read that end, which the shim
# reports as a truncation (and an error to varnish).  No other warning.
nt=$(count "$X/shim.log" 'rule "origin-out": connection truncated: TCP FIN without TLS close_notify')
nw=$(count "$X/shim.log" ': (error|warn): ')
if [ $BAD -eq 0 ] && [ $OK -eq 4 ] && [ "$nc" -eq 12 ] && [ "$nw" -eq "$nt" ] && [ "$nt" -le 4 ]; then
	pass "$name (4 piped downloads at once, exact; 4 more verified backend connections; $nt truncations by the origin reported)"
else
	fail "$name" "$BAD curl failed, $OK of 4 exact, $nc of 12 backend connections, $nw warnings ($nt truncations): $(cat "$T"/curl.*.err | head -c 300)$(show "$X/shim.log")"
fi

name=varnish_http2_16_streams_on_one_connection
# HTTP/2: varnish reads the connection in one thread and each stream's
# worker thread writes its frames (under the session's lock) on the same
# TLS fd.  curl --parallel: 16 downloads multiplexed on one connection.
args=""
for i in $(seq 1 16); do args="$args -o $T/h2.$i https://localhost:$P/big?h2=$i"; done
# shellcheck disable=SC2086 # $args: the -o FILE URL pairs
timeout $((60 * TS)) curl -sS --http2 --parallel --parallel-max 16 --cacert "$CERTS/ca.crt" \
	-w '%{http_version} %{num_connects}\n' $args >"$T/h2.out" 2>"$T/h2.err"
rc=$?
OK=0
for i in $(seq 1 16); do cmp -s "$X/www/big" "$T/h2.$i" && OK=$((OK + 1)); done
v2=$(count "$T/h2.out" '^2 ')
conns=$(awk '{ n += $2 } END { print n + 0 }' "$T/h2.out")
if [ $rc -eq 0 ] && [ $OK -eq 16 ] && [ "$v2" -eq 16 ] && [ "$conns" -eq 1 ] &&
	[ "$(count "$X/shim.log" 'rule "varnish-in": accepted TLSv1\.3 .*ALPN "h2"')" -eq 1 ]; then
	pass "$name (16 of 16 exact over HTTP/2, 1 connection, ALPN h2)"
else
	fail "$name" "exit $rc, $OK of 16 exact, $v2 over HTTP/2, $conns connections: $(head -c 300 "$T/h2.err")$(show "$X/shim.log")"
fi

name=varnish_untrusted_backend_refused
code=$(timeout $((30 * TS)) curl -sS --cacert "$CERTS/ca.crt" -o "$T/bad.body" -w '%{http_code}' \
	"https://localhost:$P/bad/big" 2>"$T/bad.err")
if [ "$code" = 503 ] && ! grep -q secret-of-the-bad-backend "$T/bad.body" &&
	grep -q 'rule "untrusted-out": certificate verification failed' "$X/shim.log" && alive "$VN"; then
	pass "$name (varnish answered 503; the shim logged: $(grep -m1 -E 'rule "untrusted-out"' "$X/shim.log" | cut -c1-160))"
else
	fail "$name" "HTTP '$code' (503 expected): $(head -c 200 "$T/bad.body")$(show "$T/bad.err" "$X/shim.log")"
fi

no_clear varnish_plain_client_gets_nothing_in_clear "$P" "GET /big HTTP/1.0
" "$VN"

kill_tree "$VN"
stop "$ORIGIN"
stop "$BAD_ORIGIN"
