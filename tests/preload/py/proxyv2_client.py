"""proxyv2_client.py PORT CA CERT KEY ALPN SNI [ADDR] — a verifying TLS 1.3 client
with a client certificate, ALPN (comma-separated list) and SNI, from a
source port of its own (tests/preload/proxyv2.sh).  Prints local_port=,
version=, cipher=, alpn=; waits for the backend's "ready", sends "hello",
prints the echo.
"""
import os, socket, ssl, sys
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
port, ca, cert, key, alpn, sni = sys.argv[1:7]
addr = sys.argv[7] if len(sys.argv) > 7 else "127.0.0.1"
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(cert, key)
ctx.set_alpn_protocols(alpn.split(","))
try:
    raw = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(15 * S)
    raw.bind((addr, 0))
    lp = raw.getsockname()[1]
    raw.connect((addr, int(port)))
    s = ctx.wrap_socket(raw, server_hostname=sni)
    print("local_port=%d" % lp)
    print("version=%s" % s.version())
    print("cipher=%s" % s.cipher()[0])
    print("alpn=%s" % s.selected_alpn_protocol(), flush=True)
    f = s.makefile("rb")
    print("server %r" % f.readline().decode(), flush=True)
    s.sendall(b"hello\n")
    print("server %r" % f.readline().decode(), flush=True)
except Exception as e:
    print("error %s: %s" % (type(e).__name__, e))
