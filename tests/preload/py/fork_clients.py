"""fork_clients.py PORT CA N — N verified TLS clients in a row
(tests/preload/fork.sh), each sending a line, reading it back, and ending
with close_notify both ways.  Prints "OK/N ok".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
from strict_tls import strict_client_ctx, connect
port, ca, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = strict_client_ctx(ca)
ok = 0
for i in range(n):
    s = connect(ctx, port, 10 * S)
    msg = b"client %d says hello\n" % i
    s.sendall(msg)
    got = s.recv(100)
    s.unwrap()          # our close_notify; the child answers with its own
    ok += got == msg
    s.close()
print("%d/%d ok" % (ok, n))
