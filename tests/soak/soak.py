"""soak.py — the soak run's load driver (tests/preload/soak.sh, make soak).

  soak.py load --redis P --fork P --thread P --ca CA --seconds S
               [--workers W] [--seed N]
      Mixed load for S seconds from W threads (default 8), each running one
      TLS connection after another (Python ssl over memory BIOs: a real TLS
      peer whose every record, close_notify and FIN we decide) against a
      random one of the three servers:
        redis (redis-server, accept rule): SET/GET of random values (1 byte
          to 1 MB), sometimes pipelined, each GET checked with SHA-256;
          ends with QUIT (the server closes), close_notify, an abort (FIN
          without close_notify) or a reset (SO_LINGER 0) in the middle of a
          command; now and then a BGSAVE (redis forks with live sessions).
        fork / thread (tests/soak/soak_server.py): random writes of 1 byte
          to 1 MB, runs of 1-byte writes; every echoed byte is compared
          with what was sent, and a SHA-256 of each side at the end; ends
          with close_notify both ways, a half-close (close_notify + FIN,
          then the rest of the echo is read), a client abort or reset at a
          random point, or a server close or reset after N bytes.
      Prints one "soak:" line with the counts; exits 1 on any corruption or
      unexpected error (each printed on stderr), 0 otherwise.

  soak.py settle --port P --pid PID [--seconds S]
      Waits (at most S s, default 30) until no TCP socket on port P is left
      but the listener and TIME-WAIT ones (every connection, pumps included,
      has ended), then prints "fds=N rss_kb=M eventfds=E threads=T" for
      PID (fds: all but the eventfds, which are counted apart).
"""
import argparse, hashlib, os, random, select, socket, ssl, struct, subprocess, sys, threading, time
from strict_tls import strict_client_ctx, truncated

TS = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
MB = 1 << 20
CONN_TIMEOUT = 60 * TS   # one connection, at most (soak.py load --conn-timeout)


class Unexpected(Exception):
    pass


class Corrupt(Exception):
    pass


class Conn:
    """A TLS client over a non-blocking TCP socket and two memory BIOs."""

    def __init__(self, ctx, port, deadline):
        self.deadline = deadline
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10 * TS)
        self.sock.setblocking(False)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost")
        self.wbuf = bytearray()
        self.eof = False            # TCP end of data seen
        self.wclosed = False

    def io(self, want_read=True):
        """Move TLS bytes between the BIOs and the socket; waits (bounded)
        until at least one direction can move."""
        if self.out.pending:
            self.wbuf += self.out.read()
        r = [self.sock] if want_read and not self.eof else []
        w = [self.sock] if self.wbuf and not self.wclosed else []
        if not r and not w:
            return
        left = self.deadline - time.time()
        if left <= 0:
            raise Unexpected("connection deadline passed (%s)" % self.where())
        rr, ww, _ = select.select(r, w, [], min(left, 1.0))
        if ww:
            try:
                n = self.sock.send(self.wbuf)
                del self.wbuf[:n]
            except BlockingIOError:
                pass
        if rr:
            try:
                d = self.sock.recv(262144)
            except BlockingIOError:
                return
            if d:
                self.inc.write(d)
            else:
                self.eof = True
                self.inc.write_eof()

    def where(self):
        try:
            port = self.sock.getsockname()[1]
        except OSError:
            port = 0
        return "client port %d, tcp eof %s, %d bytes to send, %d TLS bytes received not read" % (
            port, self.eof, len(self.wbuf), self.inc.pending)

    def handshake(self):
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                if self.eof:
                    raise Unexpected("EOF during the handshake")
                self.io()
        if self.out.pending:
            self.wbuf += self.out.read()

    def write(self, data):
        self.obj.write(data)
        if self.out.pending:
            self.wbuf += self.out.read()

    def read(self):
        """Application data available now: bytes, b"" on close_notify,
        None if nothing yet.  SSLEOFError on a TCP EOF without close_notify."""
        try:
            return self.obj.read(262144)
        except ssl.SSLWantReadError:
            return None
        except ssl.SSLZeroReturnError:
            return b""

    def flush(self):
        while self.wbuf or self.out.pending:
            self.io(want_read=True)

    def close_notify(self):
        """Send close_notify (and only that).  Python's unwrap() calls
        SSL_shutdown a second time, which reads: application data already
        received would then be "application data after close notify", so
        the caller reads everything received first (read() until None)."""
        try:
            self.obj.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        if self.out.pending:
            self.wbuf += self.out.read()

    def reset(self):
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self):
        self.sock.close()


