"""sendfile_client.py PORT CA FILE — a verified TLS client for
sendfile_server.py: reads to the end and prints "ok" when it got exactly
FILE[1000:2001000] + FILE[:2500000].
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)  # strict EOF: a bare FIN is a truncation
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20 * S),
                    server_hostname="localhost", suppress_ragged_eofs=False)
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
want = open(sys.argv[3], "rb").read()
print("ok" if data == want[1000:2001000] + want[:2500000] else "mismatch %d" % len(data))
s.unwrap(); s.close()
