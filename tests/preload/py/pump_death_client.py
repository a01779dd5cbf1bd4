"""pump_death_client.py PORT HOW: connect (a connect rule makes it TLS),
say "hello" (the session is live), put the session where the library
hands it to a pump, write "part one" there, print "pumped" on stderr,
then end as HOW says:
  kill    dup2 onto fd 1; SIGKILL itself (a crash mid-reply)
  abort   dup2 onto fd 1; abort() (SIGABRT)
  exit    dup2 onto fd 1; exit normally without closing anything
  _exit   dup2 onto fd 1; os._exit(0)
  close   dup2 onto fd 1; close fd 1 and the socket, then exit
  fclose  the C library's fdopen() on the socket, fputs, fclose, exit
  forked  dup2 onto fd 1; fork; the child writes "part two" and exits;
          the parent waits for it, then is SIGKILLed (nothing written
          after the child's graceful end: a close)
  forked_kill   dup2 onto fd 1; fork; the parent closes its numbers and
          tells the child (a pipe), which then writes "part two" and is
          SIGKILLed (bytes after the last graceful end)
  forked_close  dup2 onto fd 1; fork; the child writes "part two" and
          closes its numbers, the parent waits for it and closes its own
  exec_kill     dup2 onto fd 1; exec a Python program (the library still
          preloaded) that writes "part two" and is SIGKILLed
  exec_exit     the same, but it exits normally
  exec_nolib    the same as exec_exit, without LD_PRELOAD: no library
          to tell the pump of the end (the exec tells it not to wait)
  linger0       dup2 onto fd 1; fork, the child exits; the parent writes
          "part two", sets SO_LINGER {1, 0} on the socket and closes its
          numbers (an abortive close asked for)
  seccomp       dup2 onto fd 1; fork; the child installs a seccomp filter
          that kills for socket() (as sshd's sandbox does), writes "part
          two", closes its numbers and exits; the parent checks that it
          exited 0 (else it is SIGKILLed itself: a truncation), then
          closes its numbers
  seccomp_exec  the same, but the child then execs a Python program (the
          library still preloaded) that starts under the filter, writes
          "part two" and exits: the library must know of the filter it
          was started under, and send no marker
  passed        start a Python program (the library preloaded) that
          connects to a unix socket of this one; pass it the socket with
          SCM_RIGHTS (the session goes to a pump: the receiver runs the
          library), close every number, then tell the receiver, which
          writes "part two", closes it and exits
  exit_late     dlopen EXITDTOR_SO (preload_exitdtor.so: its destructor
          writes "late dtor"); dup2 onto fd 1; exit normally: the test
          preloads preload_exitlate.so too, whose atexit handler, run
          after the library's, writes "late atexit"
  sys_exit_group    dup2 onto fd 1; end by the C library's syscall()
          with SYS_exit_group
  flood         dup2 onto fd 1; stop the pump; write PUMP_FLOOD_DIR/go and
          wait for PUMP_FLOOD_DIR/full (pump_flood.py, started by the
          test, has flooded the pump's names meanwhile); fork: the child
          writes "part two" and closes its numbers, then the parent
          closes its own; let the pump go on
  flood_idle    the same, the pump not stopped (pump_flood.py's "idle":
          connections that say nothing); prints "pump fds N" on stderr,
          the pump's open descriptors once the flooder is done
  badshut_kill  dup2 onto fd 1; shutdown(1, 7), which the kernel refuses
          (EINVAL; else "child status" on stderr); SIGKILL itself
  badshut_forked_kill   the same after a fork whose child waits for the
          parent's death (a pipe's end of file), then SIGKILLs itself:
          no holder ended well
  shutclose     dup2 onto fd 1; stop the pump (SIGSTOP), shutdown(fd 1,
          SHUT_WR), close fd 1 and the socket, let the pump go on
          (SIGCONT): it reads the close's marker, which comes after the
          FIN, with the one for the shutdown
"""
import ctypes
import glob
import os
import select
import signal
import socket
import struct
import sys



def pump_pid(fd):
    """The process that holds the other end of fd's channel (the pump)."""
    ino = os.readlink("/proc/self/fd/%d" % fd)[len("socket:["):-1]
    rows = [ln.split() for ln in open("/proc/net/tcp").read().splitlines()[1:]]
    me = [r for r in rows if r[9] == ino][0]
    other = [r[9] for r in rows if r[1] == me[2] and r[2] == me[1]][0]
    for link in glob.glob("/proc/[0-9]*/fd/*"):
        try:
            if os.readlink(link) == "socket:[%s]" % other:
                return int(link.split("/")[2])
        except OSError:
            pass
    sys.exit("no pump found")


def forked_close():
    """A child writes "part two" and closes its numbers, then the parent
    closes its own."""
    pid = os.fork()
    if pid == 0:
        os.write(1, b"part two\n")
        os.close(1)
        s.close()
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(1)
    s.close()


port, how = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
s.sendall(b"hello\n")
if how == "fclose":
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fdopen.restype = ctypes.c_void_p
    libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
    libc.fputs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    f = libc.fdopen(s.detach(), b"w")
    if not f or libc.fputs(b"part one\n", f) < 0:
        sys.exit("fdopen/fputs failed: errno %d" % ctypes.get_errno())
    sys.stderr.write("pumped\n")
    sys.stderr.flush()
    sys.exit(0 if libc.fclose(f) == 0 else 1)
