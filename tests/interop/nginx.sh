#!/bin/sh
# tests/interop/nginx.sh — a real epoll daemon serving plain HTTP, under
# the shim with an accept rule: Debian's nginx (nginx-light, edge-triggered
# epoll, sendfile on, tcp_nopush on), once as a single process
# (master_process off) and once as master + worker (the worker is forked
# and accepts).  curl --cacert downloads a 50 MB file (sha256 compared),
# 200 requests 50 at a time, a page over TLS 1.2 and 1.3 and two requests
# on one kept-alive connection; wrk puts 50 connections of load on it.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim nginx_setup
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { fail nginx_setup "nginx not installed (nginx-light)"; exit 1; }
command -v curl >/dev/null || { fail nginx_setup "curl not installed"; exit 1; }
command -v ss >/dev/null || { fail nginx_setup "ss not installed (iproute2)"; exit 1; }

mkdir -p "$T/www"
head -c 52428800 /dev/urandom >"$T/www/file50m"
SUM50=$(sha256sum <"$T/www/file50m" | cut -d' ' -f1)
printf '<html><body>tlsshim nginx index %s</body></html>\n' "$$" >"$T/www/index.html"

# pipeline.py PORT PID CA: see the pipelined-requests case below.  Prints
# "cpu SECONDS" (utime+stime of PID while the client does not read) and
# "answers STATUS LENGTH STATUS LENGTH".

# plain_conf DIR PORT MASTER(on|off): a plain HTTP server, everything in DIR.
plain_conf() {
	nginx_conf "$1" "$3" <<EOF
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30;
  server {
    listen 127.0.0.1:$2;
    root $T/www;
  }
EOF
}

for master in off on; do
	M=master_$master
	D=$T/$M
	P=$(free_port)
	plain_conf "$D" "$P" "$master"
	policy "$T/$M.conf" <<EOF
