"""A TLS echo server (Python ssl, a real peer): echoes each connection's
bytes until the client closes, then sends close_notify.

    tls_echo_server.py PORT CERT KEY [CONNS]
"""
import socket, ssl, sys
from strict_tls import strict_server_ctx, listener

port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
conns = int(sys.argv[4]) if len(sys.argv) > 4 else 1
ctx = strict_server_ctx(cert, key)
ls = listener(port, 8, 20)
print("listening", flush=True)
for _ in range(conns):
    try:
        raw, _ = ls.accept()
        raw.settimeout(20)
        s = ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
    except (OSError, ssl.SSLError) as e:
        print("handshake failed:", e, flush=True)
        continue
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            s.sendall(d)
        s.unwrap()
    except (OSError, ssl.SSLError) as e:
        print("connection error:", e, flush=True)
    s.close()
