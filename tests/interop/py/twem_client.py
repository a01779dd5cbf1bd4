#!/usr/bin/env python3
"""twem_client.py — Redis protocol clients over TLS for a proxy that
multiplexes them onto its server connections (tests/interop/nutcracker.sh):
N connections at once, each verified against CA for "localhost", each
writing K keys of its own (SET with a value of SIZE random bytes, all
pipelined in one write), then reading them all back (GET, pipelined) and
comparing, then MGET of all K in one command (split by the proxy across
its servers and joined again), then a clean TLS close.

  twem_client.py PORT CA N K SIZE

Prints "ok J of N" and the first errors; exit 0 when all N worked
(fanout.py).
"""
import base64
import os
import sys

import fanout


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Reader:
    def __init__(self, s):
        self.s, self.buf = s, b""

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("end of stream")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def reply(self):
        l = self.line()
        if l[:1] in (b"+", b"-", b":"):
            return l
        if l[:1] == b"$":
            n = int(l[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.fill()
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if l[:1] == b"*":
            return [self.reply() for _ in range(int(l[1:]))]
        raise ValueError("reply %r" % l[:40])


def one(ctx, port, i, k, size):
    s = fanout.connect(ctx, port)
    r = Reader(s)
    keys = [b"c%d:k%d" % (i, j) for j in range(k)]
    vals = [base64.b64encode(os.urandom(size)) for _ in range(k)]
    s.sendall(b"".join(cmd(b"SET", kk, v) for kk, v in zip(keys, vals)))
    for kk in keys:
        rep = r.reply()
        if rep != b"+OK":
            raise ValueError("SET %s: %r" % (kk.decode(), rep))
    s.sendall(b"".join(cmd(b"GET", kk) for kk in keys))
    for kk, v in zip(keys, vals):
        if r.reply() != v:
            raise ValueError("GET %s: not the value set" % kk.decode())
    s.sendall(cmd(b"MGET", *keys))
    if r.reply() != vals:
        raise ValueError("MGET: not the values set")
    s.unwrap().close()  # a close_notify each way, then the TCP close


def main():
    port, ca, n, k, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    ctx = fanout.context(ca)
    fanout.run(n, lambda i: one(ctx, port, i, k, size))


main()
