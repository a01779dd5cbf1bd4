#!/bin/sh
# tests/interop/lighttpd_load.sh — Debian's lighttpd (single process, its own
# event loop, sendfile/writev for files) serving plain HTTP under the shim
# with an accept rule; curl --cacert (verifying) fetches over https://.
# (lighttpd exports symbols named like libconfig's: config_init, config_read,
# ...; a shim that reaches libconfig through the dynamic linker calls them.)
# Asserted: a 5 MB and a 64 KB file, 20 requests 10 at a time, every
# SHA-256 right; openssl s_client gets a verified handshake; a plain HTTP
# request without TLS gets no answer; lighttpd stops on SIGTERM with 0.
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim lighttpd_setup
LIGHTTPD=$(command -v lighttpd || echo /usr/sbin/lighttpd)
[ -x "$LIGHTTPD" ] || { fail lighttpd_setup "lighttpd not installed (lighttpd)"; exit 1; }
command -v curl >/dev/null || { fail lighttpd_setup "curl not installed"; exit 1; }

open_tmp
mkdir -p "$T/www"
head -c 5242880 /dev/urandom >"$T/www/file5m"
head -c 65536 /dev/urandom >"$T/www/file64k"
chmod -R a+rX "$T/www"
P=$(free_port)
policy "$T/policy.conf" <<EOF
rules = ( { name = "lighttpd-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
cat >"$T/lighttpd.conf" <<EOF
server.document-root = "$T/www"
server.port = $P
server.bind = "127.0.0.1"
server.pid-file = "$T/lighttpd.pid"
server.errorlog = "$T/error.log"
server.modules = ( "mod_accesslog" )
accesslog.filename = "$T/access.log"
mimetype.assign = ( "" => "application/octet-stream" )
EOF
# -D: stay in the foreground.
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/srv.log" shimbg "$LIGHTTPD" -D -f "$T/lighttpd.conf" >"$T/lighttpd.out" 2>&1
SRV=$!
track "$SRV"
if ! wait_listen "$P" 15 "$SRV"; then
	wait_gone "$SRV" 1; st=$?
	fail lighttpd_setup "lighttpd did not listen (exit status $st)$(show "$T/lighttpd.out" "$T/error.log" "$T/srv.log")"
	exit 1
fi
lcurl() { curl -sS --max-time 60 --cacert "$CERTS/ca.crt" --resolve "localhost:$P:127.0.0.1" "$@"; }
URL=https://localhost:$P

name=lighttpd_5MB_file_sha256
lcurl -o "$T/got5m" "$URL/file5m" 2>"$T/curl.err"; rc=$?
if [ "$rc" -eq 0 ] && [ "$(sha "$T/got5m")" = "$(sha "$T/www/file5m")" ]; then
	pass "$name"
else
	fail "$name" "curl exit $rc, $(wc -c <"$T/got5m" 2>/dev/null) bytes$(show "$T/curl.err" "$T/error.log" "$T/srv.log")"
fi

name=lighttpd_20_requests_10_parallel_sha256
mkdir -p "$T/par"
lcurl --parallel --parallel-max 10 -o "$T/par/#1" "$URL/file64k?n=[1-20]" >"$T/par.out" 2>"$T/par.err"; rc=$?
same=0
for f in "$T/par"/*; do cmp -s "$f" "$T/www/file64k" && same=$((same + 1)); done
if [ "$rc" -eq 0 ] && [ "$same" -eq 20 ]; then
	pass "$name"
else
	fail "$name" "curl exit $rc, $same of 20 bodies exact$(show "$T/par.err" "$T/error.log" "$T/srv.log")"
fi

name=lighttpd_logged_tls_and_port_speaks_tls
# One TLS session per curl run at least (curl keeps its connections
# alive and reuses them, so the parallel run may take only one).
na=$(logged_tls "$T/srv.log" lighttpd-in accepted)
if [ "$na" -ge 2 ] && tls_probe "$P" "$T/probe"; then
	pass "$name"
else
	fail "$name" "$na sessions accepted (2 at least expected)$(show "$T/probe" "$T/srv.log")"
fi

name=lighttpd_plain_http_gets_nothing
out=$(audit_exclude_during "$P" "a plain HTTP client must be refused" \
	timeout $((30 * TS)) curl -sS --max-time $((20 * TS)) "http://127.0.0.1:$P/file64k" -o "$T/plain.got" 2>&1); rc=$?
if [ "$rc" -ne 0 ] && [ ! -s "$T/plain.got" ]; then
	pass "$name (curl: $(echo "$out" | head -1))"
else
	fail "$name" "plain curl exit $rc, $(wc -c <"$T/plain.got" 2>/dev/null) bytes"
fi

name=lighttpd_sigterm_exit_0
kill -TERM "$SRV"
wait_gone "$SRV" 15; rc=$?
if [ "$rc" -eq 0 ]; then pass "$name"; else fail "$name" "lighttpd exited $rc$(show "$T/error.log" "$T/srv.log")"; fi
