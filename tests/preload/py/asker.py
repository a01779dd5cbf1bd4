"""asker.py PORT CERT KEY GOFILE — a TLS server (tests/preload/pump.sh) for a session
that crosses execve(): echoes the greeting, then asks three questions and
wants stdio_echo's answers; then close_notify both ways.  Prints "ready",
"answers ok", "unwrap ok" (or an error, exit 1).
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
from strict_tls import strict_server_ctx, listener
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = strict_server_ctx(cert, key)
ls = listener(port, 1, 20 * S)
print("ready", flush=True)
c, _ = ls.accept()
c.settimeout(20 * S)
s = ctx.wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
buf = b""
def line():
    global buf
    while b"\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise EOFError("end of data after %r" % buf[:80])
        buf += d
    l, buf = buf.split(b"\n", 1)
    return l + b"\n"
try:
    g = line()
    s.sendall(g)                       # echo the greeting
    # Ask only once the program has exec'd its service (the test creates
    # GOFILE then): a question sent earlier could be read by the program
    # before its exec, which would then lose it, as over plain TCP.
    import os, time
    end = time.time() + 20 * S
    while not os.path.exists(sys.argv[4]) and time.time() < end:
        time.sleep(0.02)
    for i in range(1, 4):
        q = b"question %d\n" % i
        s.sendall(q)
        a = line()
        if a != b"stdio_echo: " + q:
            print("wrong answer %r" % a[:100], flush=True)
            sys.exit(1)
    print("answers ok", flush=True)
    s.unwrap()                         # close_notify; the program's comes back
    print("unwrap ok", flush=True)
except (OSError, ssl.SSLError, EOFError) as e:
    print("error %s: %s" % (type(e).__name__, e), flush=True)
    sys.exit(1)
