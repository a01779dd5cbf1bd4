"""peek_bound_client.py PORT — under the shim (tests/preload/flags.sh),
against rawtls.py's server mode "flood" (8 MiB, sent as fast as the socket
takes it), with SO_RCVBUF 64 KiB set before connect (no autotuning): peeks
that only count (MSG_PEEK|MSG_TRUNC, a NULL buffer, a count of 1 GiB), as
a program asks "how much is there?" while it waits for a whole message.
TCP's peek sees at most its receive queue; the library decrypted and kept
all the peer sent (8 MiB here, and no bound).  Then a blocking
MSG_PEEK|MSG_TRUNC|MSG_WAITALL of 1 GiB (SO_RCVTIMEO 2 s), then a read:
the stream must start intact.  Prints "rcvbuf R peek N waitall W head ok|bad".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))
import ctypes, select, socket, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"go\n")
rcv = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
F = socket.MSG_PEEK | socket.MSG_TRUNC
big = ctypes.c_size_t(1 << 30)
n, same, end = 0, 0, time.time() + 10 * S
while time.time() < end and same < 25 and n <= 4 * rcv:   # grown, or settled
    select.select([s], [], [], 0.1)
    m = libc.recv(s.fileno(), None, big, F | socket.MSG_DONTWAIT)
    same = same + 1 if m == n else 0
    n = max(n, m)
    time.sleep(0.01)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 2, 0))
w = libc.recv(s.fileno(), None, big, F | socket.MSG_WAITALL)
head = s.recv(512, socket.MSG_WAITALL)
print("rcvbuf %d peek %d waitall %d head %s" % (rcv, n, w,
      "ok" if head == bytes(range(256)) * 2 else "bad"), flush=True)
s.close()
