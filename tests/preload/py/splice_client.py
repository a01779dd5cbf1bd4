"""splice_client.py PORT — under the shim (tests/preload/bypass.sh): splice()
from a pipe into a TLS socket (51200 bytes, echoed and compared), and
splice() out of it (must fail with EINVAL).
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10 * S)
r, w = os.pipe()
data = bytes(range(256)) * 200            # 51200 bytes, more than one record
total = 0
while total < len(data):
    os.write(w, data[total:total + 30000])
    n = 0
    while n < min(30000, len(data) - total):
        n += os.splice(r, s.fileno(), 30000)
    total += n
try:
    os.splice(s.fileno(), w, 100)
    out = "splice out: no error"
except OSError as e:
    out = "splice out: errno %d" % e.errno
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    got += d
print("spliced %d echoed %s; %s" % (total, "ok" if got == data else "MISMATCH %d" % len(got), out))
