"""proxyv2_client.py PORT CA CERT KEY ALPN SNI [ADDR [COUNT VERSION]] — a
verifying TLS client with a client certificate, ALPN (comma-separated
list) and SNI, from a source port of its own (tests/preload/proxyv2.sh).
Per connection (COUNT of them, default 1; each after the first resumes
the session of the one before) prints local_port=, version=, cipher=,
alpn=, reused=; waits for the backend's "ready", sends "hello", prints
the echo.  VERSION: "1.3" (default) or "1.2".
"""
import os, socket, ssl, sys
from strict_tls import strict_client_ctx
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
port, ca, cert, key, alpn, sni = sys.argv[1:7]
addr = sys.argv[7] if len(sys.argv) > 7 else "127.0.0.1"
count = int(sys.argv[8]) if len(sys.argv) > 8 else 1
ver = sys.argv[9] if len(sys.argv) > 9 else "1.3"
ctx = strict_client_ctx(ca)
ctx.check_hostname = False
v = ssl.TLSVersion.TLSv1_2 if ver == "1.2" else ssl.TLSVersion.TLSv1_3
ctx.minimum_version = ctx.maximum_version = v
ctx.load_cert_chain(cert, key)
ctx.set_alpn_protocols(alpn.split(","))
sess = None
try:
    for i in range(count):
        raw = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(15 * S)
        raw.bind((addr, 0))
        lp = raw.getsockname()[1]
        raw.connect((addr, int(port)))
        s = ctx.wrap_socket(raw, server_hostname=sni, session=sess, suppress_ragged_eofs=False)
        print("local_port=%d" % lp)
        print("version=%s" % s.version())
        print("cipher=%s" % s.cipher()[0])
        print("alpn=%s" % s.selected_alpn_protocol())
        print("reused=%s" % s.session_reused, flush=True)
        f = s.makefile("rb")
        print("server %r" % f.readline().decode(), flush=True)
        s.sendall(b"hello\n")
        print("server %r" % f.readline().decode(), flush=True)
        sess = s.session
        while s.recv(4096):       # to the backend's close_notify
            pass
        s.unwrap()
        raw.close()
except Exception as e:
    print("error %s: %s" % (type(e).__name__, e))
