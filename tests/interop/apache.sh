#!/bin/sh
# tests/interop/apache.sh — a multi-threaded HTTP server with a worker
# pool under the shim: Debian's apache2, once with mpm_event (a listener
# thread accepts, the connection goes to a pool thread, idle keep-alive
# connections go back to the listener's epoll) and once with mpm_worker
# (a listener thread, a pool of threads doing blocking I/O); a private
# ServerRoot/config in $T; root starts it, the children run as www-data
# (the shim's policy and certificates were loaded before that).  An accept
# rule on its port; curl --cacert over https://.
# Asserted: a 20 MB file (sendfile) with the right SHA-256; 96 requests of
# a 256 KB file, 16 at a time, every body exact, served by more than one
# thread; 3 requests on one kept-alive connection; the shim logged every
# session; openssl s_client gets a verified handshake; a graceful stop.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim apache_setup
APACHE=/usr/sbin/apache2
MODS=/usr/lib/apache2/modules
[ -x "$APACHE" ] && [ -f "$MODS/mod_mpm_event.so" ] || { fail apache_setup "apache2 not installed (apache2)"; exit 1; }
command -v curl >/dev/null || { fail apache_setup "curl not installed"; exit 1; }
id www-data >/dev/null 2>&1 || { fail apache_setup "no www-data user"; exit 1; }
[ "$(id -u)" = 0 ] || { fail apache_setup "run as root (apache2 switches to www-data)"; exit 1; }

open_tmp
mkdir -p "$T/www"
head -c 20971520 /dev/urandom >"$T/www/file20m"
head -c 262144 /dev/urandom >"$T/www/file256k"
chmod -R a+rX "$T/www"

for mpm in event worker; do
	D=$T/$mpm
	mkdir -p "$D/run"
	P=$(free_port)
	policy "$T/$mpm.policy" <<EOF
rules = ( { name = "apache-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
	cat >"$D/httpd.conf" <<EOF
ServerRoot $D
LoadModule mpm_${mpm}_module $MODS/mod_mpm_${mpm}.so
LoadModule authz_core_module $MODS/mod_authz_core.so
ServerName localhost
Listen 127.0.0.1:$P
PidFile $D/run/httpd.pid
DefaultRuntimeDir $D/run
Mutex file:$D/run default
ErrorLog $D/error.log
LogLevel info
LogFormat "%h \"%r\" %>s %B pid=%{pid}P tid=%{tid}P port=%{remote}p" tl
CustomLog $D/access.log tl
User www-data
Group www-data
DocumentRoot $T/www
<Directory $T/www>
  Require all granted
</Directory>
EnableSendfile On
KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 10
StartServers 2
ServerLimit 2
ThreadsPerChild 16
ThreadLimit 16
MinSpareThreads 8
MaxSpareThreads 32
MaxRequestWorkers 32
EOF
	if ! "$APACHE" -t -f "$D/httpd.conf" >"$D/t.out" 2>&1; then
		fail "apache_${mpm}_setup" "apache2 -t: $(head -c 300 "$D/t.out")"; continue
	fi
	TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$D/shim.log" POLICY=$T/$mpm.policy \
		shimbg "$APACHE" -DFOREGROUND -f "$D/httpd.conf" >"$D/out" 2>&1
	SRV=$!
	track "$SRV"
	if ! wait_listen "$P" 20 "$SRV"; then
		fail "apache_${mpm}_setup" "apache2 did not listen$(show "$D/out" "$D/error.log" "$D/shim.log")"
		kill_tree "$SRV"; continue
	fi
	acurl() { curl -sS --max-time 60 --cacert "$CERTS/ca.crt" --resolve "localhost:$P:127.0.0.1" "$@"; }
	URL=https://localhost:$P

	name=apache_${mpm}_20MB_sendfile_sha256
	acurl -o "$D/got20m" "$URL/file20m" 2>"$D/curl.err"; rc=$?
	if [ "$rc" -eq 0 ] && [ "$(sha "$D/got20m")" = "$(sha "$T/www/file20m")" ]; then
		pass "$name"
	else
		fail "$name" "curl exit $rc, $(wc -c <"$D/got20m" 2>/dev/null) bytes$(show "$D/curl.err" "$D/error.log" "$D/shim.log")"
	fi
	rm -f "$D/got20m"

	name=apache_${mpm}_96_requests_16_parallel_worker_pool
	mkdir -p "$D/par"
	acurl --parallel --parallel-max 16 --parallel-immediate -o "$D/par/#1" "$URL/file256k?n=[1-96]" \
		>"$D/par.out" 2>"$D/par.err"; rc=$?
	same=0
	for f in "$D/par"/*; do cmp -s "$f" "$T/www/file256k" && same=$((same + 1)); done
	served=$(count "$D/access.log" '"GET /file256k\?n=[0-9]+ HTTP/1.1" 200 262144 ')
	tids=$(sed -n 's/.*"GET \/file256k?n=.* tid=\([0-9]*\) .*/\1/p' "$D/access.log" | sort -u | wc -l)
	if [ "$rc" -eq 0 ] && [ "$same" -eq 96 ] && [ "$served" -eq 96 ] && [ "$tids" -ge 2 ]; then
		pass "$name ($tids threads)"
	else
		fail "$name" "curl exit $rc, $same of 96 bodies exact, $served logged, $tids threads$(show "$D/par.err" "$D/error.log" "$D/shim.log")"
	fi
	rm -rf "$D/par"

	name=apache_${mpm}_keepalive_3_requests_one_connection
	acurl -v -o "$D/k1" "$URL/file256k?k=1" -o "$D/k2" "$URL/file256k?k=2" -o "$D/k3" "$URL/file256k?k=3" 2>"$D/kv"; rc=$?
	if [ "$rc" -eq 0 ] && cmp -s "$D/k1" "$T/www/file256k" && cmp -s "$D/k3" "$T/www/file256k" &&
	   [ "$(count "$D/kv" 'Re-using existing connection')" -eq 2 ]; then
		pass "$name"
	else
		fail "$name" "curl exit $rc$(show "$D/kv" "$D/shim.log")"
	fi

	name=apache_${mpm}_sessions_logged_and_port_speaks_tls
	# One TLS session per TCP connection apache logged (curl reuses
	# connections: fewer than requests).
	na=$(logged_tls "$D/shim.log" apache-in accepted)
	conns=$(sed -n 's/.* port=\([0-9]*\)$/\1/p' "$D/access.log" | sort -u | wc -l)
	warns=$(count "$D/shim.log" ': (warn|error): ')
	if [ "$na" -ge 3 ] && [ "$na" -eq "$conns" ] && [ "$warns" -eq 0 ] && tls_probe "$P" "$D/probe"; then
		pass "$name ($na sessions)"
	else
		fail "$name" "$na sessions accepted, $conns connections in apache's log, $warns warnings$(show "$D/probe" "$D/shim.log")"
	fi

	name=apache_${mpm}_graceful_stop
	kill -WINCH "$SRV"
	wait_gone "$SRV" 20; rc=$?
	if [ "$rc" -eq 0 ] && [ -z "$(descendants "$SRV")" ]; then
		pass "$name"
	else
		fail "$name" "apache2 exited $rc$(show "$D/error.log" "$D/out")"
	fi
done
