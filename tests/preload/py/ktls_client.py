"""ktls_client.py PORT CA FILE N — a verified Python ssl client for
ktls_sendfile_server.py: N connections, one after the other; each reads to
the peer's close_notify and must get exactly FILE.  Prints "ok N" or the
first mismatch.
"""
import hashlib, os, socket, ssl, sys
from strict_tls import strict_client_ctx, connect

S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
ctx = strict_client_ctx(sys.argv[2])
want = hashlib.sha256(open(sys.argv[3], "rb").read()).hexdigest()
n = int(sys.argv[4])
for i in range(n):
    s = connect(ctx, int(sys.argv[1]), 30 * S)
    h, got = hashlib.sha256(), 0
    while True:
        d = s.recv(65536)
        if not d:
            break
        h.update(d)
        got += len(d)
    if h.hexdigest() != want:
        print("mismatch on connection %d: %d bytes, sha256 %s" % (i, got, h.hexdigest()))
        sys.exit(1)
    s.unwrap()
    s.close()
print("ok", n)
