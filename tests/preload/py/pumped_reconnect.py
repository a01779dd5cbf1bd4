"""pumped_reconnect.py PORT MODE — under the library (tests/preload/
pumped_reconnect.sh): a TLS connection (a connect rule names PORT) handed
to a pump by a fork, then connect() again on its number in the child,
which then writes "secret plaintext" if a connect worked.
  refused: the fork while the handshake runs (the server never answers;
           the policy's handshake_timeout_ms ends it): the child waits
           for its end's refusal (SO_ERROR), then connects again, three
           times (the kernel answers the first with ECONNABORTED and
           connects the second);
  shutdown: the same fork, then shutdown() of its end while it still
           connects (which aborts the connect), then connect();
  unspec:  the fork after one line echoed (the handshake done), then
           connect(AF_UNSPEC) (which disconnects it), then connect().
Prints "child: ..." lines: "connect N ERROR" for each refusal,
"reconnected" and "sent" when a connect worked."""
import ctypes
import os
import select
import socket
import sys
import time

port, how = int(sys.argv[1]), sys.argv[2]
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
libc = ctypes.CDLL(None, use_errno=True)
s = socket.socket()
s.setblocking(False)
s.connect_ex(("127.0.0.1", port))
if how == "unspec":
    select.select([], [s], [], 10 * S)
    s.setblocking(True)
    s.settimeout(10 * S)
    s.sendall(b"hello\n")
    s.recv(100)
else:
    select.select([], [s], [], 0.3)    # (the handshake starts)
pid = os.fork()
if pid == 0:
    if how == "refused":
        select.select([], [s], [], 20 * S)
        print("child: so_error %d" % s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), flush=True)
    elif how == "shutdown":
        s.shutdown(socket.SHUT_RDWR)
        print("child: shutdown", flush=True)
    else:
        sa = (ctypes.c_ubyte * 16)()    # sa_family 0: AF_UNSPEC
        r = libc.connect(s.fileno(), sa, 16)
        print("child: connect(AF_UNSPEC) %d" % r, flush=True)
    s.setblocking(True)
    s.settimeout(5 * S)
    for i in range(3):
        try:
            s.connect(("127.0.0.1", port))
        except OSError as e:
            print("child: connect %d %s" % (i, e), flush=True)
            continue
        print("child: reconnected", flush=True)
        s.sendall(b"secret plaintext\n")
        print("child: sent", flush=True)
        time.sleep(0.5)
        break
    os._exit(0)
_, st = os.waitpid(pid, 0)
sys.exit(os.WEXITSTATUS(st))
