"""two_conns_client.py PORT CA — two verified TLS connections, each sending
one text, for epoll_stale_server.py; reads the second until the end.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)  # strict EOF: a bare FIN is a truncation
def conn(data):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20 * S),
                        server_hostname="localhost", suppress_ragged_eofs=False)
    s.sendall(data)
    return s
a = conn(b"first connection")
b = conn(b"second connection")
try:
    while b.recv(100):
        pass
except OSError:
    pass
