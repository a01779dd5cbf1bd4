"""lines_client.py PORT CA [N] — a verified Python ssl client (tests/preload/asyncio.sh):
N lines (default 200) in one write (one TLS record), read them back,
close_notify both ways.  Prints "echo ok" and "unwrap ok" (or what went wrong).
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys, time
from strict_tls import strict_client_ctx, connect
port, ca = int(sys.argv[1]), sys.argv[2]
nlines = int(sys.argv[3]) if len(sys.argv) > 3 else 200
ctx = strict_client_ctx(ca)
s = connect(ctx, port, 10 * S)
msg = b"".join(b"line %04d of the buffered plaintext test\n" % i for i in range(nlines))
s.sendall(msg)
got = b""
end = time.time() + 15 * S
try:
    while len(got) < len(msg) and time.time() < end:
        d = s.recv(65536)
        if not d:
            break
        got += d
except OSError as e:
    print("error after %d of %d bytes: %s" % (len(got), len(msg), e))
    sys.exit(1)
if got != msg:
    print("echo MISMATCH got %d of %d bytes" % (len(got), len(msg)))
    sys.exit(1)
print("echo ok")
try:
    s.unwrap()
    print("unwrap ok")
except (OSError, ssl.SSLError) as e:
    print("unwrap error %s" % e)
s.close()
