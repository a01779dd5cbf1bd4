"""fork_clients.py PORT CA N — N verified TLS clients in a row
(tests/preload/fork.sh), each sending a line, reading it back, and ending
with close_notify both ways.  Prints "OK/N ok".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
port, ca, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)  # strict EOF: a bare FIN is a truncation
ok = 0
for i in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10 * S),
                        server_hostname="localhost", suppress_ragged_eofs=False)
    msg = b"client %d says hello\n" % i
    s.sendall(msg)
    got = s.recv(100)
    s.unwrap()          # our close_notify; the child answers with its own
    ok += got == msg
    s.close()
print("%d/%d ok" % (ok, n))
