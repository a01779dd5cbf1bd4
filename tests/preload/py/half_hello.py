"""half_hello.py PORT HOLD — send half a ClientHello and then nothing
(tests/preload/asyncio.sh); print "closed" when the server closes the
connection, "held" when it is still open after HOLD seconds.
"""
import socket, ssl, sys, time
from strict_tls import strict_client_ctx
port, hold = int(sys.argv[1]), float(sys.argv[2])
ctx = strict_client_ctx()
inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, outg, server_hostname="localhost")
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = outg.read()
s = socket.create_connection(("127.0.0.1", port), timeout=hold)
s.sendall(hello[:len(hello) // 2])
print("sent %d of %d bytes of a ClientHello" % (len(hello) // 2, len(hello)), flush=True)
try:
    while s.recv(65536):
        pass
    print("closed")
except socket.timeout:
    print("held")
except OSError:
    print("closed")
