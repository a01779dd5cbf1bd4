"""foreign_peer.py MODE IP PORT [IP2] — under the shim and
preload_lookupfail.so (TLSSHIM_TEST_LOOKUPFAIL=protocol=132,...,assoc:
tests/preload/faults_foreign.sh): a socket that says it is SCTP gets a
peer without connect(), as a real SCTP socket does, and sends a line:
  sendto        sendto() with the destination IP:PORT
  sendmsg       sendmsg() with the destination in msg_name
  sendmmsg      sendmmsg() with the destination in msg_name (ctypes)
  dstaddr       sendmsg() to IP:PORT with an SCTP_DSTADDRV4 control
                message adding IP2 (sctp_sendv's other addresses)
  connectx      setsockopt(SOL_SCTP, SCTP_SOCKOPT_CONNECTX), then send()
  connectx3     getsockopt(SOL_SCTP, SCTP_SOCKOPT_CONNECTX3) (ctypes),
                then send()
  recvfrom, recvmsg
                a socket bound to PORT (the peer a rule names) connects
                to a listener of this process; the accepted socket reads
                its line with recvfrom() / recvmsg() naming the source
  listen        (",socket") socket(AF_INET, SOCK_SEQPACKET, 132), or the
                type IP2 names (stream: SOCK_STREAM; dccp: SOCK_DCCP, 33),
                bound to IP:PORT, then listen()
  parent-listen, parent-listening
                without the library: a TCP socket bound to IP:PORT (and
                listening), passed across exec to this script under
                LD_PRELOAD=$CHILD_PRELOAD, which calls listen() on it
                (child-listen) or recv() (child-recv: "refused 104" when
                the library refused it at start-up)
  reuse-close, reuse-dup2, reuse-dup3, reuse-fclose, reuse-dupfd, reuse-scm
                a UDP socket sends 3 datagrams to IP:PORT (let through: a
                datagram socket), then its number names a socket that says
                it is SCTP: the UDP one closed and a socket() made there,
                or one dup2()'d onto it (dup3 with O_CLOEXEC); or the UDP
                one closed by fclose() (past every wrapper) and the number
                handed out by socket(), fcntl(F_DUPFD_CLOEXEC) or
                SCM_RIGHTS; sendto() IP:PORT on the number
  dup2-listen, scm-listen
                (",socket") a TCP socket's number (socket() made it)
                names socket(AF_INET, SOCK_SEQPACKET, 132) after dup2(),
                or after fclose() of a FILE on it (past every wrapper) and
                SCM_RIGHTS; bound to IP:PORT, then listen()
  peeloff       (",peeloff=PORT") a FILE's number freed by fclose() (past
                every wrapper), then getsockopt(SOL_SCTP,
                SCTP_SOCKOPT_PEELOFF) hands out an association there;
                write() on it
Prints "refused ERRNO" when a call fails, else "sent", "listening" or
"got LINE".
"""
import os
import ctypes, fcntl, socket, struct, sys

mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
line = b"foreign-secret-" + mode.encode() + b"\n"
libc = ctypes.CDLL(None, use_errno=True)


