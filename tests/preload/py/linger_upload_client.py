"""linger_upload_client.py PORT CA MB — a TLS client that keeps sending
after the server's close: sends a 32-byte ping, reads the echo and then
the server's close_notify (the server has closed; its socket lingers),
then sends MB MiB of application data in 64 KiB records (TLS allows a
side to go on writing after its peer's close_notify), then its own
close_notify, and closes.  The server's lingering socket must read all
of it and see the FIN before its close_timeout_ms: a socket closed with
unread data answers with a RST, which fails the sends here.  Prints
"ok MB MiB in S s", or the error and exits 1."""
import socket
import ssl
from strict_tls import strict_client_ctx, connect
import sys
import time

port, ca, mb = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = strict_client_ctx(ca)
ping = b"0123456789abcdef0123456789ABCDEF"
t0 = time.monotonic()
sent = 0
try:
    s = connect(ctx, port, 30)
    s.sendall(ping)
    got = b""
    while len(got) < len(ping):
        b = s.recv(len(ping) - len(got))
        if not b:
            break
        got += b
    if got != ping:
        print("echo %r" % got)
        sys.exit(1)
    if s.recv(100) != b"":
        print("data after the echo")
        sys.exit(1)
    t0 = time.monotonic()
    chunk = b"u" * 65536
    while sent < mb << 20:
        s.sendall(chunk)
        sent += len(chunk)
    s.unwrap()
    s.close()
except (OSError, ssl.SSLError) as e:
    print("after %.2f s, %d KiB sent: %s" % (time.monotonic() - t0, sent >> 10, e))
    sys.exit(1)
print("ok %d MiB in %.2f s" % (mb, time.monotonic() - t0))
