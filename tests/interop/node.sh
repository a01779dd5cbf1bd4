#!/bin/sh
# tests/interop/node.sh — a JavaScript runtime under the shim: Node.js
# (libuv: its own epoll loop, accept4, read/writev on non-blocking
# sockets, a thread pool) with plain `http` code, no TLS module.
#  * server: an http.createServer under an accept rule, fetched by curl
#    --cacert over https://: a 10 MB body (SHA-256), 40 requests 8 at a
#    time on kept-alive connections, a POST of 3 MB echoed back as its
#    SHA-256 computed by Node.
#  * client: http.get of a plain http:// URL under a connect rule, to
#    openssl s_server -WWW (a TLS-only web server that serves files from its
#    directory): a 5 MB file, SHA-256 computed by Node, and the shim logged
#    a verified TLS connection; s_server got a TLS handshake (it speaks
#    nothing else).
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim node_setup
NODE=$(command -v node || command -v nodejs)
[ -n "$NODE" ] || { fail node_setup "node not installed (nodejs)"; exit 1; }

mkdir -p "$T/www"
head -c 10485760 /dev/urandom >"$T/www/big"
head -c 5242880 /dev/urandom >"$T/www/five"
head -c 3145728 /dev/urandom >"$T/post"

# ---------------------------------------------------------------- server
cat >"$T/server.js" <<'JS'
const http = require('http'), fs = require('fs'), crypto = require('crypto');
const [port, dir] = [Number(process.argv[2]), process.argv[3]];
const big = fs.readFileSync(dir + '/big');
const server = http.createServer((req, res) => {
  if (req.method === 'POST') {
    const h = crypto.createHash('sha256');
    let n = 0;
    req.on('data', (d) => { h.update(d); n += d.length; });
    req.on('end', () => res.end(`${n} ${h.digest('hex')}\n`));
  } else if (req.url.startsWith('/big')) {
    res.setHeader('Content-Length', big.length);
    res.end(big);
  } else {
    res.end('hello from node ' + process.version + '\n');
  }
});
server.keepAliveTimeout = 20000;
server.listen(port, '127.0.0.1', () => console.log('listening ' + port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
JS
P=$(free_port)
policy "$T/srv.conf" <<EOF
rules = ( { name = "node-in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/srv.log" POLICY=$T/srv.conf shimbg "$NODE" "$T/server.js" "$P" "$T/www" \
	>"$T/server.out" 2>&1
SRV=$!
track "$SRV"
if wait_ready "$SRV" "$T/server.out" "^listening $P" 20; then
	ncurl() { curl -sS --max-time 60 --cacert "$CERTS/ca.crt" --resolve "localhost:$P:127.0.0.1" "$@"; }
	URL=https://localhost:$P

	name=node_server_hello_over_tls
	out=$(ncurl -v "$URL/" 2>"$T/hello.err"); rc=$?
	if [ "$rc" -eq 0 ] && [ "$out" = "hello from node $("$NODE" --version)" ] && grep -q 'SSL certificate verify ok' "$T/hello.err"; then
		pass "$name"
	else
		fail "$name" "curl exit $rc, '$out'$(show "$T/hello.err" "$T/server.out" "$T/srv.log")"
	fi

	name=node_server_10MB_sha256
	ncurl -o "$T/got.big" "$URL/big" 2>"$T/big.err"; rc=$?
	if [ "$rc" -eq 0 ] && [ "$(sha "$T/got.big")" = "$(sha "$T/www/big")" ]; then
		pass "$name"
	else
		fail "$name" "curl exit $rc, $(wc -c <"$T/got.big" 2>/dev/null) bytes$(show "$T/big.err" "$T/server.out" "$T/srv.log")"
	fi
	rm -f "$T/got.big"

	name=node_server_40_requests_8_parallel
	mkdir -p "$T/par"
	ncurl --parallel --parallel-max 8 -o "$T/par/#1" "$URL/big?n=[1-40]" >/dev/null 2>"$T/par.err"; rc=$?
	same=0
	for f in "$T/par"/*; do cmp -s "$f" "$T/www/big" && same=$((same + 1)); done
	if [ "$rc" -eq 0 ] && [ "$same" -eq 40 ]; then
		pass "$name"
	else
		fail "$name" "curl exit $rc, $same of 40 bodies exact$(show "$T/par.err" "$T/server.out" "$T/srv.log")"
	fi
	rm -rf "$T/par"

	name=node_server_3MB_post_hashed_by_node
	out=$(ncurl --data-binary @"$T/post" -H 'Content-Type: application/octet-stream' "$URL/post" 2>"$T/post.err"); rc=$?
	if [ "$rc" -eq 0 ] && [ "$out" = "3145728 $(sha "$T/post")" ]; then
		pass "$name"
	else
		fail "$name" "curl exit $rc, '$out'$(show "$T/post.err" "$T/server.out" "$T/srv.log")"
	fi

	name=node_server_port_speaks_tls
	warns=$(count "$T/srv.log" ': (warn|error): ')
	if tls_probe "$P" "$T/probe" && [ "$(logged_tls "$T/srv.log" node-in accepted)" -ge 3 ] && [ "$warns" -eq 0 ]; then
		pass "$name"
	else
		fail "$name" "$warns warnings$(show "$T/probe" "$T/srv.log")"
	fi

	name=node_server_sigterm_exit_0
	kill -TERM "$SRV"
	wait_gone "$SRV" 30; rc=$?
	if [ "$rc" -eq 0 ]; then pass "$name"; else fail "$name" "node exited $rc$(show "$T/server.out" "$T/srv.log")"; fi
else
	fail node_server_setup "node did not listen$(show "$T/server.out" "$T/srv.log")"
	kill_tree "$SRV"
fi

# ---------------------------------------------------------------- client
cat >"$T/client.js" <<'JS'
const http = require('http'), crypto = require('crypto');
const url = process.argv[2];
const req = http.get(url, { agent: false, timeout: 30000 }, (res) => {
  const h = crypto.createHash('sha256');
  let n = 0;
  res.on('data', (d) => { h.update(d); n += d.length; });
  res.on('end', () => { console.log(`status ${res.statusCode} ${n} ${h.digest('hex')}`); });
  res.on('error', (e) => { console.log('error ' + e.message); process.exitCode = 1; });
});
req.on('timeout', () => { console.log('timeout'); req.destroy(); process.exitCode = 1; });
req.on('error', (e) => { console.log('error ' + e.message); process.exitCode = 1; });
JS
Q=$(free_port)
policy "$T/cli.conf" <<EOF
rules = ( { name = "node-out"; direction = "connect"; port = $Q; ca = "$CERTS/ca.crt"; } );
EOF
# s_server -WWW serves files relative to its directory; -naccept 1: one
# connection, then it exits.
(cd "$T/www" && exec openssl s_server -accept "127.0.0.1:$Q" -cert "$CERTS/server.crt" -key "$CERTS/server.key" \
	-WWW -naccept 1) >"$T/s_server.out" 2>&1 &
SS=$!
_bg_pids="$_bg_pids $SS"
track "$SS"
name=node_client_http_get_through_tls_5MB_sha256
if wait_listen "$Q" 15 "$SS"; then
	out=$(TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/cli.log" POLICY=$T/cli.conf shimmed "$NODE" "$T/client.js" \
		"http://127.0.0.1:$Q/five" 2>&1); rc=$?
	if [ "$rc" -eq 0 ] && [ "$out" = "status 200 5242880 $(sha "$T/www/five")" ] &&
	   [ "$(count "$T/cli.log" 'rule "node-out": connected TLSv1\.[23] .*verified')" -eq 1 ]; then
		pass "$name"
	else
		fail "$name" "node exit $rc: '$out'$(show "$T/cli.log" "$T/s_server.out")"
	fi
	wait_gone "$SS" 10 >/dev/null
else
	fail "$name" "openssl s_server did not listen$(show "$T/s_server.out")"
fi