def sizes(rng, budget):
    """A plan of writes: random sizes from 1 byte to 1 MB, sometimes a run
    of 1-byte writes; at most `budget` bytes in all."""
    plan, total = [], 0
    for _ in range(rng.randint(1, 8)):
        k = rng.random()
        if k < 0.2:
            plan += [1] * rng.randint(1, 200)
        elif k < 0.5:
            plan.append(rng.randint(1, 4096))
        elif k < 0.75:
            plan.append(rng.randint(4096, 65536))
        elif k < 0.92:
            plan.append(rng.randint(65536, MB))
        else:
            plan.append(MB)
        total = sum(plan)
        if total > budget:
            break
    return plan


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}
        self.errors = []

    def add(self, k, n=1):
        with self.lock:
            self.c[k] = self.c.get(k, 0) + n

    def err(self, msg):
        with self.lock:
            self.c["errors"] = self.c.get("errors", 0) + 1
            if len(self.errors) < 30:
                self.errors.append(msg)


def echo_conn(ctx, port, rng, st, name):
    ends = ["full"] * 4 + ["half"] * 2 + ["client_reset", "client_abort", "server_close", "server_reset"]
    end = rng.choice(ends)
    plan = sizes(rng, 3 * MB)
    data = rng.randbytes(sum(plan))
    total = len(data)
    cut = rng.randint(0, total)     # where a client abort/reset or a server close happens
    n = cut if end.startswith("server") else -1
    how = "reset" if end == "server_reset" else "close"
    limit = cut if end != "full" and end != "half" else total
    c = Conn(ctx, port, time.time() + CONN_TIMEOUT)
    sent_h, got_h = hashlib.sha256(), hashlib.sha256()
    c.handshake()
    head = b"SOAK %d %s\n" % (n, how.encode())
    if rng.random() < 0.3:
        for i in range(len(head)):          # the header byte by byte
            c.write(head[i:i + 1])
    else:
        c.write(head)
    sent = 0        # bytes of data given to TLS
    got = 0         # bytes of echo received and compared
    closed = False  # the server's close_notify seen
    pi = 0
    off = 0         # position in data of plan[pi]
    half_done = False

    def check(d):
        nonlocal got
        if got + len(d) > sent or data[got:got + len(d)] != d:
            raise Corrupt("%s: %s: echo differs at byte %d (%d bytes received, %d sent)" %
                          (name, end, got, len(d), sent))
        got_h.update(d)
        got += len(d)
        st.add("bytes_verified", len(d))
    try:
        while True:
            # write more while the socket keeps up
            while pi < len(plan) and sent < limit and len(c.wbuf) < 512 * 1024:
                k = min(plan[pi], limit - sent)
                c.write(data[sent:sent + k])
                sent_h.update(data[sent:sent + k])
                sent += k
                pi += 1
            if end == "half" and sent == total and not half_done:
                while True:
                    d = c.read()
                    if not d:
                        break
                    check(d)
                if d == b"":
                    raise Unexpected("half: close_notify before the echo was complete")
                c.close_notify()
                c.flush()
                c.sock.shutdown(socket.SHUT_WR)
                c.wclosed = True
                half_done = True
                st.add("half_closes")
            # read what is there
            while True:
                try:
                    d = c.read()
                except (ssl.SSLEOFError, ssl.SSLError, OSError) as e:
                    if end in ("server_reset", "client_reset", "client_abort"):
                        d = b""
                        closed = True
                        break
                    raise Unexpected("%s: read: %r after %d/%d bytes" % (end, e, got, total))
                if d is None:
                    break
                if d == b"":
                    closed = True
                    break
                check(d)
            if end in ("client_reset", "client_abort") and sent >= limit and (got >= sent or rng.random() < 0.2):
                if end == "client_reset":
                    c.reset()
                    st.add("resets_client")
                else:
                    c.close()
                    st.add("aborts_client")
                return
            if closed:
                break
            if end == "full" and got == total:
                c.close_notify()
                c.flush()
                end = "full_closing"
            if c.eof and not c.wbuf:
                raise Unexpected("%s: TCP EOF and no close_notify after %d/%d bytes" % (end, got, total))
            c.io()
    except Unexpected as e:
        raise Unexpected("%s: %s; %d/%d bytes echoed, %d sent, %d writes of %d" % (end, e, got, total, sent, pi, len(plan)))
    except OSError as e:
        if end in ("server_reset",):
            closed = True
        else:
            raise Unexpected("%s: %r after %d/%d bytes echoed" % (end, e, got, total))
    # how it ended
    if end in ("full_closing", "half"):
        if got != total or sent_h.digest() != got_h.digest():
            raise Corrupt("%s: %s: %d of %d bytes echoed, checksums %s" %
                          (name, end, got, total, "equal" if sent_h.digest() == got_h.digest() else "differ"))
        st.add("checksums_equal")
    elif end == "server_close":
        if got != cut or sent_h.digest() != got_h.digest():
            raise Corrupt("%s: server_close after %d: %d echoed" % (name, cut, got))
        st.add("checksums_equal")
        st.add("closes_server")
    elif end == "server_reset":
        st.add("resets_server")
    c.close()


