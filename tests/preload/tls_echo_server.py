"""A TLS echo server (Python ssl, a real peer): echoes each connection's
bytes until the client closes, then sends close_notify.

    tls_echo_server.py PORT CERT KEY [CONNS]
"""
import socket, ssl, sys

port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
conns = int(sys.argv[4]) if len(sys.argv) > 4 else 1
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)  # strict EOF: a bare FIN is a truncation
ctx.load_cert_chain(cert, key)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(8)
ls.settimeout(20)
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
