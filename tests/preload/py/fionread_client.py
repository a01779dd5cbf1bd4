"""fionread_client.py PORT CA HALF-FILE — the client of fionread_server.py:
a MemoryBIO TLS client over a raw socket; sends one 1000-byte record, then
half of a record when asked, and creates HALF-FILE once that half is sent.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
from strict_tls import strict_client_ctx
port, ca, half_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = strict_client_ctx(ca)
inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, outg, server_hostname="localhost")
s = socket.create_connection(("127.0.0.1", port), timeout=20 * S)
def push():
    d = outg.read()
    if d:
        s.sendall(d)
def until(text):
    got = b""
    while text not in got:
        try:
            got += tls.read(65536)
            continue
        except ssl.SSLWantReadError:
            pass
        push()
        d = s.recv(65536)
        if not d:
            raise EOFError(got)
        inc.write(d)
    return got
while True:
    try:
        tls.do_handshake(); break
    except ssl.SSLWantReadError:
        push(); inc.write(s.recv(65536))
push()
tls.write(b"x" * 1000); push()
until(b"send half\n")
tls.write(b"y" * 100)
rec = outg.read()
s.sendall(rec[:len(rec) // 2])
open(half_file, "w").close()            # tell the server: half a record is out
until(b"done\n")
print("client done")
