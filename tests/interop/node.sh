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
. "$TLSSHIM_TOP/tests/interop/webapp.inc"
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
webapp_server node 20 "hello from node $("$NODE" --version)" 0 "$NODE" "$T/server.js"

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
webapp_client node "$NODE" "$T/client.js"
