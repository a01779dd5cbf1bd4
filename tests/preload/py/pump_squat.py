"""pump_squat.py LO HI READY DONE: another user's process that squats the
names on which pumps hear of their program's ends ("tlsshim-pump/<pump
port>/<program port>", abstract), for every pair of ports in LO..HI (the
test narrows the ephemeral range to it), as datagram and as seqpacket
sockets, before the program starts.  Writes READY, then, until the file
DONE exists (60 s at most), takes whatever it is sent: an attached socket
is the program's plaintext end of a channel, and it writes "injected"
into it (the pump would encrypt that to the program's peer).  Prints
"stolen N" for every socket it got."""
import array
import os
import select
import socket
import sys
import time

lo, hi, ready, done = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
socks = []
for p in range(lo, hi + 1):
    for q in range(lo, hi + 1):
        if p == q:
            continue
        name = b"\0tlsshim-pump/%d/%d" % (p, q)
        d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        d.bind(name)
        socks.append(d)
        sq = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sq.bind(name)
        sq.listen(64)
        socks.append(sq)
open(ready, "w").write("ready\n")


def take(s):
    fds = array.array("i")
    _, anc, _, _ = s.recvmsg(64, socket.CMSG_SPACE(16 * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    for fd in fds:
        try:
            os.write(fd, b"injected\n")
        except OSError as e:
            print("write failed: %s" % e, flush=True)
        print("stolen %d" % fd, flush=True)
        os.close(fd)


end = time.time() + 60
while time.time() < end and not os.path.exists(done):
    r, _, _ = select.select(socks, [], [], 0.1)
    for s in r:
        if s.type == socket.SOCK_SEQPACKET:
            c, _ = s.accept()
            c.settimeout(1)
            try:
                take(c)
            except OSError:
                pass
            c.close()
        else:
            take(s)
