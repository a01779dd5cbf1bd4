#!/bin/sh
# tests/interop/squid.sh — a caching proxy with helper processes made TLS
# on both sides by the shim: Debian's squid (one process with its own
# epoll loop, -N: no kids; it forks and execs helpers that inherit the
# library: two URL rewriters and the access log daemon, which talk to it
# over pipes and socket pairs, as the proxy user) under an accept rule on
# its port and a connect rule to the origin's port, which is
# tests/interop/py/https_origin.py (TLS only).  Clients: curl with an
# HTTPS proxy, asking for http:// URLs.
# Asserted: 8 downloads of 500 KB at once through the proxy, exact, each
# rewritten by a helper and logged by the log daemon; the shim accepted 8
# TLS clients and connected to the origin verified, logged no error; with
# the origin down, curl gets squid's own "Connection refused" page over
# TLS, and the shim tries no handshake on the refused socket (squid reads
# it before it closes); a plain HTTP client gets nothing back but TLS alerts; the wire audit.
# Not here: squid started as root with kids (workers), see
# man/libtlsshim.7, LIMITATIONS: its master execs them with an effective
# uid other than its real one, so the loader runs them without the
# library.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim squid_setup
SQUID=$(command -v squid || echo /usr/sbin/squid)
[ -x "$SQUID" ] || { fail squid_setup "squid not installed (squid)"; exit 1; }
HELPERS=/usr/lib/squid
for _h in url_fake_rewrite log_file_daemon; do
	[ -x "$HELPERS/$_h" ] || { fail squid_setup "$HELPERS/$_h missing (squid)"; exit 1; }
done
id proxy >/dev/null 2>&1 || { fail squid_setup "no proxy user (squid)"; exit 1; }

# The helpers run as proxy and load the library, which reads the policy's
# key: theirs to read, as the log file is theirs to write.
open_tmp
X=$T/sq
mkdir -p "$X/www" "$X/certs"
head -c 500000 /dev/urandom >"$X/www/big"
cp "$CERTS/ca.crt" "$CERTS/server.crt" "$CERTS/server.key" "$X/certs/"
: >"$X/shim.log"
chown -R proxy: "$X"
chmod 600 "$X/certs/server.key"
san_logs_to "$X"
# Squid 5.7's own Ip::Address::FreeAddr deletes an addrinfo with the
# wrong size (new-delete-type-mismatch, at start, in Dns::Init): its bug,
# not the library's.
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:new_delete_type_mismatch=0"
P=$(free_port)
if ! start_origin "$X/www"; then
	fail squid_setup "https_origin.py did not start$(show "$T/origin.out")"
	exit 1
fi
# -n: the service name names its shared memory segments (/dev/shm is
# shared with other tests).
SVC=tlsshimtest$P
cat >"$X/squid.conf" <<EOC
http_port 127.0.0.1:$P
http_access allow all
cache deny all
cache_mem 0
strip_query_terms off
url_rewrite_program $HELPERS/url_fake_rewrite
url_rewrite_children 2 startup=2 idle=1
logfile_daemon $HELPERS/log_file_daemon
access_log daemon:$X/access.log
cache_log $X/cache.log
pid_filename $X/squid.pid
coredump_dir $X
cache_effective_user proxy
shutdown_lifetime 1 seconds
pinger_enable off
icp_port 0
htcp_port 0
dns_nameservers 127.0.0.1
EOC
policy "$X/policy.conf" <<EOC
rules = (
  { name = "proxy-in"; direction = "accept"; port = $P; cert = "$X/certs/server.crt"; key = "$X/certs/server.key"; },
  { name = "origin-out"; direction = "connect"; port = $O; ca = "$X/certs/ca.crt"; server_name = "localhost"; }
);
EOC
chown proxy: "$X/policy.conf"
_squid_shm() { rm -f "/dev/shm/$SVC-"* 2>/dev/null; return 0; }
at_exit _squid_shm
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$X/shim.log" shimbg "$SQUID" -n "$SVC" -f "$X/squid.conf" -N -d 1 >"$T/squid.out" 2>&1
SQ=$!
track "$SQ"
if ! wait_listen "$P" $((30 * TS)) "$SQ" || ! wait_ready "$SQ" "$X/cache.log" 'helperOpenServers: Starting 2/2 .*url_fake_rewrite' 10; then
	fail squid_setup "squid did not start$(show "$T/squid.out" "$X/cache.log" "$X/shim.log")"
	exit 1
fi

name=squid_8_downloads_at_once
proxy_downloads "$P" "http://127.0.0.1:$O/big" "$X/www/big"
# The log daemon writes when squid flushes its buffer: bounded wait.
wait_for "$X/access.log" "big\\?n=8 " 10 >/dev/null
logged=$(count "$X/access.log" 'TCP_MISS/200 500[0-9]* GET http://127\.0\.0\.1:[0-9]+/big\?n=[1-8] ')
if [ $BAD -eq 0 ] && [ $OK -eq 8 ] && [ "$logged" -eq 8 ]; then
	pass "$name (500000 bytes each, exact; 8 logged by the log daemon)"
else
	fail "$name" "$BAD curl failed, $OK of 8 exact, $logged of 8 logged: $(cat "$T"/curl.*.err | head -c 300)$(show "$X/cache.log" "$X/shim.log")"
fi

name=squid_both_sides_tls
na=$(logged_tls "$X/shim.log" proxy-in accepted)
nc=$(count "$X/shim.log" 'rule "origin-out": connected TLSv1\.3 .*verified')
# (https_origin.py, Python's http.server behind ssl, ends its connections
# with a bare FIN: the truncation is the origin's, and logged)
if [ "$na" -eq 8 ] && [ "$nc" -ge 1 ] && ! grep -q ': error: ' "$X/shim.log" &&
   [ "$(grep ': warn: ' "$X/shim.log" | grep -c -v 'rule "origin-out": connection truncated')" -eq 0 ]; then
	pass "$name (accepted 8, connected $nc verified, helpers started under the library: $(count "$X/shim.log" 'policy .*: 2 rules loaded') processes)"
else
	fail "$name" "accepted $na of 8, connected $nc$(show "$X/shim.log")"
fi

name=squid_origin_down_error_page_over_tls
stop "$ORIGIN"
timeout $((30 * TS)) curl -sS --proxy "https://127.0.0.1:$P" --proxy-cacert "$CERTS/ca.crt" \
	-o "$T/down.html" -w '%{http_code}\n' "http://127.0.0.1:$O/big?down" >"$T/down.out" 2>"$T/down.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$T/down.out")" = 503 ] && grep -q 'ERR_CONNECT_FAIL' "$T/down.html" &&
   grep -q '(111) Connection refused' "$T/down.html" && alive "$SQ" &&
   ! grep -q 'socket error during the handshake' "$X/shim.log"; then
	pass "$name (503, ERR_CONNECT_FAIL: (111) Connection refused; squid's read before its close: no handshake tried)"
else
	fail "$name" "curl exit $rc, status '$(cat "$T/down.out")': $(cat "$T/down.err")$(show "$X/shim.log")"
fi

no_clear squid_plain_client_gets_nothing_in_clear "$P" "GET http://127.0.0.1:$O/big HTTP/1.0
" "$SQ"

kill_tree "$SQ"
san_logs_back