if how == "passed":
    import subprocess
    path = "pump_death_client.%d" % os.getpid()   # (abstract: this test's namespace)
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind("\0" + path)
    ls.listen(1)
    child = subprocess.Popen([sys.executable, "-c", "import os, socket, sys\n"
                              "u = socket.socket(socket.AF_UNIX)\nu.connect('\\0' + sys.argv[1])\n"
                              "_, fds, _, _ = socket.recv_fds(u, 1, 1)\n"
                              "assert u.recv(1) == b'g'\n"
                              "os.write(fds[0], b'part two\\n')\nos.close(fds[0])\n", path])
    u, _ = ls.accept()
    s.sendall(b"part one\n")
    sys.stderr.write("pumped\n")
    sys.stderr.flush()
    socket.send_fds(u, [b"x"], [s.fileno()])
    s.close()
    u.sendall(b"g")     # (the child writes once this one's end is told)
    u.close()
    if child.wait(timeout=20) != 0:
        sys.stderr.write("child status %d\n" % child.returncode)
    sys.exit(0)
if how == "exit_late":
    ctypes.CDLL(os.environ["EXITDTOR_SO"])
os.dup2(s.fileno(), 1)
os.write(1, b"part one\n")
sys.stderr.write("pumped\n")
sys.stderr.flush()
if how == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
elif how in ("badshut_kill", "badshut_forked_kill"):
    libc = ctypes.CDLL(None, use_errno=True)
    if how == "badshut_forked_kill":
        r, w = os.pipe()
        if os.fork() == 0:
            os.close(w)
            os.read(r, 1)       # (end of file: the parent is dead)
            os.kill(os.getpid(), signal.SIGKILL)
        os.close(r)
    if libc.shutdown(1, 7) != -1 or ctypes.get_errno() != 22:
        sys.stderr.write("child status shutdown(1, 7) not EINVAL: errno %d\n" % ctypes.get_errno())
    os.kill(os.getpid(), signal.SIGKILL)
elif how == "abort":
    os.abort()
elif how == "_exit":
    os._exit(0)
elif how == "sys_exit_group":
    nr = {"x86_64": 231, "aarch64": 94}[os.uname().machine]
    ctypes.CDLL(None).syscall(ctypes.c_long(nr), ctypes.c_long(0))
elif how == "close":
    os.close(1)
    s.close()
elif how == "forked":
    pid = os.fork()
    if pid == 0:
        os.write(1, b"part two\n")
        os._exit(0)
    os.waitpid(pid, 0)
    os.kill(os.getpid(), signal.SIGKILL)
elif how == "forked_kill":
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        if os.read(r, 1) != b"x":
            os._exit(3)
        os.write(1, b"part two\n")
        os.kill(os.getpid(), signal.SIGKILL)
    os.close(r)
    os.close(1)
    s.close()
    os.write(w, b"x")
    os.waitpid(pid, 0)
elif how == "forked_close":
    forked_close()
elif how.startswith("exec_"):
    end = "os.kill(os.getpid(), signal.SIGKILL)" if how == "exec_kill" else "pass"
    env = dict(os.environ)
    if how == "exec_nolib":
        env.pop("LD_PRELOAD", None)
    os.execve(sys.executable, [sys.executable, "-c", "import os, signal\n"
                               "os.write(1, b'part two\\n')\n" + end], env)
elif how in ("seccomp", "seccomp_exec"):
    pid = os.fork()
    if pid == 0:
        nr = {"x86_64": 41, "aarch64": 198}[os.uname().machine]
        op = lambda code, jt, jf, k: struct.pack("HBBI", code, jt, jf, k)
        # A = seccomp_data.nr; socket: kill the process; else allow
        prog = ctypes.create_string_buffer(op(0x20, 0, 0, 0) + op(0x15, 0, 1, nr) +
                                           op(0x06, 0, 0, 0x80000000) + op(0x06, 0, 0, 0x7fff0000))

        class Fprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
        fp = Fprog(4, ctypes.addressof(prog))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
        # PR_SET_NO_NEW_PRIVS, then PR_SET_SECCOMP SECCOMP_MODE_FILTER
        if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.addressof(fp), 0, 0) != 0:
            os._exit(4)
        if how == "seccomp_exec":
            os.execv(sys.executable, [sys.executable, "-c", "import os\n"
                                      "os.write(1, b'part two\\n')\nos.close(1)\n"])
        os.write(1, b"part two\n")
        os.close(1)
        s.close()
        os._exit(0)
    _, st = os.waitpid(pid, 0)
    if st != 0:
        sys.stderr.write("child status %d\n" % st)
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    os.close(1)
    s.close()
elif how in ("flood", "flood_idle"):
    d = os.environ["PUMP_FLOOD_DIR"]
    pump = pump_pid(1)
    if how == "flood":
        os.kill(pump, signal.SIGSTOP)
    try:
        open(os.path.join(d, "go"), "w").close()
        for _ in range(2000):       # 20 s at most
            if os.path.exists(os.path.join(d, "full")):
                break
            select.select([], [], [], 0.01)
        if how == "flood_idle":
            # (the pump holds at most 16 silent connections)
            sys.stderr.write("pump fds %d\n" % len(os.listdir("/proc/%d/fd" % pump)))
        forked_close()
    finally:
        os.kill(pump, signal.SIGCONT)
elif how == "shutclose":
    pump = pump_pid(1)
    os.kill(pump, signal.SIGSTOP)
    try:
        s.shutdown(socket.SHUT_WR)
        os.close(1)
        s.close()
    finally:
        os.kill(pump, signal.SIGCONT)
elif how == "linger0":
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    os.write(1, b"part two\n")
    # (one socket under both numbers: the option is the socket's)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    os.close(1)
    s.close()
sys.exit(0)
