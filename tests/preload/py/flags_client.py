"""flags_client.py PORT — under the shim (a connect rule; tests/preload/flags.sh),
against tests/preload/tls_echo_server.py: recv/send flags and socket options
on a TLS fd.  Prints one "PASS name" or "FAIL name: detail" line per case.
Every wait is for an event (the echo having arrived), bounded.
"""
import errno, os, select, signal, socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def res(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + detail), flush=True)
def peek_until(n, secs=10):
    """Until n bytes of plain text can be peeked (the echo has arrived)."""
    end = time.time() + secs
    while time.time() < end:
        select.select([s], [], [], max(0.0, end - time.time()))
        if len(s.recv(n, socket.MSG_PEEK)) >= n:
            return True
        time.sleep(0.01)
    return False
s.sendall(b"hello")
peek_until(5)
a = s.recv(5, socket.MSG_PEEK); b = s.recv(5)
res("MSG_PEEK leaves the plaintext for the next read", a == b"hello" and b == b"hello", repr((a, b)))
s.sendall(b"abc"); peek_until(3); s.sendall(b"def")   # two records
c = s.recv(6, socket.MSG_WAITALL)
res("MSG_WAITALL waits for the whole count across records", c == b"abcdef", repr(c))
# MSG_TRUNC: TCP consumes the bytes without copying them, so the buffer
# may be NULL (the library used to copy into it: a crash).
import ctypes
libc_t = ctypes.CDLL(None, use_errno=True)
s.sendall(b"trunc!"); peek_until(6)
n = libc_t.recv(s.fileno(), None, 4, socket.MSG_TRUNC)
s.sendall(b"after")
t2 = s.recv(7, socket.MSG_WAITALL)
res("MSG_TRUNC with a NULL buffer discards the bytes", n == 4 and t2 == b"c!after", repr((n, t2)))
big = bytes(range(256)) * 12     # 3072 bytes: more than one scratchful
s.sendall(big + b"tail"); peek_until(len(big) + 4)
n = libc_t.recv(s.fileno(), None, len(big), socket.MSG_TRUNC | socket.MSG_WAITALL)
t3 = s.recv(4, socket.MSG_WAITALL)
res("MSG_TRUNC|MSG_WAITALL discards exactly the count asked", n == len(big) and t3 == b"tail", repr((n, t3)))
# MSG_ERRQUEUE reads the socket's error queue, never the stream (the
# library used to hand out the plain text as if it were an error message,
# lost for the next read).
s.sendall(b"errq-data"); peek_until(9)
try:
    d, e = s.recvmsg(100, 512, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)[0], 0
except OSError as ex:
    d, e = None, ex.errno
