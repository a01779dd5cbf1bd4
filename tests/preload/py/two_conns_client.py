"""two_conns_client.py PORT CA — two verified TLS connections, each sending
one text, for epoll_stale_server.py; reads the second until the end.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
from strict_tls import strict_client_ctx, connect
ctx = strict_client_ctx(sys.argv[2])
def conn(data):
    s = connect(ctx, int(sys.argv[1]), 20 * S)
    s.sendall(data)
    return s
a = conn(b"first connection")
b = conn(b"second connection")
try:
    while b.recv(100):
        pass
except OSError:
    pass
