"""fork_unstarted_peer.py PORT CA — one verified TLS client for
tests/preload/fork_unstarted.sh (a server whose accepted connection is used
by two processes after fork): handshake, send "peer\\n", then read until the
end (at most 10 s, scaled) and report.  Prints one line per line decrypted
("got LINE") and how it ended: "handshake-error R", "eof clean",
"eof ragged", "error R" or "timeout".  Never fails itself.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys, time
from strict_tls import strict_client_ctx, connect, truncated
port, ca = int(sys.argv[1]), sys.argv[2]
try:
    s = connect(strict_client_ctx(ca), port, 10 * S)
except (OSError, ssl.SSLError) as e:
    print("handshake-error %s" % (getattr(e, "reason", None) or e))
    sys.exit(0)
buf, end = b"", None
deadline = time.monotonic() + 10 * S
try:
    s.sendall(b"peer\n")
    while end is None:
        left = deadline - time.monotonic()
        if left <= 0:
            end = "timeout"
            break
        s.settimeout(left)
        d = s.recv(4096)
        if not d:
            end = "eof clean"
        buf += d
except socket.timeout:
    end = "timeout"
except (OSError, ssl.SSLError) as e:
    end = "eof ragged" if truncated(e) else "error %s" % (getattr(e, "reason", None) or e)
for l in buf.split(b"\n"):
    if l:
        print("got %s" % l.decode("ascii", "replace"))
print(end)
s.close()
