"""pump_unread_peer.py PORT CERT KEY GOFILE SENTFILE RECORD [CLOSING] — a
strict TLS server (tests/preload/pump_unread.sh): read the program's
request line, send "late one" (which the program leaves unread), wait for
GOFILE, send "late two", create SENTFILE, wait for CLOSING if given (the
program then has written its reply, with nothing read of it), then record
in RECORD every byte that comes after the request until the end of the
stream.  Prints "ready", then
"eof clean" (close_notify), "eof ragged" (a TCP end without it) or
"error ...".
"""
import os
import ssl
import sys
import time

from strict_tls import listener, strict_server_ctx, truncated

S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
port, cert, key, go, sent, record = int(sys.argv[1]), *sys.argv[2:7]
closing = sys.argv[7] if len(sys.argv) > 7 else None
ls = listener(port, 1, 20 * S)
print("ready", flush=True)
c, _ = ls.accept()
c.settimeout(20 * S)
s = strict_server_ctx(cert, key).wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
buf = b""
try:
    while b"\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise EOFError("end of data after %r" % buf[:80])
        buf += d
    buf = buf.split(b"\n", 1)[1]
    s.sendall(b"late one\n")
    end = time.time() + 20 * S
    while not os.path.exists(go) and time.time() < end:
        time.sleep(0.02)
    s.sendall(b"late two\n")
    open(sent, "w").close()
    while closing and not os.path.exists(closing) and time.time() < end:
        time.sleep(0.02)
    while True:
        try:
            d = s.recv(65536)
        except ssl.SSLError as e:
            if not truncated(e):
                raise
            print("eof ragged", flush=True)
            break
        if not d:
            print("eof clean", flush=True)
            break
        buf += d
except (OSError, ssl.SSLError, EOFError) as e:
    print("error %s: %s" % (type(e).__name__, e), flush=True)
with open(record, "wb") as f:
    f.write(buf)
s.close()
