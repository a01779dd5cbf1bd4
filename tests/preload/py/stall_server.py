"""stall_server.py PORT CERT KEY DONE-FILE — a TLS server that completes the
handshake and then never reads (tests/preload/flags.sh), until DONE-FILE
exists (at most 30 s).  Prints "listening".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import os, socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1); print("listening", flush=True)
ls.settimeout(15 * S); c, _ = ls.accept(); s = ctx.wrap_socket(c, server_side=True)
end = time.time() + 30 * S                      # never reads, until told
while not os.path.exists(sys.argv[4]) and time.time() < end:
    time.sleep(0.05)
