"""inetd_style_client.py PORT CA — a verified TLS client for a program
exec'd on an inherited socket (tests/preload/exec.sh): sends a line, reads
the echo, and says whether the end was a close_notify.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)  # strict EOF: a bare FIN is a truncation
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10 * S),
                    server_hostname="localhost", suppress_ragged_eofs=False)
s.sendall(b"inetd style hello\n")
got = s.recv(100)
try:
    s.unwrap()
    end = "close_notify"
except (ssl.SSLError, OSError) as e:
    end = "no close_notify: %s" % e
print(got.decode().strip(), "/", end)
