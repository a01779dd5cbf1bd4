"""et_server.py PORT — a plain epoll server, EPOLLIN|EPOLLET
(tests/preload/asyncio.sh): reads 1 byte of a 1000-byte record, then does
not read for 1 s while calling epoll_wait (counting the wake-ups and its
CPU time: the scenario), then reads to EAGAIN.  Prints "listening",
"first B", "wakeups N", "cpu S", "rest N".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import os, select, socket, sys, time
port = int(sys.argv[1])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(1); ls.settimeout(15 * S)
print("listening", flush=True)
c, _ = ls.accept()
c.setblocking(False)
ep = select.epoll()
ep.register(c.fileno(), select.EPOLLIN | select.EPOLLET)
first, end = b"", time.time() + 10 * S
while not first and time.time() < end:
    if ep.poll(1):
        try:
            first = c.recv(1)
        except BlockingIOError:
            pass
print("first %r" % first, flush=True)
t0, wakeups, end = os.times(), 0, time.time() + 1
while time.time() < end:
    if ep.poll(max(0.0, end - time.time())):
        wakeups += 1
t1 = os.times()
print("wakeups %d" % wakeups)
print("cpu %.2f" % (t1.user + t1.system - t0.user - t0.system))
rest = b""
while True:
    try:
        d = c.recv(65536)
    except BlockingIOError:
        break
    if not d:
        break
    rest += d
print("rest %d" % len(rest), flush=True)
c.sendall(b"done\n")
c.close()
