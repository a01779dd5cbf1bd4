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
           connect(AF_UNSPEC) (which disconnects it), then connect();
  race:    the same fork, then connect() at once, with
           TLSSHIM_TEST_UNSPEC_RACE set: preload_unspecrace.so
           disconnects the socket between the library's look at its TCP
           state (connected) and the library's connect();
  pending: the refused fork, and connect() at once while the end still
           connects, non-blocking ("again EALREADY"), then blocking: it
           waits for the handshake's end, the refusal ("wait
           ECONNREFUSED"); then the three refused connects;
  connected: the unspec fork, then connect() ("again EISCONN"), and a
           line through the session ("echo after").
Prints "child: ..." lines: "connect N ERROR" for each refusal,
"reconnected" and "sent" when a connect worked."""
import ctypes
import errno
import os
import select
import socket
import sys
import time

port, how = int(sys.argv[1]), sys.argv[2]
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
libc = ctypes.CDLL(None, use_errno=True)
name = errno.errorcode.get
s = socket.socket()
s.setblocking(False)
s.connect_ex(("127.0.0.1", port))
if how in ("unspec", "race", "connected"):
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
    elif how in ("pending", "connected"):
        sin = (bytes([socket.AF_INET, 0]) + port.to_bytes(2, "big") +
               bytes([127, 0, 0, 1]) + bytes(8))
        s.setblocking(False)
        r = libc.connect(s.fileno(), sin, 16)
        print("child: again %s" % (name(ctypes.get_errno()) if r else "0"), flush=True)
        if how == "connected":
            s.setblocking(True)
            s.settimeout(5 * S)
            s.sendall(b"after\n")
            print("child: echo %s" % s.recv(100).decode().strip(), flush=True)
            os._exit(0)
        s.setblocking(True)
        r = libc.connect(s.fileno(), sin, 16)
        print("child: wait %s" % (name(ctypes.get_errno()) if r else "0"), flush=True)
    elif how == "race":
        os.environ["TLSSHIM_TEST_UNSPEC_RACE"] = "1"
        print("child: race", flush=True)
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
