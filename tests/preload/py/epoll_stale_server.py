"""epoll_stale_server.py PORT — a closed fd leaves every epoll instance
(tests/preload/asyncio.sh): conn 1 registered in instance A, closed
without EPOLL_CTL_DEL; conn 2 gets the same fd number and is registered in
B only; A must then report nothing.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import select, socket, sys
port = int(sys.argv[1])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(4); ls.settimeout(15 * S)
print("listening", flush=True)
A, B = select.epoll(), select.epoll()

def first_byte(ep, c):
    for _ in range(40):
        if ep.poll(0.5):
            try:
                return c.recv(1)
            except BlockingIOError:
                pass
    return b""

c1, _ = ls.accept(); c1.setblocking(False)
A.register(c1.fileno(), select.EPOLLIN)
print("c1 %r" % first_byte(A, c1), flush=True)
n1 = c1.fileno()
c1.close()                                  # no A.unregister()
c2, _ = ls.accept(); c2.setblocking(False)
print("same fd number %s" % (c2.fileno() == n1), flush=True)
B.register(c2.fileno(), select.EPOLLIN)
print("c2 %r" % first_byte(B, c2), flush=True)
print("A %r" % A.poll(0.5), flush=True)
print("B %r" % [e for _, e in B.poll(0.5)], flush=True)
c2.close()
