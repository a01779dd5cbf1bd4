"""linger_many_client.py PORT CA PING N [GO] — N TLS connections to a server that
answers and closes (pingpong): each sends PING, reads the echo and then the
server's close_notify (the server has closed by then) and is kept open; only
once all N are in does it send its own close_notify on each and close.  The
server's N lingering sockets then all get their peer's records and FIN at
about the same moment.  Prints "ok N".

With GO (a path), it first prints "held N" and waits (at most 120 s) for
that file to exist, so that the test can look at the server while every
connection is still open."""
import os
import socket
import ssl
from strict_tls import strict_client_ctx, connect
import sys
import time

port, ca, ping, n = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
ctx = strict_client_ctx(ca)
held = []
for i in range(n):
    s = connect(ctx, port, 20)
    s.sendall(ping)
    got = b""
    while len(got) < len(ping):
        b = s.recv(len(ping) - len(got))
        if not b:
            break
        got += b
    if got != ping:
        print("connection %d: echo %r" % (i, got))
        sys.exit(1)
    if s.recv(100) != b"":
        print("connection %d: data after the echo" % i)
        sys.exit(1)
    held.append(s)
if len(sys.argv) > 5:
    print("held %d" % n, flush=True)
    end = time.monotonic() + 120
    while not os.path.exists(sys.argv[5]) and time.monotonic() < end:
        time.sleep(0.05)
for s in held:
    s.unwrap()
    s.close()
print("ok %d" % n)
