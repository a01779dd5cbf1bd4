"""pump_unread_client.py PORT HOW GOFILE SENTFILE [CLOSING]: connect (a connect rule
makes it TLS), send "request", wait until the peer's "late one" is there
to be read, and leave it unread; then, once the peer has sent "late two"
too (SENTFILE, and the kernel's receive queue of the TCP connection, in
/proc/net/tcp, not empty), write the reply and close: a close with data
unread, which resets a TCP connection.  HOW:
  direct  the session stays in this process
  pump    fork first (the child exits at once): the session goes to a
          pump.  The pump is stopped (SIGSTOP) before the peer sends
          "late two", and continued after the close, so that it meets
          "late two" for the program, and the channel's reset, before the
          reply that is waiting on its end of the channel
  big     as pump, but the reply is written without blocking until the
          channel's buffers are full (the stopped pump reads nothing), so
          that the program's end still holds part of it, unsent, at the
          close (which a reset would throw away)
  bigabort  as big, but with SO_LINGER {1, 0} set before the close: an
          abortive close, on purpose
  bigdirect  as direct, but the reply is written without blocking until
          the buffers are full: the peer reads nothing of it until
          CLOSING exists, created right before the close
Prints the reply's length on stdout; errors on stderr (exit 1).
"""
import os
import select
import signal
import socket
import struct
import sys
import time

S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
port, how, go, sent = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
closing = sys.argv[5] if len(sys.argv) > 5 else None
pumped = how in ("pump", "big", "bigabort")
REPLY = b"reply: " + b"r" * 3000 + b" end of the reply\n"


def die(why):
    sys.stderr.write(why + "\n")
    sys.exit(1)


def until(what, cond, secs=10):
    end = time.time() + secs * S
    while not cond():
        if time.time() > end:
            die("timed out waiting for " + what)
        time.sleep(0.01)


def rx_queue(lport):
    """The receive queue of the TCP connection 127.0.0.1:LPORT - :port."""
    with open("/proc/net/tcp") as f:
        for row in f.readlines()[1:]:
            v = row.split()
            if int(v[1].split(":")[1], 16) == lport and int(v[2].split(":")[1], 16) == port:
                return int(v[4].split(":")[1], 16)
    return 0


def holder(ino):
    """The process, other than this one, that holds socket inode INO."""
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % p):
                if os.readlink("/proc/%s/fd/%s" % (p, fd)) == "socket:[%d]" % ino:
                    return int(p)
        except OSError:
            pass
    return 0


def state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


s = socket.create_connection(("127.0.0.1", port), timeout=20 * S)
s.sendall(b"request\n")
lport, ino, pump = s.getsockname()[1], os.fstat(s.fileno()).st_ino, 0
if pumped:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
if not select.select([s], [], [], 10 * S)[0]:
    die("late one never came")
if pumped:
    pump = holder(ino)
    if not pump:
        die("no pump holds the TCP connection")
    os.kill(pump, signal.SIGSTOP)
    until("the pump to stop", lambda: state(pump) == "T")
open(go, "w").close()
until("the peer's late two", lambda: os.path.exists(sent) and rx_queue(lport) > 0)
if how in ("big", "bigabort", "bigdirect"):
    # (a small send buffer: less to carry, and still some of it unsent)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    s.setblocking(False)
    total, chunk = 0, b"r" * 65536
    for _ in range(2048):              # 128 MB at most
        try:
            total += s.send(chunk)
        except BlockingIOError:
            break
    else:
        die("the buffers took 128 MB with nothing read")
else:
    s.sendall(REPLY)
    total = len(REPLY)
if how == "bigabort":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
if closing:
    open(closing, "w").close()
s.close()
if pump:
    os.kill(pump, signal.SIGCONT)
print(total, flush=True)
