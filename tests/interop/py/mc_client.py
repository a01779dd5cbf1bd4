#!/usr/bin/env python3
"""mc_client.py — memcached text-protocol clients over TLS
(tests/interop/memcached.sh): N connections at once, each verified
against CA for "localhost", each storing a value of SIZE random bytes
under its own key, getting it back, then 50 small set/get pairs written
in one go (pipelined) and read back, then "quit".

  mc_client.py PORT CA N SIZE

Prints "ok K of N" and the first errors; exit 0 when all N worked.  Every
socket has a 20 s timeout (x TLSSHIM_TIME_SCALE).
"""
import os
import socket
import ssl
from strict_tls import strict_client_ctx
import sys
import threading

TIMEOUT = 20 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))


def recv_exact_end(s, end, limit):
    buf = b""
    while not buf.endswith(end):
        d = s.recv(65536)
        if not d:
            raise EOFError("end of stream after %d bytes" % len(buf))
        buf += d
        if len(buf) > limit:
            raise ValueError("more than %d bytes" % limit)
    return buf


def one(ctx, port, i, size, errs):
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
        v = os.urandom(size)
        s.sendall(b"set key%d 0 0 %d\r\n" % (i, len(v)) + v + b"\r\n")
        r = recv_exact_end(s, b"\r\n", 100)
        if r != b"STORED\r\n":
            raise ValueError("set: %r" % r[:80])
        s.sendall(b"get key%d\r\n" % i)
        want = b"VALUE key%d 0 %d\r\n" % (i, len(v)) + v + b"\r\nEND\r\n"
        r = recv_exact_end(s, b"END\r\n", len(want))
        if r != want:
            raise ValueError("get: %d bytes, not the %d stored" % (len(r), len(want)))
        cmds, want = b"", b""
        for k in range(50):
            val = b"v%d.%d" % (i, k)
            cmds += b"set s%d.%d 0 0 %d\r\n%s\r\nget s%d.%d\r\n" % (i, k, len(val), val, i, k)
            want += b"STORED\r\nVALUE s%d.%d 0 %d\r\n%s\r\nEND\r\n" % (i, k, len(val), val)
        s.sendall(cmds)
        got = b""
        while len(got) < len(want):
            d = s.recv(65536)
            if not d:
                break
            got += d
        if got != want:
            raise ValueError("pipelined: %d bytes, %d expected" % (len(got), len(want)))
        s.sendall(b"quit\r\n")
        if s.recv(16) != b"":
            raise ValueError("quit: data instead of the end")
        s.close()
    except Exception as e:  # noqa: BLE001 - counted and reported
        errs.append("%d: %s %s" % (i, type(e).__name__, e))


def main():
    port, ca, n, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ctx = strict_client_ctx(ca)
    errs = []
    ts = [threading.Thread(target=one, args=(ctx, port, i, size, errs)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("ok %d of %d" % (n - len(errs), n))
    for e in errs[:5]:
        print("error", e)
    sys.exit(0 if not errs else 1)


if __name__ == "__main__":
    main()
