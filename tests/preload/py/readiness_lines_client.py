"""readiness_lines_client.py PORT CA — a verified TLS client
(tests/preload/readiness.sh): 200 lines in one write, the echo read back,
then close_notify.  Prints "echo ok" or "echo MISMATCH N/M".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
from strict_tls import strict_client_ctx, connect
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = strict_client_ctx(ca)
s = connect(ctx, port, 20 * S)
msg = b"".join(b"line %04d of the buffered plaintext test\n" % i for i in range(200))
s.sendall(msg)
got = b""
while len(got) < len(msg):
    d = s.recv(65536)
    if not d:
        break
    got += d
print("echo ok" if got == msg else "echo MISMATCH %d/%d" % (len(got), len(msg)))
s.unwrap()
s.close()
