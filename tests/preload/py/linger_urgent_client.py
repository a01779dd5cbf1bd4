"""linger_urgent_client.py PORT CA BYTES GO1 GO2 [nojunk] — against send_close (which
writes BYTES and closes): a TLS client with a small receive buffer that
sends one byte, prints "started" and waits for the file GO1 (the server
has closed, its socket lingers, most of the data still queued at its end).
Then, on the raw TCP socket, it sends urgent data ("abcX", X the urgent
byte, MSG_OOB), then "def", and its FIN (shutdown SHUT_WR): its last bytes
before the FIN hold an urgent mark, at which a read stops short.  Prints
"sent", waits for GO2 (the server's linger thread let the socket go), then
reads everything: "got N" and "clean end" at the server's close_notify, or
"got N" and the error (a RST destroys what was still in flight).  Each wait
is bounded (120 s).  With "nojunk": no urgent data; after GO1 it reads
everything and closes (its FIN), without waiting for GO2."""
import os
import socket
import ssl
from strict_tls import strict_client_ctx
import sys
import time


def wait_file(path):
    end = time.monotonic() + 120
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.01)


port, ca, nbytes, go1, go2 = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
nojunk = len(sys.argv) > 6 and sys.argv[6] == "nojunk"
ctx = strict_client_ctx(ca)
raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
raw.settimeout(60)
raw.connect(("127.0.0.1", port))
s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
s.sendall(b"g")
print("started", flush=True)
wait_file(go1)
if not nojunk:
    junk = socket.socket(fileno=os.dup(s.fileno()))
    junk.send(b"abcX", socket.MSG_OOB)
    junk.send(b"def")
    junk.shutdown(socket.SHUT_WR)
    junk.close()
    print("sent", flush=True)
    wait_file(go2)
got = 0
try:
    while True:
        b = s.recv(65536)
        if not b:
            print("got %d" % got)
            print("clean end")
            break
        got += len(b)
except (OSError, ssl.SSLError) as e:
    print("got %d" % got)
    print("error: %s" % e)
    sys.exit(1)
sys.exit(0 if got == nbytes else 1)
