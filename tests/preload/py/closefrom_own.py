"""closefrom_own.py PORT SENTINEL HOW WHERE FILE — under the library
(tests/preload/closefrom_own.sh), with TLSSHIM_LOG_FILE and debug logging.

A TLS session on PORT (one line echoed), and HOW (closefrom: closefrom(N);
close_range: close_range(N, ~0U, 0)), as a daemon or OpenSSH's client does:
 - WHERE = start: at start-up, N = 3, before the session is made;
 - WHERE = fd0: the session's socket dup2()ed onto fd 0 first (a pump
   process then holds the session; fd 0 is the program's plaintext end), N = 3;
 - WHERE = keep: N = the socket's number + 1 (the session stays where it
   is), while another thread is blocked in a read on it (waiting in the
   library's ppoll, on the socket and its eventfd: looked up in
   /proc/self/task/TID/syscall, bounded).
The library's own descriptors (every close-on-exec number >= 3 open before
the call, other than the program's socket numbers: the log file, the linger
thread's wake pipe, the waiters' eventfd...) are looked up in
/proc/self/fd before and after: each must still be open on the same file
(readlink, and the same flags in /proc/self/fdinfo).  Then the program puts
a file of its own at each of their numbers, or the lowest free one above
it (F_DUPFD: as a program that keeps its files high does), the session
echoes a second line (to the blocked reader, WHERE = keep), the program
writes PROGRAM DATA into its file and closes the session (close_notify;
the library's linger hand-over writes to its wake pipe).  The caller
checks that the file holds exactly PROGRAM DATA.
Prints "own before N: ...", "own lost K: ...", "file fds [...]", "echo2 ok|bad ...".
"""
import fcntl, os, platform, socket, sys, threading, time
from closefrom_common import close_around, cloexec, fds
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
port, sent, how, where, path = (int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3], sys.argv[4],
                                sys.argv[5])
logpath = os.environ["TLSSHIM_LOG_FILE"]
PPOLL = {"x86_64": 271, "aarch64": 73}.get(platform.machine())


def line(fd):
    got = b""
    while not got.endswith(b"\n"):
        r = os.read(fd, 100)
        if not r:
            break
        got += r
    return got


def close_all(first, prog):
    """HOW from first; the library's own (before) and the program's files
    at their numbers (mine)."""
    # (the library's own are close-on-exec; what the runner left open is not)
    before = {k: v for k, v in fds().items() if k >= 3 and k not in prog and cloexec(v)}
    close_around(how, first, before)
    f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    mine = [fcntl.fcntl(f, fcntl.F_DUPFD, k) for k in sorted(before)]
    print("file fds %s" % mine, flush=True)
    return f, mine


if where == "start":
    f, mine = close_all(3, ())
s = socket.create_connection(("127.0.0.1", port))
sfd = s.fileno()
os.write(sfd, sent + b" one\n")
line(sfd)
res = {}
if where == "keep":
    def reader():
        res["tid"] = threading.get_native_id()
        res["got"] = line(sfd)
    t = threading.Thread(target=reader)
    t.start()
    # until the reader waits in the kernel (ppoll; any sleeping call where
    # the number is unknown), at most 10 s
    end = time.monotonic() + 10 * S
    while time.monotonic() < end:
        try:
            with open("/proc/self/task/%d/syscall" % res["tid"]) as tf:
                nr = tf.read().split()[0]
            if (PPOLL is not None and nr == str(PPOLL)) or (PPOLL is None and nr != "running"):
                break
        except (KeyError, OSError):
            pass
        time.sleep(0.005)
    else:
        print("reader never waited")
    f, mine = close_all(sfd + 1, (sfd,))
elif where == "fd0":
    os.dup2(sfd, 0)
    s.detach()
    f, mine = close_all(3, (0, sfd))
    sfd = 0
os.write(sfd, sent + b" two\n")
if where == "keep":
    t.join(10 * S)
    got = res.get("got", b"(the reader is still blocked)")
else:
    got = line(sfd)
print("echo2 %s" % ("ok" if got == sent + b" two\n" else "bad %r" % got), flush=True)
os.write(f, b"PROGRAM DATA")
if where == "fd0":
    os.close(0)
else:
    s.close()
for k in mine:
    os.close(k)
os.close(f)
