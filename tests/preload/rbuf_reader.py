#!/usr/bin/env python3
"""tests/preload/rbuf_reader.py — a receiver that reads its stream with the
calls a program really makes, for tests/preload/rbuf_split.sh (not a test
itself; run shimmed, under strace -e recvfrom, it meets the read buffer's
switch to four records part-way through its reads).

    rbuf_reader.py PORT MODE

Listens on 127.0.0.1:PORT (prints "listening", flushed), accepts one
connection and reads it to its end with MODE:
    r1        recv(1) at a time
    r64k      recv(65536)
    peek      recv(N, MSG_PEEK), then recv(N): the same bytes (N cycles
              through 1, 700, 5000, 17000, 40000)
    waitall   recv(20000, MSG_WAITALL): each 20,000 bytes but the last
    readv     os.readv with iovecs of 7, 100, 3000 and 17000 bytes
    recvmsg   recvmsg(5000)
    recvmmsg  recvmmsg(2), two buffers of 3000 bytes (ctypes)
    fionread  poll, then ioctl(FIONREAD): a count N > 0 must be what
              recv(N) gives, exactly
    poll      non-blocking; poll(POLLIN) before every recv(1000): a poll
              that waits 20 s with bytes to come fails ("hang")
    epollet   non-blocking, epoll edge-triggered: reads of 1000 bytes
              until a short read or EAGAIN, then epoll_wait (20 s bound)
    splice    splice(2) from the socket into a pipe, read back (the shim
              refuses it with EINVAL: not among rbuf_split.sh's modes)
    forkchild recv(1000) until 40,000 bytes, then fork: the child reads
              the rest, the parent closes its descriptor and waits
    forkparent as forkchild, but the child closes its descriptor and
              exits, and the parent reads the rest
    exec      recv(1000) until 40,000 bytes, then execve of this script
              (mode "cont", the descriptor, and the file that the
              environment's RBUF_PREFIX names holding the bytes read), which reads the rest
              with recv(65536)
Prints "bytes N checksum HEX" (tests/progs/stream.h's checksum) and
"end clean" at a read of 0; on a read error "error ERRNO-TEXT after N
bytes" and exit 1; a broken expectation of the mode: "broken WHAT", exit 3.
"""
import ctypes
import errno
import fcntl
import os
import select
import socket
import struct
import sys
import termios

MASK = (1 << 64) - 1
BOUND_MS = 20000


class Sum:
    def __init__(self):
        self.data = bytearray()

    def add(self, b):
        self.data += b

    def line(self):
        d = bytes(self.data)
        a = b = 0
        pad = d + b"\0" * (-len(d) % 8)
        for i in range(0, len(pad), 8):
            a = (a + int.from_bytes(pad[i:i + 8], "little")) & MASK
            b = (b + a) & MASK
        return "bytes %d checksum %016x" % (len(d), ((a * 0x9E3779B97F4A7C15) & MASK) ^ b ^ len(d))


def broken(what):
    print("broken " + what, flush=True)
    sys.exit(3)


def finish(s):
    print(s.line(), flush=True)
    print("end clean", flush=True)
    sys.exit(0)


def wait_in(fd):
    p = select.poll()
    p.register(fd, select.POLLIN)
    if not p.poll(BOUND_MS):
        broken("hang: poll saw nothing for %d ms" % BOUND_MS)


