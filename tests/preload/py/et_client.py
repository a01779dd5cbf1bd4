"""et_client.py PORT CA — a verified Python ssl client for et_server.py:
sends 1000 bytes, prints what comes back.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
from strict_tls import strict_client_ctx, connect
ctx = strict_client_ctx(sys.argv[2])
s = connect(ctx, int(sys.argv[1]), 20 * S)
s.sendall(b"x" * 1000)
print("got %r" % s.recv(100))