n = libc_t.recv(s.fileno(), ctypes.create_string_buffer(16), 16, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
e2 = ctypes.get_errno()
t4 = s.recv(9, socket.MSG_WAITALL) if d is None and n < 0 else b""
res("MSG_ERRQUEUE (recvmsg, recv) reads no plain text: EAGAIN, the stream intact",
    e == errno.EAGAIN and n == -1 and e2 == errno.EAGAIN and t4 == b"errq-data", repr((d, e, n, e2, t4)))
# A peek sees past its first record: the count with MSG_TRUNC (the library
# counted at most 1024), a record that came after an earlier peek (a
# program peeking until its header is whole spun for ever), MSG_WAITALL
# (which waits for the whole count, as TCP's; the library returned what
# an earlier peek had decrypted).
s.sendall(big); peek_until(len(big))
n = libc_t.recv(s.fileno(), None, 8192, socket.MSG_TRUNC | socket.MSG_PEEK)
t5 = s.recv(len(big), socket.MSG_WAITALL)
res("MSG_PEEK|MSG_TRUNC counts what a peek would return", n == len(big) and t5 == big, repr(n))
s.sendall(b"hdr"); peek_until(3); s.sendall(b"HDR")
ok = peek_until(6, 3)
t6 = s.recv(6, socket.MSG_WAITALL)
res("MSG_PEEK sees a record that came after an earlier peek", ok and t6 == b"hdrHDR", repr((ok, t6)))
s.sendall(b"abc"); peek_until(3); s.sendall(b"def")
p = s.recv(6, socket.MSG_PEEK | socket.MSG_WAITALL)
t7 = s.recv(6, socket.MSG_WAITALL)
res("MSG_PEEK|MSG_WAITALL waits for the whole count", p == b"abcdef" and t7 == b"abcdef", repr((p, t7)))
# A peek into two buffers fills both, from the start, as TCP does (the
# library peeked each buffer alone: the first only, 4 of 8), and with
# MSG_WAITALL waits for both.
s.sendall(b"abcd"); peek_until(4); s.sendall(b"efgh")
b1, b2 = bytearray(4), bytearray(4)
n = s.recvmsg_into([b1, b2], 0, socket.MSG_PEEK | socket.MSG_WAITALL)[0]
t9 = s.recv(8, socket.MSG_WAITALL)
res("MSG_PEEK into two buffers fills both (with MSG_WAITALL, waits for both)",
    n == 8 and bytes(b1 + b2) == b"abcdefgh" and t9 == b"abcdefgh", repr((n, bytes(b1), bytes(b2), t9)))
# SO_PEEK_OFF would count ciphertext: refused as TCP refused it before
# Linux 6.10 (the library let it through and every peek gave the same
# bytes again).
try:
    s.setsockopt(socket.SOL_SOCKET, 42, 0); e = 0   # SO_PEEK_OFF
except OSError as ex:
    e = ex.errno
s.sendall(b"abcdef"); peek_until(6)
p1 = s.recv(3, socket.MSG_PEEK); p2 = s.recv(3, socket.MSG_PEEK)
t8 = s.recv(6, socket.MSG_WAITALL)
res("SO_PEEK_OFF on a TLS fd: EOPNOTSUPP, peeks unchanged",
    e == errno.EOPNOTSUPP and p1 == p2 == b"abc" and t8 == b"abcdef", repr((e, p1, p2, t8)))
# TCP_INQ: recvmsg gives TCP_CM_INQ, the plain text left (the library gave
# no ancillary data at all).
s.setsockopt(socket.IPPROTO_TCP, 36, 1)             # TCP_INQ
s.sendall(b"0123456789"); peek_until(10)
d, anc, fl, _ = s.recvmsg(4, socket.CMSG_SPACE(4))
d2, anc2, fl2, _ = s.recvmsg(6, socket.CMSG_SPACE(4))
s.setsockopt(socket.IPPROTO_TCP, 36, 0)
inq = [struct.unpack("i", a[2][:4])[0] for a in anc + anc2 if a[:2] == (socket.IPPROTO_TCP, 36)]
res("TCP_INQ: recvmsg gives TCP_CM_INQ with the plain text left",
    d + d2 == b"0123456789" and inq == [6, 0], repr((d, d2, anc, anc2)))
# recvmsg's control buffer and header as TCP's recvmsg leaves them: each
# pattern run on a plain TCP pair (the kernel's answer) and on the TLS fd,
# with TCP_INQ on, the same bytes left to read: return value, data,
# msg_namelen, msg_controllen, msg_flags and the whole control buffer
# (prefilled, so stale bytes show) must be the same.  The library gave no
# MSG_CTRUNC without a buffer (or one shorter than a header), wrote no
# header into one that could hold it but not the whole message (the kernel
# writes what fits), set msg_namelen to 0 without a msg_name and dropped
# MSG_CMSG_CLOEXEC from msg_flags.
class MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.c_void_p),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]
class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
libc_t.recvmsg.restype = ctypes.c_ssize_t
libc_t.recvmsg.argtypes = [ctypes.c_int, ctypes.POINTER(MsgHdr), ctypes.c_int]
def rmsg(fd, ctl, ctllen, name, namelen, flags):
    """ctl: None (NULL) or a size; name: None or a size."""
    data = ctypes.create_string_buffer(2)
    iov = IoVec(ctypes.addressof(data), 2)
    cb = ctypes.create_string_buffer(b"\xaa" * (ctl or 1))
    nb = ctypes.create_string_buffer(b"\xbb" * (name or 1))
    m = MsgHdr(ctypes.addressof(nb) if name else None, namelen, ctypes.addressof(iov), 1,
               ctypes.addressof(cb) if ctl else None, ctllen, 0x5a5a)
    r = libc_t.recvmsg(fd, ctypes.byref(m), flags)
    return (r, data.raw[:max(r, 0)], m.namelen, m.controllen, m.flags, cb.raw if ctl else None)
