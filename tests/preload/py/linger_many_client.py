"""linger_many_client.py PORT CA PING N [GO] — N TLS connections to a server that
answers and closes (pingpong): each sends PING, reads the echo and then the
server's close_notify (the server has closed by then) and is kept open; only
once all N are in does it send its own close_notify on each and close.  The
server's N lingering sockets then all get their peer's records and FIN at
about the same moment.  Prints "ok N".

With GO (a path), it first prints "held N" and waits (at most 120 s) for
that file to exist, so that the test can look at the server while every
connection is still open.  With a sixth argument "reset", each close is a
reset (SO_LINGER 0) after the close_notify, as a program that closes over
records it did not read."""
import os
import socket
import ssl
import struct
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
reset = len(sys.argv) > 6 and sys.argv[6] == "reset"
for s in held:
    raw = s.unwrap()
    if reset:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()
print("ok %d" % n)
