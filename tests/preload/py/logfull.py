#!/usr/bin/env python3
"""tests/preload/py/logfull.py: a log that cannot keep up never holds the
program up, never kills it, never changes its signal state (log.sh).

Driver: logfull.py PRELOAD POLICY PORT DIR TS [SMALLDIR]
  runs a child (this file, "child") under the library with a deny rule on
  PORT (each connect makes one warn line) and prints one line per case:
  "ok CASE detail" or "bad CASE detail".
Child: reads commands on stdin, answers on stdout.
"""
import os
import select
import signal
import socket
import subprocess
import sys
import time


def child():
    port = int(os.environ["LF_PORT"])
    for cmd in sys.stdin:
        cmd = cmd.strip()
        if cmd == "deny":
            t = time.monotonic()
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                pass
            s.close()
            print("denied %d" % int((time.monotonic() - t) * 1000), flush=True)
        elif cmd == "fill2":
            # Fill standard error's pipe through an open file of our own:
            # fd 2's own file stays blocking.
            w = os.open("/proc/self/fd/2", os.O_WRONLY | os.O_NONBLOCK)
            try:
                while True:
                    os.write(w, b"#" * 4095 + b"\n")
            except BlockingIOError:
                pass
            os.close(w)
            print("filled", flush=True)
        elif cmd == "sigdfl":
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            print("ok", flush=True)
        elif cmd == "sigblock":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
            print("ok", flush=True)
        elif cmd == "state":
            import fcntl
            pend = signal.SIGPIPE in signal.sigpending()
            blk = signal.SIGPIPE in signal.pthread_sigmask(signal.SIG_BLOCK, set())
            nb = bool(fcntl.fcntl(2, fcntl.F_GETFL) & os.O_NONBLOCK)
            print("state pending=%d blocked=%d nonblock2=%d" % (pend, blk, nb), flush=True)
        elif cmd == "quit":
            return


class Child:
    def __init__(self, env, stderr, bound):
        self.bound = bound
        self.p = subprocess.Popen([sys.executable, __file__, "child"], env=env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=stderr, pass_fds=())

    def ask(self, cmd):
        """The child's answer, or why there is none."""
        try:
            self.p.stdin.write((cmd + "\n").encode())
            self.p.stdin.flush()
        except OSError:
            pass
        r, _, _ = select.select([self.p.stdout], [], [], self.bound)
        if not r:
            return "(no answer in %d s: stalled)" % self.bound
        line = self.p.stdout.readline().decode().strip()
        if not line:
            self.p.wait(self.bound)
            return "(the child ended: status %s)" % self.p.returncode
        return line

    def end(self):
        try:
            self.p.stdin.write(b"quit\n")
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(self.bound)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def drain(fd):
    out = b""
    while True:
        try:
            d = os.read(fd, 65536)
        except BlockingIOError:
            return out
        if not d:
            return out
        out += d


def read_until(fd, want, bound):
    """What fd gives until a line holding want, for at most bound s."""
    out = b""
    end = time.monotonic() + bound
    while want not in out and time.monotonic() < end:
        select.select([fd], [], [], 0.2)
        out += drain(fd)
    return out.replace(b"#" * 4095 + b"\n", b"").decode(errors="replace")


def fill(path):
    """A reader on the FIFO that has filled it; returns its fd."""
    r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        while True:
            os.write(w, b"#" * 4095 + b"\n")
    except BlockingIOError:
        pass
    os.close(w)
    return r


def res(ok, case, detail):
    print("%s %s %s" % ("ok" if ok else "bad", case, detail), flush=True)


def dropped_then_line(text):
    """The count line, then the deny line, in that order."""
    lines = text.splitlines()
    for i, l in enumerate(lines):
        if " 1 log line dropped: " in l and i + 1 < len(lines) and "connection refused by policy" in lines[i + 1]:
            return l.split(": error: ", 1)[-1]
    return None