lq = socket.socket(); lq.bind(("127.0.0.1", 0)); lq.listen(1)
kc = socket.create_connection(lq.getsockname()); ka, _ = lq.accept()
kc.setsockopt(socket.IPPROTO_TCP, 36, 1); s.setsockopt(socket.IPPROTO_TCP, 36, 1)
patterns = [("no buffer", None, 0, None, 0, 0), ("NULL buffer of 64", None, 64, None, 0, 0),
            ("8 bytes", 8, 8, None, 0, 0), ("18 bytes", 18, 18, None, 0, 0), ("22 bytes", 22, 22, None, 0, 0),
            ("24 bytes", 24, 24, None, 0, 0), ("64 bytes, no msg_name, msg_namelen 77", 64, 64, None, 77, 0),
            ("64 bytes, a msg_name", 64, 64, 16, 16, 0),
            ("64 bytes, MSG_CMSG_CLOEXEC", 64, 64, None, 0, 0x40000000)]
payload = bytes(range(48, 48 + 2 * len(patterns)))
ka.sendall(payload); s.sendall(payload)
peek_until(len(payload))
end = time.time() + 10
while len(kc.recv(len(payload), socket.MSG_PEEK)) < len(payload) and time.time() < end:
    time.sleep(0.01)
bad = []
for name, ctl, ctllen, nm, nml, fl in patterns:
    want = rmsg(kc.fileno(), ctl, ctllen, nm, nml, fl)
    got = rmsg(s.fileno(), ctl, ctllen, nm, nml, fl)
    if want != got:
        bad.append("%s: TCP %r, TLS %r" % (name, want, got))
res("recvmsg's control buffer, msg_controllen, msg_flags and msg_namelen as TCP's (%d patterns)" % len(patterns),
    not bad, "; ".join(bad))
# Receive time stamps (SO_TIMESTAMPNS): TCP gives one with each read (of
# data that has one); on a TLS fd none (the kernel's would be the
# ciphertext's), and TCP_CM_INQ still comes, alone, the rest of the buffer
# untouched.
kc.setsockopt(socket.SOL_SOCKET, 35, 1); s.setsockopt(socket.SOL_SOCKET, 35, 1)
ka.sendall(b"ts"); s.sendall(b"ts"); peek_until(2)
end = time.time() + 10
while len(kc.recv(2, socket.MSG_PEEK)) < 2 and time.time() < end:
    time.sleep(0.01)
want = rmsg(kc.fileno(), 64, 64, None, 0, 0)
got = rmsg(s.fileno(), 64, 64, None, 0, 0)
hdr = struct.pack("QiiI", 20, socket.IPPROTO_TCP, 36, 0)
res("SO_TIMESTAMPNS on a TLS fd: no time stamp, TCP_CM_INQ alone",
    got[:5] == (2, b"ts", 0, 24, 0) and got[5][:20] == hdr and got[5][24:64] == b"\xaa" * 40,
    repr((want, got)))
s.setsockopt(socket.SOL_SOCKET, 35, 0); s.setsockopt(socket.IPPROTO_TCP, 36, 0)
kc.close(); ka.close(); lq.close()
# The iovec array is checked as the kernel checks it: more than IOV_MAX
# (1024) buffers or a negative count is EINVAL from readv/writev, EMSGSIZE
# from sendmsg, and nothing moves (the library sent all 1025 bytes, read a
# negative count as none, and waited for data to read into 1025 buffers).
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
one = ctypes.create_string_buffer(b"v")
iov = (iovec * 1025)()
for i in range(1025):
    iov[i].base, iov[i].len = ctypes.addressof(one), 1
got = []
for call, cnt in ((libc_t.writev, 1025), (libc_t.writev, -1), (libc_t.readv, 1025)):
    n = call(s.fileno(), iov, cnt)
    got.append((n, ctypes.get_errno()))
try:
    s.sendmsg([b"v"] * 1025); e = 0
except OSError as ex:
    e = ex.errno
s.sendall(b"iov-ok"); peek_until(6)
t9 = s.recv(2000)
res("more than IOV_MAX buffers, a negative count: EINVAL (EMSGSIZE from sendmsg), nothing sent",
    got == [(-1, errno.EINVAL)] * 3 and e == errno.EMSGSIZE and t9 == b"iov-ok", repr((got, e, t9[:20])))
# sendmmsg takes at most UIO_MAXIOV (1024) messages, as the kernel's
# (the library sent all 1025).
class msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint), ("iov", ctypes.c_void_p),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p),
                ("controllen", ctypes.c_size_t), ("flags", ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]
