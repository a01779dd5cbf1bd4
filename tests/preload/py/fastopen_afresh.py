"""fastopen_afresh.py TLS PLAIN — under the library (tests/preload/
fastopen_afresh.sh): a non-blocking connect() to TLS (a tls rule names
it; nothing listens there) refused before its handshake started (TCP
state CLOSE), then on the same socket:
  * sendto(MSG_FASTOPEN) of "fastopen line" to PLAIN (a plain rule),
    twice at most: "fastopen I sent N", or "fastopen I ERROR" (the
    kernel answers the first call on a refused socket with its pending
    error, ECONNREFUSED, and connects the next);
  * the same to TLS again: "tls ERROR" (Fast Open to a tls rule's port:
    EOPNOTSUPP, as on a fresh socket);
and on a third socket refused the same way, connect() to PLAIN and
"connect line" written, twice at most: "connect I ok" or "connect I
ERROR" (again(): the socket is matched afresh)."""
import errno
import os
import socket
import struct
import sys
import time

tls, plain = int(sys.argv[1]), int(sys.argv[2])
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))


def refused():
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", tls))
    end = time.monotonic() + 10 * S
    # (TCP_INFO: no call of the library's that would start the handshake)
    while struct.unpack("B", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0] != 7:
        if time.monotonic() > end:
            print("not refused", flush=True)
            sys.exit(1)
        time.sleep(0.01)
    s.setblocking(True)
    return s


s = refused()
for i in range(2):
    try:
        print("fastopen %d sent %d" % (i, s.sendto(b"fastopen line\n", socket.MSG_FASTOPEN,
                                                   ("127.0.0.1", plain))), flush=True)
        break
    except OSError as e:
        print("fastopen %d %s" % (i, errno.errorcode.get(e.errno, e.errno)), flush=True)
t = refused()
try:
    t.sendto(b"tls line\n", socket.MSG_FASTOPEN, ("127.0.0.1", tls))
    print("tls sent", flush=True)
except OSError as e:
    print("tls %s" % ("EOPNOTSUPP" if e.errno == errno.EOPNOTSUPP else
                      errno.errorcode.get(e.errno, e.errno)), flush=True)
u = refused()
for i in range(2):
    try:
        u.connect(("127.0.0.1", plain))
        u.sendall(b"connect line\n")
        print("connect %d ok" % i, flush=True)
        break
    except OSError as e:
        print("connect %d %s" % (i, errno.errorcode.get(e.errno, e.errno)), flush=True)
