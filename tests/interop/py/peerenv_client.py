"""peerenv_client.py PORT CA CERT|- KEY|- TLSVER — a verifying TLS client
(tests/interop/peerenv.sh): from a source port of its own, with the client
certificate CERT (or none: -), TLS "1.2" or "1.3".  Prints what it
negotiated (local_port=, version=, cipher=), then "---", then all the
service sent until its close_notify.
"""
import os, socket, ssl, sys
from strict_tls import strict_client_ctx
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
port, ca, cert, key, ver = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
v = ssl.TLSVersion.TLSv1_2 if ver == "1.2" else ssl.TLSVersion.TLSv1_3
ctx = strict_client_ctx(ca, None if cert == "-" else cert, key, minv=v, maxv=v)
try:
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(15 * S)
    raw.bind(("127.0.0.1", 0))
    lp = raw.getsockname()[1]
    raw.connect(("127.0.0.1", port))
    s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    print("local_port=%d" % lp)
    print("version=%s" % s.version())
    print("cipher=%s" % s.cipher()[0])
    print("---", flush=True)
    buf = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    sys.stdout.write(buf.decode(errors="replace"))
except Exception as e:
    print("error %s: %s" % (type(e).__name__, e))
