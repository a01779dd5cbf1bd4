"""tests/preload/py/sigio_server.py — the peer of tests/progs/sigio_client.

  sigio_server.py PORT N GOFILE CERT|- KEY|-

A TLS server (plain with CERT "-") whose receive buffer is small: it
accepts one connection, prints "accepted", reads nothing until GOFILE
exists (the client has made its first write, which then filled the
buffers on both sides), then reads N bytes and answers "OK N".  Bounded:
20 s for GOFILE, a 20 s socket timeout (scaled by TLSSHIM_TIME_SCALE).
"""
import os
import socket
import ssl
from strict_tls import strict_server_ctx
import sys
import time

port, n, go, cert, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ts = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
ls.bind(("127.0.0.1", port))
ls.listen(4)
print("ready", flush=True)
s, _ = ls.accept()
s.settimeout(20 * ts)
if cert != "-":
    ctx = strict_server_ctx(cert, key)
    # No TLS 1.3 session tickets: their arrival would raise a POLLIN
    # signal at a time of the scheduler's choosing (the client's read
    # then pushes what the library holds, sometimes in time).
    ctx.num_tickets = 0
    s = ctx.wrap_socket(s, server_side=True, suppress_ragged_eofs=False)
print("accepted", flush=True)
for _ in range(int(2000 * ts)):
    if os.path.exists(go):
        break
    time.sleep(0.01)
got = 0
while got < n:
    d = s.recv(65536)
    if not d:
        break
    got += len(d)
print("got", got, flush=True)
s.sendall(b"OK %d\n" % got)
try:
    s.recv(10)
except (OSError, ssl.SSLError):
    pass
