"""tests/preload/py/lowat_peer.py — SO_RCVLOWAT on a TLS descriptor.

  lowat_peer.py server PORT CERT KEY     a TLS server (TLS 1.3 over memory
      BIOs) that sends one 2,000-byte record in two pieces: its first
      1,500 bytes, then (after 0.3 s, a scenario time) the last 522
  lowat_peer.py client PORT              the program (under the library):
      SO_RCVLOWAT 1024 and SO_RCVTIMEO 3 s (scaled) before connect(),
      blocking recv() until 2,000 bytes; prints "client: got N"
  lowat_peer.py client-exec PORT         the same socket and options made
      by a launcher without the library, which execs the client on it
      (LD_PRELOAD=$LOWAT_PRELOAD): a mark the library did not see set

On TCP the 2,000 bytes are at or above the low-water mark: recv()
returns them.  The kernel counted ciphertext for the library's wait: the
record's last 522 bytes never reached 1,024, and the read waited for ever
(SO_RCVTIMEO: "client: EAGAIN after 1500 ...").
"""
import os
import socket
import ssl
from strict_tls import strict_server_ctx, listener
import struct
import sys
import time

ts = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
port = int(sys.argv[2])
if sys.argv[1] == "server":
    ls = listener(port, 4)
    print("ready", flush=True)
    s, _ = ls.accept()
    s.settimeout(20 * ts)
    ctx = strict_server_ctx(sys.argv[3], sys.argv[4], tickets=0)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ctx.wrap_bio(inc, out, server_side=True)
    while True:
        try:
            o.do_handshake()
            break
        except ssl.SSLWantReadError:
            d = out.read()
            if d:
                s.sendall(d)
            d = s.recv(65536)
            if not d:
                sys.exit("EOF in the handshake")
            inc.write(d)
    d = out.read()
    if d:
        s.sendall(d)
    o.write(b"y" * 2000)
    rec = out.read()
    s.sendall(rec[:1500])
    time.sleep(0.3)
    s.sendall(rec[1500:])
    print("sent", len(rec), flush=True)
    try:
        s.recv(10)
    except OSError:
        pass
elif sys.argv[1] == "client-exec":
    # A launcher without the library sets the mark, then execs the
    # program (under the library, LOWAT_PRELOAD) with the socket.
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1024)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(3 * ts), 0))
    s.set_inheritable(True)
    env = dict(os.environ, LD_PRELOAD=os.environ["LOWAT_PRELOAD"])
    os.execve(sys.executable, [sys.executable, sys.argv[0], "client-fd", sys.argv[2],
                               str(s.fileno())], env)
else:
    if sys.argv[1] == "client-fd":
        s = socket.socket(fileno=int(sys.argv[3]))
    else:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1024)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(3 * ts), 0))
    s.connect(("127.0.0.1", port))
    got = 0
    try:
        while got < 2000:
            d = s.recv(4096)
            if not d:
                break
            got += len(d)
        print("client: got", got, flush=True)
    except BlockingIOError:
        print("client: EAGAIN after", got, "bytes (SO_RCVTIMEO)", flush=True)
    s.close()
