"""stdio_client.py PORT CA MODE LINE... — a verified TLS client
(tests/preload/stdio.sh).  "unwrap": send each line and read its answer
(one line), then close_notify and wait for the server's; "eof": send one
line, read to the end, say how it ended, answer with close_notify.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
from strict_tls import strict_client_ctx, connect, truncated
port, ca, how, lines = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
ctx = strict_client_ctx(ca)
s = connect(ctx, port, 10 * S)
buf = b""
data = b""
def line():
    global buf
    while b"\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise EOFError("end of data after %r" % buf[:80])
        buf += d
    l, buf = buf.split(b"\n", 1)
    return l.decode(errors="replace")
try:
    if how == "eof":                 # one line out, read everything back
        s.sendall(lines[0].encode() + b"\n")
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        print("got %r" % data.decode(errors="replace"))
        print("eof clean")
        s.unwrap()                   # answer the close_notify with ours
    else:
        for l in lines:
            s.sendall(l.encode() + b"\n")
            print("got %r" % line())
        s.unwrap()
        print("unwrap ok")
except (OSError, ssl.SSLError, EOFError) as e:
    if truncated(e):
        print("eof ragged (no close_notify) after %r: %s" % (data, e))
    else:
        print("error %s: %s" % (type(e).__name__, e))