def packed(host, p):
    # struct sockaddr_in: the family in host order, the port and address
    # in network order, 8 bytes of padding
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H", p) + socket.inet_aton(host) + bytes(8)


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint), ("iov", ctypes.POINTER(Iovec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", Msghdr), ("len", ctypes.c_uint)]


class GetaddrsOld(ctypes.Structure):     # struct sctp_getaddrs_old
    _fields_ = [("assoc_id", ctypes.c_int32), ("addr_num", ctypes.c_int), ("addrs", ctypes.c_void_p)]


def check(r):
    if r < 0:
        raise OSError(ctypes.get_errno(), "ctypes call")


def unseen_close(fd):
    """fd closed by the C library's own close (fclose), past every wrapper"""
    libc.fdopen.restype = ctypes.c_void_p
    f = libc.fdopen(fd, b"r")
    if not f:
        raise OSError(ctypes.get_errno(), "fdopen")
    libc.fclose(ctypes.c_void_p(f))


def send_away(s):
    """s's socket sent with SCM_RIGHTS, s closed: the receiving end"""
    a, b = socket.socketpair()
    socket.send_fds(a, [b"x"], [s.fileno()])
    s.close()
    return b


def receive_at(b, n):
    """the socket sent to b, received at number n (free, the lowest)"""
    _, fds, _, _ = socket.recv_fds(b, 10, 1)
    if fds[0] != n:
        sys.exit("received at %d, not %d" % (fds[0], n))
    return socket.socket(fileno=n)


try:
    if mode.startswith("reuse-"):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(3):
            u.sendto(b"datagram\n", (ip, port))
        n = u.fileno()
        if mode in ("reuse-close", "reuse-fclose"):
            if mode == "reuse-close":
                u.close()
            else:
                unseen_close(u.detach())
            s = socket.socket()
            if s.fileno() != n:
                sys.exit("socket() at %d, not %d" % (s.fileno(), n))
        elif mode in ("reuse-dup2", "reuse-dup3"):
            s = socket.socket()
            os.dup2(s.fileno(), n, inheritable=mode == "reuse-dup2")
            s = u
        elif mode == "reuse-dupfd":
            s = socket.socket()
            unseen_close(u.detach())
            if fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, n) != n:
                sys.exit("F_DUPFD_CLOEXEC not at %d" % n)
            s = socket.socket(fileno=n)
        else:
            b = send_away(socket.socket())
            unseen_close(u.detach())
            s = receive_at(b, n)
        s.sendto(line, (ip, port))
        print("sent")
        sys.exit(0)
    if mode in ("dup2-listen", "scm-listen"):
        t = socket.socket()
        s = socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, 132)
        if mode == "dup2-listen":
            os.dup2(s.fileno(), t.fileno())
        else:
            b = send_away(s)
            n = t.detach()
            unseen_close(n)
            t = receive_at(b, n)
        t.bind((ip, port))
        t.listen(5)
        print("listening")
        sys.exit(0)
    if mode == "peeloff":
        one = socket.socket()
        fd = os.open("/dev/null", os.O_RDONLY)
        unseen_close(fd)
        arg = (ctypes.c_int * 2)(1, -1)
        n = ctypes.c_uint(ctypes.sizeof(arg))
        check(libc.getsockopt(one.fileno(), 132, 102, ctypes.byref(arg), ctypes.byref(n)))
        if arg[1] != fd:
            sys.exit("peeled off at %d, not %d" % (arg[1], fd))
        os.write(arg[1], line)
        print("sent")
        sys.exit(0)
    if mode == "listen":
        kind = sys.argv[4] if len(sys.argv) > 4 else "seqpacket"
        s = socket.socket(socket.AF_INET, {"stream": socket.SOCK_STREAM, "dccp": 6}.get(kind, socket.SOCK_SEQPACKET),
                          33 if kind == "dccp" else 132)
        s.bind((ip, port))
        s.listen(5)
        print("listening")
        sys.exit(0)
    if mode in ("parent-listen", "parent-listening"):
        s = socket.socket()
        s.bind((ip, port))
        if mode == "parent-listening":
            s.listen(5)
        s.set_inheritable(True)
        env = dict(os.environ, LD_PRELOAD=os.environ["CHILD_PRELOAD"])
        child = "child-recv" if mode == "parent-listening" else "child-listen"
        os.execve(sys.executable, [sys.executable, sys.argv[0], child, ip, str(s.fileno())], env)
    if mode in ("child-listen", "child-recv"):
        s = socket.socket(fileno=port)
        if mode == "child-listen":
            s.listen(5)
            print("listening")
        else:
            s.recv(100)
            print("got")
        sys.exit(0)
    if mode in ("recvfrom", "recvmsg"):
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        peer = socket.socket()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        peer.bind((ip, port))
        peer.connect(lst.getsockname())
        peer.sendall(line)
        s, _ = lst.accept()
        if mode == "recvfrom":
            got, src = s.recvfrom(100)
        else:
            got, _, _, src = s.recvmsg(100)
        print("got", got.decode().strip())
        sys.exit(0)
    s = socket.socket()
    if mode == "sendto":
        s.sendto(line, (ip, port))
    elif mode == "sendmsg":
        s.sendmsg([line], [], 0, (ip, port))
    elif mode == "dstaddr":
        s.sendmsg([line], [(132, 7, socket.inet_aton(sys.argv[4]))], 0, (ip, port))
    elif mode == "sendmmsg":
        name = ctypes.create_string_buffer(packed(ip, port))
        data = ctypes.create_string_buffer(line, len(line))
        iov = Iovec(ctypes.cast(data, ctypes.c_void_p), len(line))
        mm = Mmsghdr(Msghdr(ctypes.cast(name, ctypes.c_void_p), 16, ctypes.pointer(iov), 1, None, 0, 0), 0)
        check(libc.sendmmsg(s.fileno(), ctypes.byref(mm), 1, 0))
    elif mode == "connectx":
        s.setsockopt(132, 110, packed(ip, port))
        s.send(line)
    elif mode == "connectx3":
        addrs = ctypes.create_string_buffer(packed(ip, port))
        p = GetaddrsOld(0, 16, ctypes.cast(addrs, ctypes.c_void_p))
        n = ctypes.c_uint(ctypes.sizeof(p))
        check(libc.getsockopt(s.fileno(), 132, 111, ctypes.byref(p), ctypes.byref(n)))
        s.send(line)
    else:
        sys.exit("unknown mode " + mode)
    print("sent")
except OSError as e:
    print("refused", e.errno)