mm = (mmsghdr * 1025)()
for i in range(1025):
    mm[i].hdr.iov, mm[i].hdr.iovlen = ctypes.addressof(iov[i]), 1
n = libc_t.sendmmsg(s.fileno(), mm, 1025, 0)
t10 = s.recv(n if n > 0 else 1, socket.MSG_WAITALL)
s.sendall(b"end"); t11 = s.recv(3, socket.MSG_WAITALL)
res("sendmmsg takes at most 1024 messages, as the kernel's", n == 1024 and t10 == b"v" * 1024 and t11 == b"end",
    repr((n, len(t10), t11)))
try:
    s.send(b"x", socket.MSG_OOB); e = 0
except OSError as ex:
    e = ex.errno
res("MSG_OOB on a TLS fd: EOPNOTSUPP", e == errno.EOPNOTSUPP, str(e))
# Blocking reads that wait for the echo: the shim learns (and keeps) the
# socket's timeouts, "none" here; setting one afterwards must still count.
for i in range(3):
    s.sendall(b"w%d" % i)
    w = s.recv(2)
res("blocking reads that wait for their data", w == b"w2", repr(w))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 300000))
t = time.monotonic()
try:
    s.recv(10); e = 0
except OSError as ex:
    e = ex.errno
res("SO_RCVTIMEO ends a blocking read with EAGAIN", e in (errno.EAGAIN, errno.EWOULDBLOCK), str(e))
# The same through syscall(SYS_setsockopt): cleared (a read then waits for
# the echo), set again (a read with nothing coming ends with EAGAIN).
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
SYS_setsockopt = 54  # x86_64
def raw_rcvtimeo(usec):
    tv = ctypes.create_string_buffer(struct.pack("ll", 0, usec))
    return libc.syscall(SYS_setsockopt, s.fileno(), socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv, 16)
raw_rcvtimeo(0)
s.sendall(b"r1")
w = s.recv(2)
raw_rcvtimeo(300000)
try:
    s.recv(10); e = 0
except OSError as ex:
    e = ex.errno
res("SO_RCVTIMEO set by syscall(SYS_setsockopt) ends a blocking read with EAGAIN",
    w == b"r1" and e in (errno.EAGAIN, errno.EWOULDBLOCK), repr((w, e)))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 0))
s.setblocking(False)
try:
    s.recv(10); e = 0
except OSError as ex:
    e = ex.errno
res("O_NONBLOCK by ioctl(FIONBIO): an empty read says EAGAIN", e in (errno.EAGAIN, errno.EWOULDBLOCK), str(e))
s.setblocking(True)
s.sendall(b"still fine")
d = s.recv(100)
# preadv2/pwritev2 flags: what the kernel refuses on a socket (RWF_ATOMIC,
# RWF_DONTCACHE, bits it does not know) is refused on a TLS fd too, and what
# it takes (6.18's RWF_NOSIGNAL) is taken: the library took every flag.
# The kernel's answer comes from a plain socket pair.
def rwf_err(fn, *a):
    try:
        fn(*a); return 0
    except OSError as ex:
        return ex.errno
pa, pb = socket.socketpair()
rwf_ok = True; rwf_detail = []
for f in (0x40, 0x80, 0x100, 0x200, 0x400000):
    kw = rwf_err(os.pwritev, pa.fileno(), [b"k"], -1, f)
    kr = rwf_err(os.preadv, pa.fileno(), [bytearray(1)], -1, f | 8)   # RWF_NOWAIT, empty
    tw = rwf_err(os.pwritev, s.fileno(), [b"%x" % f], -1, f)
    if tw == 0:
        peek_until(len(b"%x" % f)); s.recv(len(b"%x" % f))
    tr = rwf_err(os.preadv, s.fileno(), [bytearray(1)], -1, f | 8)
    # an empty TLS fd with RWF_NOWAIT: EAGAIN, as the empty socket pair
    rwf_ok &= (tw == kw) and (tr == kr)
    rwf_detail.append("%#x kernel %s/%s tls %s/%s" % (f, kw, kr, tw, tr))
