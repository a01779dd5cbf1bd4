"""inetd_client.py PORT CA MODE LINE... — a verified TLS client
(tests/interop/inetd.sh).  "lines": send each line and read one answer
line per line sent, then unwrap (close_notify both ways); "eof": send one
line, read to the end, then answer with close_notify.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
from strict_tls import strict_client_ctx, connect, truncated
port, ca, how, lines = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
ctx = strict_client_ctx(ca)
buf = b""
try:
    s = connect(ctx, port, 15 * S)
    def line():
        global buf
        while b"\n" not in buf:
            d = s.recv(4096)
            if not d:
                raise EOFError("end of data after %r" % buf[:80])
            buf += d
        l, buf = buf.split(b"\n", 1)
        return l.decode(errors="replace")
    if how == "eof":
        s.sendall(lines[0].encode() + b"\n")
        while True:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        print("got %r" % buf.decode(errors="replace"))
        print("eof clean")
        s.unwrap()
    else:
        for l in lines:
            s.sendall(l.encode() + b"\n")
            print("got %r" % line())
        s.unwrap()
        print("unwrap ok")
except (OSError, ssl.SSLError, EOFError) as e:
    if truncated(e):
        print("eof ragged (no close_notify) after %r: %s" % (buf, e))
    else:
        print("error %s: %s after %r" % (type(e).__name__, e, buf))
