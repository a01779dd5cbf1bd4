"""fionread_server.py PORT HALF-FILE — a plain epoll server checking
ioctl(FIONREAD) on a TLS fd (tests/preload/asyncio.sh).  Prints
"fionread A B C (read N)" for one 1000-byte record (before, after a 1-byte
read, after reading the rest), then asks the client to send half a record,
waits until the client says it did (HALF-FILE exists), and prints "half N".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import array, fcntl, os, select, socket, sys, termios, time
port, half_file = int(sys.argv[1]), sys.argv[2]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(1); ls.settimeout(15 * S)
print("listening", flush=True)
c, _ = ls.accept()
c.setblocking(False)
ep = select.epoll()
ep.register(c.fileno(), select.EPOLLIN)

def fionread():
    b = array.array("i", [-1])
    fcntl.ioctl(c.fileno(), termios.FIONREAD, b, True)
    return b[0]

for _ in range(40):
    if ep.poll(0.5):
        break
a = fionread()
c.recv(1)
b = fionread()
rest = c.recv(65536)
print("fionread %d %d %d (read %d)" % (a, b, fionread(), 1 + len(rest)), flush=True)
c.setblocking(True)
c.settimeout(10 * S)
c.sendall(b"send half\n")               # the client now sends half a record
end = time.time() + 15 * S                  # until the client says it has sent it
while not os.path.exists(half_file) and time.time() < end:
    time.sleep(0.05)
print("half sent %s" % os.path.exists(half_file), flush=True)
ep.poll(1.0)                            # the scenario: half a record, no event expected
print("half %d" % fionread(), flush=True)
c.sendall(b"done\n")
c.close()