rules = ( { name = "nginx-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
	export TLSSHIM_LOG_FILE="$T/$M.log"
	shimbg "$NGINX" -e "$D/logs/error.log" -p "$D" -c "$D/nginx.conf" >"$T/$M.out" 2>&1
	NG=$!
	if ! wait_listen "$P"; then
		fail "nginx_${M}_setup" "nginx did not listen$(show "$T/$M.out" "$D/logs/error.log" "$T/$M.log")"
		stop "$NG"; continue
	fi
	ncurl() { curl -sS --max-time 60 --cacert "$CERTS/ca.crt" --resolve "localhost:$P:127.0.0.1" "$@"; }
	URL=https://localhost:$P

	# 50 MB through sendfile.
	name=nginx_${M}_sendfile_50MB_sha256
	ncurl -o "$T/$M.got50" "$URL/file50m" 2>"$T/$M.curl50"
	crc=$?
	sum=$(sha256sum <"$T/$M.got50" 2>/dev/null | cut -d' ' -f1)
	if [ "$crc" -eq 0 ] && [ "$sum" = "$SUM50" ]; then
		pass "$name"
	else
		fail "$name" "curl exit $crc, $(wc -c <"$T/$M.got50" 2>/dev/null) bytes, sha256 ${sum:-none}$(show "$T/$M.curl50" "$D/logs/error.log" "$T/$M.log")"
	fi
	rm -f "$T/$M.got50"

	# 200 requests, at most 50 at a time (a connection each: HTTP/1.1).
	name=nginx_${M}_200_requests_50_parallel
	mkdir -p "$T/$M.par"
	ncurl --parallel --parallel-max 50 --parallel-immediate \
		-w '%{http_code}\n' -o "$T/$M.par/#1" "$URL/index.html?n=[1-200]" \
		>"$T/$M.codes" 2>"$T/$M.parerr"
	crc=$?
	ok=$(grep -c '^200$' "$T/$M.codes")
	same=0
	for f in "$T/$M.par"/*; do cmp -s "$f" "$T/www/index.html" && same=$((same + 1)); done
	logged=$(grep -c '"GET /index.html?n=[0-9]* HTTP/1.1" 200 ' "$D/logs/access.log")
	if [ "$crc" -eq 0 ] && [ "$ok" -eq 200 ] && [ "$same" -eq 200 ] && [ "$logged" -eq 200 ]; then
		pass "$name"
	else
		fail "$name" "curl exit $crc, $ok answers 200, $same bodies exact, $logged logged$(show "$T/$M.parerr" "$D/logs/error.log" "$T/$M.log")"
	fi

	# The index page over TLS 1.2 and 1.3, and two requests on one
	# kept-alive connection.
	for v in 1.2 1.3; do
		name=nginx_${M}_index_tls$(echo $v | tr -d .)
		ncurl -v --tlsv$v --tls-max $v -o "$T/$M.idx" "$URL/index.html" 2>"$T/$M.idxv"
		crc=$?
		if [ "$crc" -eq 0 ] && cmp -s "$T/$M.idx" "$T/www/index.html" &&
		   grep -q "SSL connection using TLSv$v " "$T/$M.idxv" && grep -q 'SSL certificate verify ok' "$T/$M.idxv"; then
			pass "$name"
		else
			fail "$name" "curl exit $crc$(show "$T/$M.idxv" "$T/$M.log")"
		fi
	done
	name=nginx_${M}_keepalive_two_requests_one_connection
	ncurl -v -o "$T/$M.ka1" "$URL/index.html?ka=1" -o "$T/$M.ka2" "$URL/index.html?ka=2" 2>"$T/$M.kav"
	crc=$?
	if [ "$crc" -eq 0 ] && cmp -s "$T/$M.ka1" "$T/www/index.html" && cmp -s "$T/$M.ka2" "$T/www/index.html" &&
	   grep -q 'Re-using existing connection' "$T/$M.kav"; then
		pass "$name"
	else
		fail "$name" "curl exit $crc$(show "$T/$M.kav" "$T/$M.log")"
	fi

	# wrk: 50 connections of load for a second; no socket error, no non-2xx.
	if command -v wrk >/dev/null; then
		name=nginx_${M}_wrk_50_connections
		timeout $((30 * TS)) wrk -t 2 -c 50 -d 1s --timeout 10s "https://127.0.0.1:$P/index.html" >"$T/$M.wrk" 2>&1
		wrc=$?
		reqs=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' "$T/$M.wrk")
		if [ "$wrc" -eq 0 ] && [ -n "$reqs" ] && [ "$reqs" -gt 0 ] &&
		   ! grep -q -E 'Socket errors|Non-2xx' "$T/$M.wrk"; then
			pass "$name ($reqs requests)"
		else
			fail "$name" "wrk exit $wrc, ${reqs:-no} requests$(show "$T/$M.wrk" "$D/logs/error.log")"
		fi
	fi

	# Two pipelined requests in one TLS record bigger than nginx's 1 KB
	# header buffer (the second one has a 2000-byte header), from a client
	# that then stops reading for 2 s: nginx reads 1 KB, starts sending the
	# 50 MB answer and waits for EPOLLOUT; the rest of the record waits,
	# decrypted, inside the shim.  nginx registered the connection
	# edge-triggered and will read it when it is ready for the next
	# request: epoll must not report that plain text again and again (plain
	# nginx uses no CPU here; a busy loop uses 2 s of it).  Then the client
	# reads both answers in full.
	name=nginx_${M}_pipelined_requests_stalled_client_no_busy_loop
	if [ "$master" = on ]; then wpid=$(pgrep -P "$NG" | head -1); else wpid=$NG; fi
	timeout $((60 * TS)) "$PY" "$PYD/nginx_pipeline.py" "$P" "${wpid:-0}" "$CERTS/ca.crt" >"$T/$M.pipe" 2>&1
	prc=$?
	cpu=$(sed -n 's/^cpu //p' "$T/$M.pipe")
	if [ -z "$cpu" ]; then
		fail "$name" "the client did not get that far (exit $prc)$(show "$T/$M.pipe" "$T/$M.log")"
	elif ! grep -q '^server send queue [1-9]' "$T/$M.pipe"; then
		fail "$name" "inconclusive: nginx never filled its send buffer (the 50 MB answer did not start)$(show "$T/$M.pipe" "$D/logs/error.log" "$T/$M.log")"
	elif ! awk -v c="$cpu" 'BEGIN { exit !(c < 0.5) }'; then
		fail "$name" "nginx (pid $wpid) used ${cpu}s of CPU in the 2 s the client did not read (busy loop)$(show "$T/$M.pipe")"
	elif [ "$prc" -ne 0 ] || ! grep -q '^answers 200 52428800 200 ' "$T/$M.pipe"; then
		fail "$name" "the two answers did not arrive in full (exit $prc)$(show "$T/$M.pipe" "$D/logs/error.log" "$T/$M.log")"
	else
		pass "$name"
	fi

	# nginx itself is fine afterwards, and a graceful stop exits 0.
	name=nginx_${M}_graceful_quit_exit_0
	kill -QUIT "$NG" 2>/dev/null
	wait_exit "$NG" 20; rc=$?
	if [ "$rc" -eq 0 ] && ! grep -q -E '\[(alert|emerg|crit)\]' "$D/logs/error.log"; then
		pass "$name"
	else
		fail "$name" "nginx exited $rc$(show "$T/$M.out" "$D/logs/error.log" "$T/$M.log")"
	fi
	rm -rf "$T/$M.par"
done
