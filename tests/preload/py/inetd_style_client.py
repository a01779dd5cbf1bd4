"""inetd_style_client.py PORT CA — a verified TLS client for a program
exec'd on an inherited socket (tests/preload/exec.sh): sends a line, reads
the echo, and says whether the end was a close_notify.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
from strict_tls import strict_client_ctx, connect
ctx = strict_client_ctx(sys.argv[2])
s = connect(ctx, int(sys.argv[1]), 10 * S)
s.sendall(b"inetd style hello\n")
got = s.recv(100)
try:
    s.unwrap()
    end = "close_notify"
except (ssl.SSLError, OSError) as e:
    end = "no close_notify: %s" % e
print(got.decode().strip(), "/", end)
