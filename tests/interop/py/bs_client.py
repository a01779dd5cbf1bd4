#!/usr/bin/env python3
"""bs_client.py — beanstalkd clients over TLS (tests/interop/beanstalkd.sh):
N consumers, each verified against CA for "localhost", watch the tube
"t" and block in "reserve"; then one producer (its own TLS connection)
puts N jobs of SIZE random bytes each into "t".  Each consumer must get
one job whole (the producer's write wakes a reserve waiting on another
connection), delete it and quit (beanstalkd closes: a clean TLS close);
the N bodies received must be the N bodies put, each once.

  bs_client.py PORT CA N SIZE

Prints "ok K of N" and the first errors; exit 0 when all N worked
(fanout.py).
"""
import hashlib
import os
import sys
import threading

import fanout


class Conn:
    def __init__(self, ctx, port):
        self.s = fanout.connect(ctx, port)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("end of stream after %r" % self.buf[:60])
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def body(self, n):
        while len(self.buf) < n + 2:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("end of stream in a body: %d of %d bytes" % (len(self.buf), n))
            self.buf += d
        b, rest = self.buf[:n], self.buf[n:]
        if rest[:2] != b"\r\n":
            raise ValueError("body not ended by CRLF")
        self.buf = rest[2:]
        return b

    def quit(self):
        """quit, then read to the end: beanstalkd closes, and the shim
        must end the stream with a close_notify (a bare FIN raises)."""
        self.s.sendall(b"quit\r\n")
        while self.s.recv(65536):
            pass
        self.s.close()

    def cmd(self, c, want):
        self.s.sendall(c)
        r = self.line()
        if not r.startswith(want):
            raise ValueError("%r: %r" % (c[:20], r[:80]))
        return r


def consumer(c, got, errs):
    try:
        c.s.sendall(b"reserve\r\n")
        r = c.line().split()
        if len(r) != 3 or r[0] != b"RESERVED":
            raise ValueError("reserve: %r" % r)
        body = c.body(int(r[2]))
        got.append(hashlib.sha256(body).hexdigest())
        c.cmd(b"delete %s\r\n" % r[1], b"DELETED")
        c.quit()
    except Exception as e:  # noqa: BLE001 - reported
        errs.append("consumer: %s: %s" % (type(e).__name__, e))


def main():
    port, ca, n, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ctx = fanout.context(ca)
    errs, got, put, threads = [], [], [], []
    try:
        consumers = []
        for _ in range(n):
            c = Conn(ctx, port)
            c.cmd(b"watch t\r\n", b"WATCHING 2")
            consumers.append(c)
        for c in consumers:
            t = threading.Thread(target=consumer, args=(c, got, errs))
            t.start()
            threads.append(t)
        p = Conn(ctx, port)
        p.cmd(b"use t\r\n", b"USING t")
        for _ in range(n):
            v = os.urandom(size)
            put.append(hashlib.sha256(v).hexdigest())
            p.cmd(b"put 0 0 60 %d\r\n" % size + v + b"\r\n", b"INSERTED ")
        p.quit()
    except Exception as e:  # noqa: BLE001 - reported
        errs.append("setup/producer: %s: %s" % (type(e).__name__, e))
    for t in threads:
        t.join(fanout.TIMEOUT * 2)
    ok = len(set(got) & set(put))
    if sorted(got) != sorted(put):
        errs.append("%d bodies received, %d put, %d the same" % (len(got), len(put), ok))
    fanout.finish(ok, n, errs)


main()
