"""rcvtimeo_trickle_client.py PORT [SECONDS|restart] — under the shim
(tests/preload/flags.sh), against rawtls.py's server mode "trickle" (one
record, 3 bytes every 0.1 s): with SO_RCVTIMEO 0.4 s a blocking read must
end with EAGAIN once 0.4 s have passed without plain text, as the kernel
bounds one recv() (the library waited again for each piece and returned the
record after about 1 s); then, without the time-out, the record.  With
SECONDS, SO_RCVTIMEO is that long, and the first read must get the record
(4294968 s came out of the library's int as 704 ms).  With "restart",
SO_RCVTIMEO is 5 s (times TLSSHIM_TIME_SCALE) and a SIGALRM handler with SA_RESTART runs once the read
waits (libc's recv, as CPython would retry): the kernel never restarts a
read that has SO_RCVTIMEO, so the read fails with EINTR (the library
restarted it); the server (mode trickle-hold) then gets "more" and sends
the record's end.  Prints "first errno NAME" or "first data ...", "elapsed S",
then "then REPLY".  With "iov", against the "drip" server (a one-byte record
every 0.3 s): recvmsg with MSG_WAITALL into eight one-byte buffers and a
0.4 s SO_RCVTIMEO ends after 0.4 s with the bytes that came by then, as the
kernel bounds the call (the library waited afresh for each buffer and
filled all eight after about 2.4 s): "iov got N", then "then REST".
"""
import ctypes, errno, os, signal, socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"go\n")
arg = sys.argv[2] if len(sys.argv) > 2 else ""
if arg == "iov":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 400000))
    bufs = [bytearray(1) for _ in range(8)]
    try:
        n = s.recvmsg_into(bufs, 0, socket.MSG_WAITALL)[0]
    except OSError as e:
        n = errno.errorcode.get(e.errno)
    print("iov got", n)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 0))
    rest = b""
    while not rest.endswith(b"\n"):
        d = s.recv(100)
        if not d:
            break
        rest += d
    print("then %r" % rest)
    s.close()
    sys.exit(0)
# The restart case's SO_RCVTIMEO only bounds a signal that never comes:
# scaled like the tests' bounds (a stress run once took over 5 s to signal).
ts = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
secs = int(arg) if arg.isdigit() else int(5 * ts) if arg == "restart" else 0
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", secs, 0 if secs else 400000))
t = time.monotonic()
if arg == "restart":
    libc = ctypes.CDLL(None, use_errno=True)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # CPython's has no SA_RESTART
    signal.signal(signal.SIGALRM, lambda *a: None)
    signal.siginterrupt(signal.SIGALRM, False)          # SA_RESTART
    buf = ctypes.create_string_buffer(100)
    # The signal comes once this thread waits inside the read (a timer set
    # before it could fire first on a loaded machine: no read to end).
    # Again every 0.3 s until the read ends: one that lands while the
    # library decrypts a piece of the trickle (not in a wait: the kernel
    # would not end a recv() there either) runs the handler and nothing
    # else; a library that restarts the read never ends it with EINTR.
    import threading
    main = threading.get_native_id()
    done = threading.Event()
    def kick():
        end = time.monotonic() + 20 * ts
        while time.monotonic() < end and not done.is_set():
            try:
                with open("/proc/self/task/%d/syscall" % main) as f:
                    no = f.read().split()[0]
            except (OSError, IndexError):
                no = "running"
            # poll, ppoll, epoll waits, recvfrom, recvmsg, read: not futex
            # (the interpreter's lock) nor running
            if no in ("7", "271", "232", "281", "441", "45", "47", "0"):
                time.sleep(0.05)   # (still in it: the read's own wait)
                if done.is_set():
                    return
                signal.pthread_kill(threading.main_thread().ident, signal.SIGALRM)
                time.sleep(0.3)
                continue
            time.sleep(0.01)
    threading.Thread(target=kick, daemon=True).start()
    n = libc.recv(s.fileno(), buf, 100, 0)
    done.set()
    if n < 0:
        print("first errno", errno.errorcode.get(ctypes.get_errno()))
    else:
        print("first data %r" % buf.raw[:n])
    # The server (mode trickle-hold) sends the record's end only now: on a
    # loaded machine the whole record could otherwise come before the
    # signal, and the read end with it.
    s.sendall(b"more\n")
else:
    try:
        d = s.recv(100)
        print("first data %r" % d)
        if d and secs:
            # The record came whole: nothing more will (the server
            # waits for our end).
            print("elapsed %.2f" % (time.monotonic() - t))
            s.close()
            sys.exit(0)
    except OSError as e:
        print("first errno", errno.errorcode.get(e.errno))
print("elapsed %.2f" % (time.monotonic() - t))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 0))
print("then %r" % s.recv(100))
s.close()