pa.close(); pb.close()
res("preadv2/pwritev2 flags on a TLS fd as the kernel takes them on a socket", rwf_ok, "; ".join(rwf_detail))
# ... and in the kernel's order: an offset below -1 is EINVAL (not ESPIPE),
# a call for no bytes is 0 whatever the flags, RWF_APPEND with RWF_NOAPPEND
# (0x20) EINVAL where the kernel knows RWF_NOAPPEND (each bit alone is taken).
pa, pb = socket.socketpair()
rwf_ok = True; rwf_detail = []
for name, w, bufs, off, f in (("read off -2", 0, [bytearray(1)], -2, 0),
                              ("write off -2", 1, [b"o"], -2, 0),
                              ("read none 0x40", 0, [bytearray(0)], -1, 0x40),
                              ("write none 0x40", 1, [b""], -1, 0x40),
                              ("write append|noappend", 1, [b"a"], -1, 0x30)):
    fn = os.pwritev if w else os.preadv
    k = rwf_err(fn, pa.fileno(), bufs, off, f)
    t = rwf_err(fn, s.fileno(), bufs, off, f)
    if w and t == 0 and bufs[0]:
        peek_until(len(bufs[0])); s.recv(len(bufs[0]))
    rwf_ok &= k == t
    rwf_detail.append("%s kernel %s tls %s" % (name, k, t))
pa.close(); pb.close()
res("preadv2/pwritev2 offset, empty call, RWF_APPEND|RWF_NOAPPEND on a TLS fd as on a socket", rwf_ok,
    "; ".join(rwf_detail))
# SO_ZEROCOPY: no MSG_ZEROCOPY completion could ever come through TLS (the
# library copies): set on a TLS fd it is refused, as on a socket without
# zerocopy; set before connect(), a MSG_ZEROCOPY send is refused (the
# library sent it and the program waited for a completion for ever).
SO_ZEROCOPY, MSG_ZEROCOPY = 60, 0x4000000
try:
    s.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, 1); e = 0
except OSError as ex:
    e = ex.errno
res("SO_ZEROCOPY on a TLS fd: EOPNOTSUPP", e == errno.EOPNOTSUPP, str(e))
res("the connection works after all of the above", d == b"still fine", repr(d))
s.close()
# (the echo server's second connection)
z = socket.socket()
z.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, 1)
z.connect(("127.0.0.1", int(sys.argv[1])))
try:
    z.send(b"zc", MSG_ZEROCOPY); e = 0
    # what the program does next: wait for the completion (POLLERR)
    p = select.poll(); p.register(z, 0)
    e = "sent; completion events %r" % p.poll(1000)
except OSError as ex:
    e = ex.errno
z.sendall(b"copied")
d = z.recv(6, socket.MSG_WAITALL)
res("MSG_ZEROCOPY with SO_ZEROCOPY set before connect: EOPNOTSUPP, the connection works",
    e == errno.EOPNOTSUPP and d == b"copied", repr((e, d)))
# pwritev2 with RWF_NOSIGNAL (Linux 6.18) after our own SHUT_WR: EPIPE and
# no SIGPIPE (the default action would end this process), as MSG_NOSIGNAL.
pa, pb = socket.socketpair()
knosig = rwf_err(os.pwritev, pa.fileno(), [b"k"], -1, 0x100)
pa.close(); pb.close()
z.shutdown(socket.SHUT_WR)
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
e = rwf_err(os.pwritev, z.fileno(), [b"x"], -1, 0x100)
signal.signal(signal.SIGPIPE, signal.SIG_IGN)
res("pwritev2 with RWF_NOSIGNAL after SHUT_WR: EPIPE without SIGPIPE (or the kernel's EOPNOTSUPP)",
    e == (errno.EPIPE if knosig == 0 else knosig), repr((knosig, e)))
z.close()
# shutdown(SHUT_RD) with plain text that has arrived: TCP still gives what
# is in its queue, then 0 at once (the library said 0 at once, with the
# bytes still counted by FIONREAD).  (the echo server's third connection)
import fcntl, termios
y = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
y.sendall(b"queued")
select.select([y], [], [], 10)
y.shutdown(socket.SHUT_RD)
n = struct.unpack("i", fcntl.ioctl(y, termios.FIONREAD, b"\0" * 4))[0]
got = b""
while len(got) < 6:
    d = y.recv(100)
    if not d:
        break
    got += d
last = y.recv(100)
res("after shutdown(SHUT_RD) the plain text that had arrived is read, then 0 at once",
    n == 6 and got == b"queued" and last == b"", repr((n, got, last)))
y.close()
