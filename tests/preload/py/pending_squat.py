"""pending_squat.py OUT SECONDS: another user's process that squats the
port a pending channel's program end is connecting to (shim/pump.c,
pending_channel): that end sends its SYN to the pump's listener again
and again (1 s, 3, 7, 15 ... s apart) while the pump's handshake runs,
and the pump's listener and end-to-be hold that port only while the pump
lives.  Waits for "receiver: socket inode N" in the file OUT
(tests/progs/scm_connect.c), finds that socket in /proc/net/tcp
(SYN_SENT, its peer the port), then until it is no longer SYN_SENT (and
SECONDS at most) tries to bind and listen on that address every 20 ms.
A connection it accepts is the program's end connected to someone who is
not the peer TLS verified: it writes "forged" into it and prints
"squatter: accepted, read N bytes" with what the program sent in clear;
otherwise "squatter: took nothing (bound: yes|no)"."""
import os
import select
import socket
import sys
import time

out, secs = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + secs


def inode_of():
    while time.monotonic() < end:
        try:
            for line in open(out):
                if line.startswith("receiver: socket inode "):
                    return line.split()[-1]
        except OSError:
            pass
        time.sleep(0.02)
    return None


def state(ino):
    """(state, peer port) of the socket with inode ino; None when gone."""
    for line in open("/proc/net/tcp").readlines()[1:]:
        f = line.split()
        if f[9] == ino:
            return f[3], int(f[2].split(":")[1], 16)
    return None


ino = inode_of()
if ino is None:
    print("squatter: no receiver")
    sys.exit(0)
st = state(ino)
if st is None or st[0] != "02":
    print("squatter: the end is not connecting (%s)" % (st,))
    sys.exit(0)
port = st[1]
ls = None
while time.monotonic() < end:
    st = state(ino)
    if ls is None:
        s = socket.socket()
        try:
            s.bind(("127.254.0.1", port))
            s.listen(1)
            ls = s
        except OSError:
            s.close()
    if ls is not None and select.select([ls], [], [], 0.02)[0]:
        c, _ = ls.accept()
        c.settimeout(3)
        try:
            c.sendall(b"forged\n")
            got = c.recv(100)
        except OSError:
            got = b""
        print("squatter: accepted, read %d bytes %r" % (len(got), got))
        sys.exit(0)
    if st is None or st[0] != "02":
        break
    if ls is None:
        time.sleep(0.02)
print("squatter: took nothing (bound: %s)" % ("yes" if ls else "no"))