def main():
    preload, policy, port, d, ts = sys.argv[1:6]
    small = sys.argv[6] if len(sys.argv) > 6 else ""
    bound = 10 * int(ts)
    base = dict(os.environ, LD_PRELOAD=preload, TLSSHIM_CONFIG=policy, LF_PORT=port, TLSSHIM_LOG="warn")
    base.pop("TLSSHIM_LOG_FILE", None)

    # 1. TLSSHIM_LOG_FILE a FIFO whose reader stopped reading, full.
    fifo = os.path.join(d, "lf-full.fifo")
    os.mkfifo(fifo)
    r = fill(fifo)
    c = Child(dict(base, TLSSHIM_LOG_FILE=fifo), subprocess.DEVNULL, bound)
    a = c.ask("deny")
    res(a.startswith("denied"), "fifo_full_no_stall", a)
    drain(r)
    a2 = c.ask("deny")
    got = read_until(r, b"connection refused by policy", bound)
    cnt = dropped_then_line(got)
    res(cnt is not None, "fifo_full_counted", cnt or "%s; the FIFO got %r" % (a2, got[-400:]))
    c.end()
    os.close(r)

    # 2. Standard error a pipe whose reader stopped reading, full (fd 2's
    # open file blocking, as a supervisor's pipe is).
    pr, pw = os.pipe()
    os.set_blocking(pr, False)
    c = Child(base, pw, bound)
    os.close(pw)
    a0 = c.ask("fill2")
    a = c.ask("deny")
    st = c.ask("state")
    res(a0 == "filled" and a.startswith("denied") and "nonblock2=0" in st, "stderr_full_no_stall",
        "%s, %s, %s" % (a0, a, st))
    drain(pr)
    a2 = c.ask("deny")
    got = read_until(pr, b"connection refused by policy", bound)
    cnt = dropped_then_line(got)
    res(cnt is not None, "stderr_full_counted", cnt or "%s; the pipe got %r" % (a2, got[-400:]))
    c.end()
    os.close(pr)

    # 3. TLSSHIM_LOG_FILE a FIFO whose reader has gone: SIGPIPE default,
    # then blocked by the program: it neither dies nor finds one pending.
    fifo = os.path.join(d, "lf-gone.fifo")
    os.mkfifo(fifo)
    r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    c = Child(dict(base, TLSSHIM_LOG_FILE=fifo), subprocess.DEVNULL, bound)
    c.ask("sigdfl")
    os.close(r)
    a = c.ask("deny")
    s1 = c.ask("state")
    c.ask("sigblock")
    a2 = c.ask("deny")
    s2 = c.ask("state")
    res(a.startswith("denied") and "pending=0 blocked=0" in s1, "fifo_gone_no_sigpipe", "%s, %s" % (a, s1))
    res(a2.startswith("denied") and "pending=0 blocked=1" in s2, "fifo_gone_sigpipe_blocked_not_pending",
        "%s, %s" % (a2, s2))
    c.end()

    # 4. Standard error a pipe whose reader has gone.
    pr, pw = os.pipe()
    c = Child(base, pw, bound)
    os.close(pw)
    os.close(pr)
    c.ask("sigdfl")
    a = c.ask("deny")
    s1 = c.ask("state")
    res(a.startswith("denied") and "pending=0 blocked=0" in s1, "stderr_gone_no_sigpipe", "%s, %s" % (a, s1))
    c.end()

    # 5. TLSSHIM_LOG_FILE on a full file system (ENOSPC), then room again.
    if small:
        log = os.path.join(small, "log")
        open(log, "w").close()
        filler = os.path.join(small, "filler")
        with open(filler, "wb", buffering=0) as f:
            try:
                for _ in range(4096):
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        c = Child(dict(base, TLSSHIM_LOG_FILE=log), subprocess.DEVNULL, bound)
        a = c.ask("deny")
        os.unlink(filler)
        a2 = c.ask("deny")
        c.end()
        with open(log, errors="replace") as f:
            got = f.read()
        cnt = dropped_then_line(got)
        res(cnt is not None and got.count("connection refused by policy") == 1, "enospc_counted",
            cnt or "%s, %s; the log holds %r" % (a, a2, got[-400:]))


if __name__ == "__main__":
    if sys.argv[1:] == ["child"]:
        child()
    else:
        main()
