#!/usr/bin/env python3
"""https_origin.py PORT DIR CERT KEY — a threaded HTTPS file server on
127.0.0.1:PORT serving DIR (Python's http.server behind ssl), the origin
that a proxy under the shim reaches through a connect rule
(tests/interop/tinyproxy.sh).  Prints "ready" once listening; serves
until killed, at most 120 s (x TLSSHIM_TIME_SCALE).
"""
import http.server
import os
import ssl
from strict_tls import strict_server_ctx
import sys
import threading

port, root, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
os.chdir(root)
http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler)
ctx = strict_server_ctx(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True, suppress_ragged_eofs=False)
threading.Timer(120 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1")), srv.shutdown).start()
print("ready", flush=True)
srv.serve_forever()
