"""sendfile_client.py PORT CA FILE — a verified TLS client for
sendfile_server.py: reads to the end and prints "ok" when it got exactly
FILE[1000:2001000] + FILE[:2500000].
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
from strict_tls import strict_client_ctx, connect
ctx = strict_client_ctx(sys.argv[2])
s = connect(ctx, int(sys.argv[1]), 20 * S)
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
want = open(sys.argv[3], "rb").read()
print("ok" if data == want[1000:2001000] + want[:2500000] else "mismatch %d" % len(data))
s.unwrap(); s.close()