# ------------------------------------------------------------------ redis
def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Redis:
    def __init__(self, c):
        self.c = c
        self.buf = bytearray()

    def send(self, rng, msg):
        # sometimes the first bytes one write (one TLS record) each
        k = rng.randint(1, min(len(msg), 200)) if rng.random() < 0.3 else 0
        for i in range(k):
            self.c.write(msg[i:i + 1])
        if k < len(msg):
            self.c.write(msg[k:])

    def _fill(self):
        while True:
            try:
                d = self.c.read()
            except ssl.SSLError as e:
                raise Unexpected("redis read: %r" % e)
            if d == b"":
                raise Unexpected("redis closed the connection")
            if d:
                self.buf += d
                return
            if self.c.eof and not self.c.inc.pending:
                raise Unexpected("redis: EOF")
            self.c.io()

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                ln = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return ln
            self._fill()

    def reply(self):
        ln = self.line()
        if ln[:1] == b"$":
            n = int(ln[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            v = bytes(self.buf[:n])
            if self.buf[n:n + 2] != b"\r\n":
                raise Corrupt("redis bulk reply not ended by CRLF")
            del self.buf[:n + 2]
            return v
        return ln


def redis_conn(ctx, port, rng, st, wid, name):
    c = Conn(ctx, port, time.time() + CONN_TIMEOUT)
    c.handshake()
    r = Redis(c)
    if rng.random() < 0.02:
        r.send(rng, resp("BGSAVE"))
        a = r.reply()
        if a.startswith(b"+Background saving started"):
            st.add("redis_bgsaves")
        elif not a.startswith(b"-ERR"):
            raise Unexpected("BGSAVE: %r" % a)
    end = rng.choice(["quit", "close", "close", "abort", "reset"])
    pairs = rng.randint(1, 6)
    cut = rng.randrange(pairs) if end in ("abort", "reset") else -1
    for i in range(pairs):
        key = "soak:%d:%d" % (wid, rng.randrange(2))
        size = rng.choice([1, rng.randint(1, 4096), rng.randint(4096, 65536), rng.randint(65536, MB), MB])
        val = rng.randbytes(size)
        setc, getc = resp("SET", key, val), resp("GET", key)
        if i == cut:
            # part of a command, then gone
            part = setc[:rng.randint(1, len(setc) - 1)]
            r.send(rng, part)
            c.flush()
            if end == "reset":
                c.reset()
                st.add("resets_client")
            else:
                c.close()
                st.add("aborts_client")
            return
        if rng.random() < 0.5:          # pipelined
            r.send(rng, setc + getc)
            a = r.reply()
            v = r.reply()
        else:
            r.send(rng, setc)
            a = r.reply()
            r.send(rng, getc)
            v = r.reply()
        if a != b"+OK":
            raise Unexpected("SET: %r" % a[:80])
        if v is None or hashlib.sha256(v).digest() != hashlib.sha256(val).digest():
            raise Corrupt("%s: GET %s: %s bytes back for %d, checksums differ" %
                          (name, key, None if v is None else len(v), size))
        st.add("bytes_verified", size)
        st.add("checksums_equal")
    if end == "quit":
        r.send(rng, resp("QUIT"))
        a = r.reply()
        if a != b"+OK":
            raise Unexpected("QUIT: %r" % a)
        # the server closes: close_notify, nothing else (a TCP EOF without
        # it is a truncation: the library's close() sends close_notify)
        while True:
            try:
                d = c.read()
            except ssl.SSLError as e:
                if truncated(e):
                    raise Unexpected("QUIT: TCP EOF without close_notify")
                raise
            if d == b"":
                break
            if d:
                raise Corrupt("data after QUIT: %r" % d[:40])
            if c.eof and not c.inc.pending:
                break
            c.io()
        st.add("closes_server")
    else:
        c.close_notify()
        c.flush()
    c.close()


def load(a):
    ctx = strict_client_ctx(a.ca, minv=ssl.TLSVersion.TLSv1_2)
    st = Stats()
    stop_at = time.time() + a.seconds
    targets = [(k, p) for k, p in (("redis", a.redis), ("fork", a.fork), ("thread", a.thread)) if p]

    def worker(wid):
        rng = random.Random(a.seed * 1000 + wid)
        k = 0
        while time.time() < stop_at:
            kind, port = rng.choice(targets)
            k += 1
            name = "w%d#%d %s" % (wid, k, kind)
            try:
                if kind == "redis":
                    redis_conn(ctx, port, rng, st, wid, name)
                else:
                    echo_conn(ctx, port, rng, st, name)
                st.add("connections")
                st.add("conns_" + kind)
            except Corrupt as e:
                st.add("corrupt")
                st.err("CORRUPT %s" % e)
            except Unexpected as e:
                st.err("%s: %s" % (name, e))
            except Exception as e:      # noqa: BLE001 — every other failure counts
                st.err("%s: %r" % (name, e))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(a.workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(max(1.0, stop_at + CONN_TIMEOUT + 30 - time.time()))
    if any(t.is_alive() for t in ts):
        st.err("a worker did not end in time")
    c = st.c
    resets = c.get("resets_client", 0) + c.get("resets_server", 0)
    print("soak: connections=%d (redis %d, fork %d, thread %d) bytes_verified=%d checksums_equal=%d "
          "resets=%d (client %d, server %d) aborts=%d half_closes=%d server_closes=%d bgsaves=%d "
          "corrupt=%d errors=%d" % (
              c.get("connections", 0), c.get("conns_redis", 0), c.get("conns_fork", 0), c.get("conns_thread", 0),
              c.get("bytes_verified", 0), c.get("checksums_equal", 0), resets, c.get("resets_client", 0),
              c.get("resets_server", 0), c.get("aborts_client", 0), c.get("half_closes", 0),
              c.get("closes_server", 0), c.get("redis_bgsaves", 0), c.get("corrupt", 0), c.get("errors", 0)),
          flush=True)
    for e in st.errors:
        print("soak error: %s" % e, file=sys.stderr)
    return 1 if c.get("errors", 0) or c.get("corrupt", 0) else 0


def settle(a):
    end = time.time() + a.seconds * TS
    busy = ""
    while time.time() < end:
        out = subprocess.run(["ss", "-Htan", "( sport = :%d or dport = :%d )" % (a.port, a.port)],
                             capture_output=True, text=True).stdout
        busy = [ln for ln in out.splitlines() if ln.split() and ln.split()[0] not in ("LISTEN", "TIME-WAIT")]
        if not busy:
            break
        time.sleep(0.1)
    else:
        print("settle: sockets left on port %d: %s" % (a.port, "; ".join(busy)[:500]), file=sys.stderr)
        return 1
    # The shim's waiters' pool keeps the eventfds of ended threads (at most
    # 16, shim/wait.c): counted apart, as they come and go with how many
    # threads waited at once, not with what leaked.
    fds = efds = 0
    for n in os.listdir("/proc/%d/fd" % a.pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (a.pid, n))
        except OSError:
            continue
        if target == "anon_inode:[eventfd]":
            efds += 1
        else:
            fds += 1
    rss = threads = 0
    with open("/proc/%d/status" % a.pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                rss = int(ln.split()[1])
            elif ln.startswith("Threads:"):
                threads = int(ln.split()[1])
    print("fds=%d rss_kb=%d eventfds=%d threads=%d" % (fds, rss, efds, threads))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("load")
    l.add_argument("--redis", type=int, default=0)     # 0: no load on that one
    l.add_argument("--fork", type=int, default=0)
    l.add_argument("--thread", type=int, default=0)
    l.add_argument("--ca", required=True)
    l.add_argument("--seconds", type=float, required=True)
    l.add_argument("--workers", type=int, default=8)
    l.add_argument("--seed", type=int, default=1)
    l.add_argument("--conn-timeout", type=float, default=60)
    s = sub.add_parser("settle")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--seconds", type=float, default=30)
    a = p.parse_args()
    global CONN_TIMEOUT
    if a.cmd == "load":
        CONN_TIMEOUT = a.conn_timeout * TS
    sys.exit(load(a) if a.cmd == "load" else settle(a))


if __name__ == "__main__":
    main()
