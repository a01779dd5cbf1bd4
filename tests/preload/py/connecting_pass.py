"""A connection still being made changes hands (tests/preload/escape.sh).

    connecting_pass.py scm|pidfd|scm-mptcp|scm-foreign PORT GATE SENTINEL DIR

The parent starts a non-blocking connect() to 127.0.0.1:PORT (a gated
relay keeps it in SYN_SENT), then hands the socket to a child process (the
same interpreter, same environment: it runs the shim too) with SCM_RIGHTS
over a unix socket (scm), or lets the child take it with pidfd_getfd()
(pidfd).  The child checks the socket is still connecting, opens the gate
(creates GATE), waits until the connection is made, writes
"SENTINEL connecting-HOW" and reads its echo.  Prints the child's lines:
"state syn-sent|other N", then "echo ok" or "echo failed: ...".
"""
import array, ctypes, errno, os, select, socket, subprocess, sys, time

how, port, gate, sent, d = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
# scm-mptcp: the same with an MPTCP socket (protocol 262; the relay is TCP,
# so it falls back once connected): /proc lists its first subflow under
# the socket's inode, and the destination is learned there too.
proto = 262 if how.endswith("-mptcp") else 0
# scm-foreign: the parent runs without the library; the child runs it with
# preload_lookupfail.so (FOREIGN_PRELOAD) making the socket say SCTP, whose
# TCP_INFO fails: it cannot be told to be connecting, so it is refused.
foreign = how.endswith("-foreign")
how = how.replace("-mptcp", "").replace("-foreign", "")
path = os.path.join(d, "pass.%s.sock" % how)


def child(parent_fd):
    u = socket.socket(socket.AF_UNIX)
    u.connect(path)
    if how == "scm":
        _, anc, _, _ = u.recvmsg(1, socket.CMSG_SPACE(4))
        fd = array.array("i", anc[0][2])[0]
    else:
        libc = ctypes.CDLL(None, use_errno=True)
        pid = int(u.recv(32))
        fd = libc.pidfd_getfd(os.pidfd_open(pid), parent_fd, 0)
        if fd < 0:
            print("pidfd_getfd failed:", os.strerror(ctypes.get_errno()), flush=True)
            u.send(b"x")
            return
    s = socket.socket(fileno=fd)
    try:
        st = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
        print("state syn-sent" if st == 2 else "state other %d" % st, flush=True)
    except OSError as e:
        print("state unknown:", errno.errorcode.get(e.errno, e.errno), flush=True)
    open(gate, "w").close()
    line = ("%s connecting-%s\n" % (sent, how)).encode()
    try:
        select.select([], [s], [], 20)
        s.setblocking(True)
        s.settimeout(20)
        s.sendall(line)
        got = b""
        while not got.endswith(b"\n"):
            b = s.recv(4096)
            if not b:
                break
            got += b
        print("echo ok" if got == line else "echo failed: got %r" % got[:80], flush=True)
    except OSError as e:
        print("echo failed:", e, flush=True)
    u.send(b"x")


if len(sys.argv) > 6:
    child(int(sys.argv[6]))
    sys.exit(0)

l = socket.socket(socket.AF_UNIX)
l.bind(path)
l.listen(1)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
s.setblocking(False)
r = s.connect_ex(("127.0.0.1", port))
if r != errno.EINPROGRESS:
    print("connect:", errno.errorcode.get(r, r), flush=True)
    sys.exit(1)
env = dict(os.environ)
if foreign:
    env.update(LD_PRELOAD=os.environ["FOREIGN_PRELOAD"], TLSSHIM_TEST_LOOKUPFAIL="protocol=132")
p = subprocess.Popen([sys.executable, sys.argv[0]] + sys.argv[1:] + [str(s.fileno())], env=env)
c, _ = l.accept()
if how == "scm":
    c.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
else:
    c.send(str(os.getpid()).encode())
c.settimeout(40)
try:
    c.recv(1)
except OSError:
    pass
p.wait()
os.unlink(path)
