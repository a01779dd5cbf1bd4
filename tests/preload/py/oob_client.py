"""oob_client.py PORT MODE — under the shim (a connect rule; tests/preload/oob.sh),
against tests/preload/tls_echo_server.py: MSG_OOB on a TLS fd.

  direct  send, sendto, sendmsg, recv, recvfrom, recvmsg with MSG_OOB on
          the TLS fd: prints "direct E E E E E E" (each call's errno)
  pump    after a fork (the session moves to a pump; the child exits at
          once), send and sendmsg of b"abcX" with MSG_OOB, then b"def";
          then the end of the stream, and everything the echo returned:
          prints "pump E E echo b'...'"
  urgent, urgent-inline
          against tests/preload/py/urgent_peer.py, which puts one urgent
          byte b"U" (MSG_OOB under its TLS layer) on the stream between
          two records.  (urgent-inline: SO_OOBINLINE on first.)  Reads
          the first record, waits for the urgent mark (SIOCATMARK, the
          kernel's), calls recv(1, MSG_OOB), reads to the end of the
          stream or an error: prints "MODE b'<first>' <recv MSG_OOB's
          errno, or the byte> b'<rest>' <the read's errno or 0>"
Every wait is for an event (the echo, the end of the stream), bounded.
"""
import os, socket, sys
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(20 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1")))
s.sendall(b"hi")
assert s.recv(2) == b"hi"
def err(f):
    try:
        f()
        return 0
    except OSError as e:
        return e.errno
if mode == "direct":
    es = [err(lambda: s.send(b"x", socket.MSG_OOB)),
          err(lambda: s.sendto(b"x", socket.MSG_OOB, ("127.0.0.1", port))),
          err(lambda: s.sendmsg([b"x"], [], socket.MSG_OOB))]
    # The receives without a time-out: with one, Python polls for input
    # before each call, and none comes (the call then waited for the
    # server's own 20-s time-out).  Non-blocking, a call that went past
    # the library would say EAGAIN or EINVAL, not EOPNOTSUPP.
    s.setblocking(False)
    es += [err(lambda: s.recv(1, socket.MSG_OOB)),
           err(lambda: s.recvfrom(1, socket.MSG_OOB)),
           err(lambda: s.recvmsg(1, 0, socket.MSG_OOB))]
    print("direct", *es, flush=True)
elif mode.startswith("urgent"):
    import fcntl, struct, termios, time
    SIOCATMARK = 0x8905
    if mode == "urgent-inline":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
    s.sendall(b"go")
    first = s.recv(100)
    s.sendall(b"ok")
    # The urgent byte's arrival: the kernel's mark (at most 10 s).
    end = time.monotonic() + 10 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
    while not struct.unpack("i", fcntl.ioctl(s.fileno(), SIOCATMARK, b"\0" * 4))[0]:
        if time.monotonic() > end:
            break
        time.sleep(0.01)
    # Non-blocking: with a time-out Python first polls for input, which
    # an urgent byte is not.
    s.setblocking(False)
    try:
        oob = s.recv(1, socket.MSG_OOB)
    except OSError as x:
        oob = x.errno
    s.settimeout(20 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1")))
    s.sendall(b"mo")
    rest, e = b"", 0
    try:
        while True:
            d = s.recv(100)
            if not d:
                break
            rest += d
    except OSError as x:
        e = x.errno
    print(mode, first, oob, rest, e, flush=True)
else:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    es = [err(lambda: s.send(b"abcX", socket.MSG_OOB)),
          err(lambda: s.sendmsg([b"abcX"], [], socket.MSG_OOB))]
    s.sendall(b"def")
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(100)
        if not d:
            break
        got += d
    print("pump", *es, "echo", got, flush=True)
s.close()
