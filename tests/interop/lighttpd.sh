#!/bin/sh
# tests/interop/lighttpd.sh — Debian's lighttpd serving plain HTTP under the
# shim, with an accept rule on its port; curl --cacert fetches a page and a
# 20 MB file over TLS (sha256 compared).
#
# lighttpd exports functions named config_init, config_read, ... (it is
# linked -rdynamic for its plugins).  When the shim resolved libconfig's
# names dynamically, they bound to lighttpd's own and lighttpd aborted at
# start-up ("free(): invalid pointer" in config_read_file -> config_destroy,
# called from the shim's policy_load).  Started once with LD_PRELOAD and
# once through the launcher.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim lighttpd_setup
LIGHTTPD=$(command -v lighttpd || echo /usr/sbin/lighttpd)
[ -x "$LIGHTTPD" ] || { fail lighttpd_setup "lighttpd not installed (Debian package lighttpd)"; exit 1; }
command -v curl >/dev/null || { fail lighttpd_setup "curl not installed"; exit 1; }
command -v ss >/dev/null || { fail lighttpd_setup "ss not installed (iproute2)"; exit 1; }

# The point of this test: lighttpd does export the names.
name=lighttpd_exports_config_names
if nm -D --defined-only "$LIGHTTPD" 2>/dev/null | grep -q ' T config_init$' &&
   nm -D --defined-only "$LIGHTTPD" 2>/dev/null | grep -q ' T config_read$'; then
	pass "$name"
else
	fail "$name" "$LIGHTTPD does not export config_init and config_read (the test would prove nothing)"
fi

# wait_listen PORT PID: until something listens on 127.0.0.1:PORT without
# connecting to it (a probe would be a failed handshake); gives up at once
# when PID has ended, else after 10 s (times TS).
wait_listen() {
	if [ -x "$PROGS/waitlisten" ]; then   # (one process, no fork per look)
		alive "$2" && "$PROGS/waitlisten" "$1" $((10000 * TS)) "$2"
		return
	fi
	_wl_n=$((100 * TS))
	while [ "$_wl_n" -gt 0 ] && alive "$2"; do
		listening "$1" && return 0
		sleep 0.1; _wl_n=$((_wl_n - 1))
	done
	return 1
}

mkdir -p "$T/www"
head -c 20971520 /dev/urandom >"$T/www/file20m"
SUM20=$(sha256sum <"$T/www/file20m" | cut -d' ' -f1)
printf '<html><body>tlsshim lighttpd index %s</body></html>\n' "$$" >"$T/www/index.html"

for how in preload launcher; do
	M=lighttpd_$how
	D=$T/$M
	mkdir -p "$D"
	P=$(free_port)
	cat >"$D/lighttpd.conf" <<EOF
server.document-root = "$T/www"
server.bind = "127.0.0.1"
server.port = $P
server.errorlog = "$D/error.log"
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", "" => "application/octet-stream" )
EOF
	policy "$T/$M.conf" <<EOF
rules = ( { name = "lighttpd-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
	export TLSSHIM_LOG_FILE="$T/$M.log"
	if [ "$how" = preload ]; then
		shimbg "$LIGHTTPD" -D -f "$D/lighttpd.conf" >"$T/$M.out" 2>&1
	else
		# A sanitizer runtime (ASan build) must stay the first preload;
		# the launcher appends the library it finds next to itself.
		pre=""
		case "$SHIM_PRELOAD" in *" "*) pre=${SHIM_PRELOAD% *} ;; esac
		bg env LD_PRELOAD="$pre" "$TLSSHIM_LAUNCHER" -c "$POLICY" -- "$LIGHTTPD" -D -f "$D/lighttpd.conf" >"$T/$M.out" 2>&1
	fi
	LT=$!
	name=${M}_starts
	if ! wait_listen "$P" "$LT"; then
		stop "$LT"
		fail "$name" "lighttpd did not listen$(show "$T/$M.out" "$D/error.log" "$T/$M.log")"
		continue
	fi
	pass "$name"

	lcurl() { curl -sS --max-time 60 --cacert "$CERTS/ca.crt" --resolve "localhost:$P:127.0.0.1" "$@"; }
	URL=https://localhost:$P

	name=${M}_index_over_tls
	lcurl -o "$T/$M.idx" "$URL/" 2>"$T/$M.curlidx"; crc=$?
	if [ "$crc" -eq 0 ] && cmp -s "$T/$M.idx" "$T/www/index.html"; then
		pass "$name"
	else
		fail "$name" "curl exit $crc$(show "$T/$M.curlidx" "$D/error.log" "$T/$M.log")"
	fi

	name=${M}_20MB_sha256
	lcurl -o "$T/$M.got" "$URL/file20m" 2>"$T/$M.curl"; crc=$?
	sum=$(sha256sum <"$T/$M.got" 2>/dev/null | cut -d' ' -f1)
	if [ "$crc" -eq 0 ] && [ "$sum" = "$SUM20" ]; then
		pass "$name"
	else
		fail "$name" "curl exit $crc, $(wc -c <"$T/$M.got" 2>/dev/null) bytes, sha256 ${sum:-none}$(show "$T/$M.curl" "$D/error.log" "$T/$M.log")"
	fi
	rm -f "$T/$M.got"

	# Plain HTTP to the TLS port gets no page.
	name=${M}_plain_http_refused
	audit_exclude_during "$P" "a plain HTTP client must be refused" \
		curl -sS --max-time $((10 * TS)) -o "$T/$M.plain" "http://127.0.0.1:$P/" 2>/dev/null
	if ! grep -q 'tlsshim lighttpd index' "$T/$M.plain" 2>/dev/null; then
		pass "$name"
	else
		fail "$name" "the page came back over plain HTTP"
	fi

	# SIGTERM: lighttpd shuts down gracefully and exits 0.
	name=${M}_graceful_stop_exit_0
	kill -TERM "$LT" 2>/dev/null
	wait_exit "$LT" 20; rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "$name"
	else
		fail "$name" "lighttpd exited $rc$(show "$T/$M.out" "$D/error.log" "$T/$M.log")"
	fi
done
