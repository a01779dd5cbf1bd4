"""dup_client.py PORT CA — a verified TLS client for tests/progs/dup_server
(tests/preload/dup.sh): expects the three lines the server writes through
dup, F_DUPFD_CLOEXEC and dup2, sends "ping", expects "echo", then
close_notify.  Prints "ok" or what it got.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
from strict_tls import strict_client_ctx, connect
ctx = strict_client_ctx(sys.argv[2])
s = connect(ctx, int(sys.argv[1]), 10 * S)
want = b"via dup\nvia F_DUPFD_CLOEXEC\nvia dup2\n"
got = b""
while len(got) < len(want):
    d = s.recv(100)
    if not d:
        break
    got += d
s.sendall(b"ping\n")
echo = s.recv(100)
s = s.unwrap()          # our close_notify; the server's last close answers
print("ok" if got == want and echo == b"echo\n" else "bad: %r %r" % (got, echo))
