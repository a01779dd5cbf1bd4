"""pumped_fastopen.py PORT PLAIN MODE — under the library (tests/preload/
pumped_fastopen.sh): a TLS connection (a connect rule names PORT) handed
to a pump by a fork while its handshake runs (the server never answers:
the policy's handshake_timeout_ms ends it); the child waits for its
end's refusal (SO_ERROR), then asks TCP Fast Open, which connects in the
same call, to connect the number again: three times to PLAIN (a plain
rule names it: the kernel answers the first with ECONNABORTED, and
connected the second before h195) and once to PORT, each with "secret
plaintext", through
  sendto:   sendto(MSG_FASTOPEN);
  sendmsg:  sendmsg(MSG_FASTOPEN);
  sendmmsg: sendmmsg(MSG_FASTOPEN), one message (through ctypes);
  tfoconnect: setsockopt(TCP_FASTOPEN_CONNECT), then connect() and
           write() (connect() was refused there since h189: pinned);
  connected: the handshake done (a TLS echo server), then
           sendto(MSG_FASTOPEN) to PLAIN on the connected end ("again
           EISCONN", the kernel's answer) and a line through the session
           ("echo after");
  race:    the handshake done, then with TLSSHIM_TEST_UNSPEC_RACE set
           (preload_unspecrace.so disconnects the end between the
           library's look at its TCP state, connected, and the call):
           sendto(MSG_FASTOPEN) to PLAIN twice;
  race_long: the same race with sendmsg(MSG_FASTOPEN) whose msg_namelen
           is 200, past a sockaddr_storage (the kernel's sendmsg takes
           the first 128 bytes; before h200 the library gave it the
           program's address as it was, and the end, disconnected in
           the race, was connected to PLAIN);
  race_srr: the same race with sendto(MSG_FASTOPEN), non-blocking, on a
           socket with a loose source route (IP_OPTIONS, LSRR via
           127.0.0.1): tcp_v4_connect routes by the first hop, past the
           multicast host, and before h200 the disconnected end went
           SYN_SENT ("child: syn N"; TCP_FASTOPEN_NO_COOKIE, which would
           put the data in that SYN, is taken only on a CLOSE socket).
Prints "child: ..." lines: "fastopen N ERROR" for each refusal, "sent N"
when a call sent."""
import ctypes
import errno
import os
import select
import socket
import sys

port, plain, how = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
libc = ctypes.CDLL(None, use_errno=True)
MSG = b"secret plaintext\n"


class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]


def sendmmsg(fd, dest):
    sin = ctypes.create_string_buffer(bytes([socket.AF_INET, 0]) + dest.to_bytes(2, "big") +
                                      bytes([127, 0, 0, 1]) + bytes(8), 16)
    buf = ctypes.create_string_buffer(MSG, len(MSG))
    v = iovec(ctypes.cast(buf, ctypes.c_void_p), len(MSG))
    m = mmsghdr(msghdr(ctypes.cast(sin, ctypes.c_void_p), 16, ctypes.pointer(v), 1, None, 0, 0), 0)
    r = libc.sendmmsg(fd, ctypes.byref(m), 1, socket.MSG_FASTOPEN)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return m.len


def sendmsg_long(fd, dest):
    name = ctypes.create_string_buffer(bytes([socket.AF_INET, 0]) + dest.to_bytes(2, "big") +
                                       bytes([127, 0, 0, 1]) + bytes(192), 200)
    buf = ctypes.create_string_buffer(MSG, len(MSG))
    v = iovec(ctypes.cast(buf, ctypes.c_void_p), len(MSG))
    m = msghdr(ctypes.cast(name, ctypes.c_void_p), 200, ctypes.pointer(v), 1, None, 0, 0)
    r = libc.sendmsg(fd, ctypes.byref(m), socket.MSG_FASTOPEN)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def fastopen(s, dest):
    if how == "race_long":
        return sendmsg_long(s.fileno(), dest)
    if how == "sendmsg":
        return s.sendmsg([MSG], [], socket.MSG_FASTOPEN, ("127.0.0.1", dest))
    if how == "sendmmsg":
        return sendmmsg(s.fileno(), dest)
    if how == "tfoconnect":
        s.setsockopt(socket.IPPROTO_TCP, 30, 1)     # TCP_FASTOPEN_CONNECT
        s.connect(("127.0.0.1", dest))
        return s.send(MSG)
    return s.sendto(MSG, socket.MSG_FASTOPEN, ("127.0.0.1", dest))


s = socket.socket()
s.setblocking(False)
s.connect_ex(("127.0.0.1", port))
if how in ("connected", "race", "race_long", "race_srr"):
    select.select([], [s], [], 10 * S)
    s.setblocking(True)
    s.settimeout(10 * S)
    s.sendall(b"hello\n")
    s.recv(100)
else:
    select.select([], [s], [], 0.3)    # (the handshake starts)
pid = os.fork()
if pid == 0:
    if how == "connected":
        try:
            print("child: again sent %d" % s.sendto(MSG, socket.MSG_FASTOPEN, ("127.0.0.1", plain)),
                  flush=True)
        except OSError as e:
            print("child: again %s" % errno.errorcode.get(e.errno), flush=True)
        s.settimeout(5 * S)
        s.sendall(b"after\n")
        print("child: echo %s" % s.recv(100).decode().strip(), flush=True)
        os._exit(0)
    if how in ("race", "race_long", "race_srr"):
        s.setblocking(True)
        if how == "race_srr":
            # LSRR (131), length 7, pointer 4, one hop (127.0.0.1), a NOP (1)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS,
                         bytes([131, 7, 4]) + socket.inet_aton("127.0.0.1") + bytes([1]))
            s.setblocking(False)
        os.environ["TLSSHIM_TEST_UNSPEC_RACE"] = "1"
        for i in range(2):
            try:
                print("child: sent %d" % fastopen(s, plain), flush=True)
            except OSError as e:
                print("child: fastopen %d %s" % (i, errno.errorcode.get(e.errno)), flush=True)
            if s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == 2:    # SYN_SENT
                print("child: syn %d" % i, flush=True)
        os._exit(0)
    select.select([], [s], [], 20 * S)
    print("child: so_error %d" % s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), flush=True)
    s.setblocking(True)        # (a blocking Fast Open waits for the connection, then sends)
    for i, dest in enumerate((plain, plain, plain, port)):
        try:
            print("child: sent %d" % fastopen(s, dest), flush=True)
        except OSError as e:
            print("child: fastopen %d %s" % (i, errno.errorcode.get(e.errno)), flush=True)
    os._exit(0)
_, st = os.waitpid(pid, 0)
sys.exit(os.WEXITSTATUS(st))
