"""closefrom_own_linger.py HOW PORT CERT KEY — under the library
(tests/preload/closefrom_own.sh), with TLSSHIM_LOG_FILE and debug logging,
a connect rule making PORT TLS.

A TLS server of the program's own (Python ssl, a thread) listens on PORT;
the program connects to it (TLS by the library), sends a line, and
closes: the library sends close_notify and its FIN and hands a duplicate
of the socket to the linger thread (the log line "lingering close"; the
server thread holds its end open).  Then HOW (closefrom / close_range)
from the number above the program's highest, the library's own numbers
(the lingering duplicate among them) looked up before and after as in
closefrom_own.py, and the program puts the read end of a socket pair of
its own at each of their numbers or the lowest free one above (F_DUPFD)
and writes PROGRAM DATA into the pair.  The server ends its side: the
linger thread sees the FIN and lets go of the socket (the log line
"lingering socket done", awaited at most 10 s).  The program reads its
pair: PROGRAM DATA must still be there (had the duplicate's number been
closed, the linger thread would read the program's socket in its place).
Prints "own before N: ...", "own lost K: ...", "linger done BOOL", "pair DATA".
"""
import fcntl, os, socket, ssl, sys, threading, time
from closefrom_common import close_around, cloexec, fds
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
how, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
logpath = os.environ["TLSSHIM_LOG_FILE"]


def log_has(text):
    """Until the log file has a line with text, at most 10 s."""
    end = time.monotonic() + 10 * S
    while time.monotonic() < end:
        with open(logpath) as f:
            if text in f.read():
                return True
        time.sleep(0.01)
    return False


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(1)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
got, go, srv = {}, threading.Event(), {}


def server():
    a, _ = ls.accept()
    s = ctx.wrap_socket(a, server_side=True)
    srv["fd"] = s.fileno()
    data = b""
    while not data.endswith(b"\n"):
        data += s.recv(100)
    got["line"] = data
    go.wait(20 * S)
    s.close()


t = threading.Thread(target=server)
t.start()
c = socket.create_connection(("127.0.0.1", port))
c.sendall(b"hello\n")
c.close()
print("lingering %s" % log_has("lingering close"))
prog = {k for k, v in fds().items() if not cloexec(v)}
first = max([ls.fileno(), srv.get("fd", 0)] + [k for k in prog if k < 900]) + 1
before = {k: v for k, v in fds().items() if k >= first and cloexec(v)}
close_around(how, first, before)
r, w = socket.socketpair()
mine = [fcntl.fcntl(r.fileno(), fcntl.F_DUPFD, k) for k in sorted(before)]
print("pair fds %s" % mine, flush=True)
w.sendall(b"PROGRAM DATA")
go.set()
print("linger done %s" % log_has("lingering socket done"), flush=True)
t.join(10 * S)
r.setblocking(False)
try:
    print("pair %r" % r.recv(100))
except BlockingIOError:
    print("pair (nothing)")
for k in mine:
    os.close(k)