def recvmmsg_reader():
    libc = ctypes.CDLL(None, use_errno=True)

    class Iov(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    class Msghdr(ctypes.Structure):
        _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                    ("iov", ctypes.POINTER(Iov)), ("iovlen", ctypes.c_size_t),
                    ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                    ("flags", ctypes.c_int)]

    class MM(ctypes.Structure):
        _fields_ = [("hdr", Msghdr), ("len", ctypes.c_uint)]

    bufs = [ctypes.create_string_buffer(3000) for _ in range(2)]
    iovs = [Iov(ctypes.cast(b, ctypes.c_void_p), 3000) for b in bufs]
    mm = (MM * 2)()
    for i in range(2):
        mm[i].hdr.iov = ctypes.pointer(iovs[i])
        mm[i].hdr.iovlen = 1
    libc.recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                              ctypes.c_void_p]

    def read(fd):
        for i in range(2):
            mm[i].len = 0
        n = libc.recvmmsg(fd, mm, 2, 0, None)
        if n < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        out = b""
        for i in range(n):
            out += bufs[i].raw[:mm[i].len]
        # (at the end every message is empty: the first one's 0 is it)
        if n > 1 and mm[0].len == 0 and any(mm[i].len for i in range(1, n)):
            broken("recvmmsg: an empty message before bytes")
        return out
    return read


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    s = Sum()
    if mode == "cont":
        c = socket.socket(fileno=port)
        with open(os.environ["RBUF_PREFIX"], "rb") as f:
            s.add(f.read())
        mode = "r64k"
    else:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", port))
        ls.listen(1)
        print("listening", flush=True)
        c, _ = ls.accept()
        ls.close()
    fd = c.fileno()
    mmsg = recvmmsg_reader() if mode == "recvmmsg" else None
    peeks = [1, 700, 5000, 17000, 40000]
    k = 0
    if mode in ("poll", "epollet"):
        c.setblocking(False)
    ep = None
    if mode == "epollet":
        ep = select.epoll()
        ep.register(fd, select.EPOLLIN | select.EPOLLET)
    if mode == "splice":
        pr, pw = os.pipe()
    try:
        while True:
            if mode == "r1":
                b = c.recv(1)
            elif mode == "r64k":
                b = c.recv(65536)
            elif mode == "peek":
                n = peeks[k % len(peeks)]
                k += 1
                p = c.recv(n, socket.MSG_PEEK)
                b = c.recv(n)
                if not b.startswith(p) or (len(p) > len(b)):
                    broken("peek: %d bytes peeked, then a read of %d differs" % (len(p), len(b)))
            elif mode == "waitall":
                b = c.recv(20000, socket.MSG_WAITALL)
                if 0 < len(b) < 20000:
                    s.add(b)
                    if c.recv(1):
                        broken("waitall: %d bytes before the end" % len(b))
                    finish(s)
            elif mode == "readv":
                vs = [bytearray(7), bytearray(100), bytearray(3000), bytearray(17000)]
                n = os.readv(fd, vs)
                b = b"".join(vs)[:n]
            elif mode == "recvmsg":
                b, _, _, _ = c.recvmsg(5000)
            elif mode == "recvmmsg":
                b = mmsg(fd)
            elif mode == "fionread":
                wait_in(fd)
                n = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
                if n > 0:
                    b = c.recv(n)
                    if len(b) != n:
                        broken("fionread: said %d, recv(%d) gave %d" % (n, n, len(b)))
                else:
                    b = c.recv(65536)
            elif mode == "poll":
                wait_in(fd)
                try:
                    b = c.recv(1000)
                except BlockingIOError:
                    continue
            elif mode == "epollet":
                while True:
                    try:
                        b = c.recv(1000)
                    except BlockingIOError:
                        break
                    if not b:
                        finish(s)
                    s.add(b)
                    if len(b) < 1000:
                        break
                if not ep.poll(BOUND_MS / 1000.0):
                    broken("hang: EPOLLET woke nothing for %d ms after %d bytes"
                           % (BOUND_MS, len(s.data)))
                continue
            elif mode == "splice":
                n = os.splice(fd, pw, 4096)
                b = os.read(pr, n) if n else b""
                if len(b) != n:
                    broken("splice: %d into the pipe, %d out" % (n, len(b)))
            elif mode == "exec":
                b = c.recv(1000)
                if b and len(s.data) < 40000 <= len(s.data) + len(b):
                    s.add(b)
                    with open(os.environ["RBUF_PREFIX"], "wb") as f:
                        f.write(s.data)
                    os.set_inheritable(fd, True)
                    os.execv(sys.executable, [sys.executable, sys.argv[0], str(fd), "cont"])
            elif mode in ("forkchild", "forkparent"):
                b = c.recv(1000)
                if b and len(s.data) < 40000 <= len(s.data) + len(b):
                    s.add(b)
                    pid = os.fork()
                    if (pid == 0) == (mode == "forkchild"):
                        continue        # this one reads on
                    if pid == 0:
                        c.close()
                        os._exit(0)
                    c.close()
                    _, st = os.waitpid(pid, 0)
                    sys.exit(os.waitstatus_to_exitcode(st))
            else:
                broken("mode " + mode)
            if not b:
                finish(s)
            s.add(b)
    except OSError as e:
        print("error %s after %d bytes" % (errno.errorcode.get(e.errno, e.errno), len(s.data)),
              flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
