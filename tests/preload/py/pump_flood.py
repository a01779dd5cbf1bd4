"""pump_flood.py DIR MODE: a local process (any user) that floods the
names on which a pump hears of its program's ends ("tlsshim-pump/<pump
port>/<program port>", abstract).  Waits (20 s at most) for DIR/go, which
the program writes once its session is with a pump (stopped, for MODE
"full"), then, for every such name in /proc/net/unix:
  full  fills a datagram socket's queue there, if one is bound (junk
        until it says EAGAIN: the pump's markers then find no room), and
        makes 64 connections to the listener there, half of them saying
        junk (one with a socket of its own attached), half nothing;
  idle  makes 200 connections to the listener that say nothing.
Writes DIR/full ("full dgram=N conns=M"), then keeps everything open
until DIR/done exists (60 s at most)."""
import os
import socket
import sys
import time

d, mode = sys.argv[1], sys.argv[2]
end = time.time() + 20
while not os.path.exists(os.path.join(d, "go")) and time.time() < end:
    time.sleep(0.01)
names = []
for ln in open("/proc/net/unix").read().splitlines()[1:]:
    f = ln.split()
    if len(f) >= 8 and f[7].startswith("@tlsshim-pump/") and f[7] not in names:
        names.append(f[7])
mine = socket.socket()      # (attached to one junk message)
keep, dgram, conns = [], 0, 0
for n in names:
    addr = b"\0" + n[1:].encode()
    if mode == "full":
        try:
            g = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            g.connect(addr)
            g.setblocking(False)
            while dgram < 100000:
                g.send(b"junkjunk")
                dgram += 1
        except OSError:
            pass
    for i in range(64 if mode == "full" else 200):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        c.settimeout(1)
        try:
            c.connect(addr)
            if mode == "full" and i % 2:
                c.sendmsg([b"junkjunk"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                           mine.fileno().to_bytes(4, sys.byteorder))]
                          if i == 1 else [])
        except OSError:
            break
        keep.append(c)
        conns += 1
with open(os.path.join(d, "full.tmp"), "w") as o:
    o.write("full dgram=%d conns=%d names=%d\n" % (dgram, conns, len(names)))
os.rename(os.path.join(d, "full.tmp"), os.path.join(d, "full"))
end = time.time() + 60
while not os.path.exists(os.path.join(d, "done")) and time.time() < end:
    time.sleep(0.05)
