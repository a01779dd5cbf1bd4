"""et_client.py PORT CA — a verified Python ssl client for et_server.py:
sends 1000 bytes, prints what comes back.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)  # strict EOF: a bare FIN is a truncation
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20 * S),
                    server_hostname="localhost", suppress_ragged_eofs=False)
s.sendall(b"x" * 1000)
print("got %r" % s.recv(100))
