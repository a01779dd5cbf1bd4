#!/usr/bin/env python3
"""dot.py — DNS over TLS (RFC 7858: DNS messages with a 2-byte length, on
TLS) for tests/interop/dnsmasq.sh, both ends:

  dot.py server PORT CERT KEY ADDR   an upstream resolver on 127.0.0.1:PORT
      (TLS only) that answers every A question with ADDR; prints "ready",
      then "answered NAME" for each; serves until killed, at most 120 s.
  dot.py client PORT CA NAME...      one connection (verified against CA
      for "localhost"), every question sent at once (pipelined), then one
      line per answer: "NAME rcode R answers N addr A.B.C.D|-"; ends with
      close_notify.  Exit 0 when every answer came.

Every socket has a timeout (x TLSSHIM_TIME_SCALE).
"""
import os
import socket
import ssl
from strict_tls import strict_server_ctx, strict_client_ctx, listener, connect
import struct
import sys
import threading

S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))


def read_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError("end of stream")
        b += d
    return b


def qname(m):
    i, labels = 12, []
    while m[i]:
        labels.append(m[i + 1:i + 1 + m[i]].decode())
        i += 1 + m[i]
    return ".".join(labels), i + 5


def server(port, cert, key, addr):
    ctx = strict_server_ctx(cert, key)
    ls = listener(port, 16)
    ip = bytes(int(x) for x in addr.split("."))
    threading.Timer(120 * S, os._exit, (0,)).start()
    print("ready", flush=True)

    def serve(c):
        try:
            c.settimeout(10 * S)
            s = ctx.wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
            while True:
                m = read_exact(s, struct.unpack(">H", read_exact(s, 2))[0])
                name, end = qname(m)
                r = (m[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0) + m[12:end] +
                     b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + ip)
                s.sendall(struct.pack(">H", len(r)) + r)
                print("answered", name, flush=True)
        except (OSError, EOFError):
            pass

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def client(port, ca, names):
    ctx = strict_client_ctx(ca)
    s = connect(ctx, port, 15 * S)
    out = b""
    for i, n in enumerate(names):
        m = struct.pack(">HHHHHH", i + 1, 0x0100, 1, 0, 0, 0) + b"".join(
            bytes([len(x)]) + x.encode() for x in n.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
        out += struct.pack(">H", len(m)) + m
    s.sendall(out)
    got = {}
    for _ in names:
        m = read_exact(s, struct.unpack(">H", read_exact(s, 2))[0])
        qid, flags, _qd, an = struct.unpack(">HHHH", m[:8])
        got[qid] = "rcode %d answers %d addr %s" % (
            flags & 15, an, ".".join(str(x) for x in m[-4:]) if an else "-")
    for i, n in enumerate(names):
        print(n, got.get(i + 1, "missing"), flush=True)
    s.unwrap()
    s.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        try:
            client(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
        except Exception as e:  # noqa: BLE001 - reported, exit 1
            print("error", type(e).__name__, e, flush=True)
            sys.exit(1)
