"""tests/preload/neglen.sh's program: negative lengths on a TLS fd and on a
pumped one, each call's answer beside the kernel's own on a plain TCP
socket (no rule for its port).  argv: TLS-PORT.  Prints one line per call:
"NAME tls=ANSWER plain=ANSWER", an answer being "ok", "ok:LEN" (*len after) or an errno name,
then "pumped PEERPORT moved" (the pumped fd's getpeername with a
right-sized buffer: the session's peer, not the pump's channel; "moved":
another socket stands at the number since the fork, the pump's channel)."""
import ctypes, errno, os, socket, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
SOL_TLS, TLS_TX, TCP_ULP = 282, 1, 31


def answer(r, ln=None):
    if r == 0:
        return "ok" if ln is None else "ok:%d" % ln
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


def setopt(fd, level, opt, val, ln):
    buf = ctypes.create_string_buffer(val, max(len(val), 64))
    ctypes.set_errno(0)
    return answer(libc.setsockopt(fd, level, opt, buf, ctypes.c_int(ln)))


def name(fd, fn, ln, null=False):
    buf = ctypes.create_string_buffer(b"\xaa" * 128, 128)
    l = ctypes.c_uint32(ln & 0xffffffff)
    ctypes.set_errno(0)
    r = getattr(libc, fn)(fd, None if null else buf, ctypes.byref(l))
    a = answer(r, l.value if r == 0 else None)
    if r != 0 and (buf.raw != b"\xaa" * 128 or l.value != ln & 0xffffffff):
        a += " (written)"
    return a


# the plain peer: a listener here, on a port no rule names
lsn = socket.socket()
lsn.bind(("127.0.0.1", 0))
lsn.listen(1)
plain = socket.create_connection(lsn.getsockname())
acc, _ = lsn.accept()

tls = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
tls.sendall(b"0123456789abcdef")   # (half a ping: the handshake is done)

one = struct.pack("i", 1)
for label, level, opt, val in (("SO_RCVLOWAT", socket.SOL_SOCKET, socket.SO_RCVLOWAT, one),
                               ("SO_PEEK_OFF", socket.SOL_SOCKET, 42, struct.pack("i", 5)),
                               ("SO_ZEROCOPY", socket.SOL_SOCKET, 60, one),
                               ("TCP_ULP", socket.IPPROTO_TCP, TCP_ULP, b"tls"),
                               ("SOL_TLS", SOL_TLS, TLS_TX, b"\0" * 40)):
    for ln in (-1, -2147483648):
        print("setsockopt_%s_%d tls=%s plain=%s" % (label, ln,
                                                   setopt(tls.fileno(), level, opt, val, ln),
                                                   setopt(plain.fileno(), level, opt, val, ln)))

# a fork with a live session: the fd goes to a pump (another socket then
# stands at the number: the pump's channel)
before = os.readlink("/proc/self/fd/%d" % tls.fileno())
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
for fn in ("getpeername", "getsockname"):
    for ln, null in ((-1, False), (-2147483648, False), (0, True), (0, False), (4, False)):
        print("%s_%d%s tls=%s plain=%s" % (fn, ln, "_null" if null else "",
                                          name(tls.fileno(), fn, ln, null),
                                          name(plain.fileno(), fn, ln, null)))
print("pumped %d %s" % (tls.getpeername()[1],
                        "same" if os.readlink("/proc/self/fd/%d" % tls.fileno()) == before
                        else "moved"),
      flush=True)
tls.close()
plain.close()
acc.close()
