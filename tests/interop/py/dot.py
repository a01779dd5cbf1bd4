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
  dot.py load PORT CA CONNS N        CONNS connections at once, each with N
      questions pipelined: hK.ZONE (ZONE: $DOT_ZONE, default example.test;
      K = connection * N + question, mod 65536), whose answer must hold
      the address 10.0.K/256.K%256 (tests/interop/nsd.sh's zone); prints
      "load ok X of Y"; exit 0 when X = Y.
  dot.py axfr PORT CA ZONE           a zone transfer (AXFR) on one
      connection: "axfr messages M records R" once the closing SOA came.
  dot.py hold PORT CA                one question (the zone's SOA), prints
      "answered", then reads until the server ends the connection: "eof
      clean" (close_notify) or "eof ragged"; exit 0 when clean.

Every socket has a timeout (x TLSSHIM_TIME_SCALE).
"""
import os
import socket
import ssl
from strict_tls import strict_server_ctx, strict_client_ctx, listener, connect, truncated
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


def question(qid, name, qtype=1):
    """A DNS question of class IN, with its 2-byte length (RFC 7858)."""
    m = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"".join(
        bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0" + struct.pack(">HH", qtype, 1)
    return struct.pack(">H", len(m)) + m


def answer(s):
    return read_exact(s, struct.unpack(">H", read_exact(s, 2))[0])


def client(port, ca, names):
    ctx = strict_client_ctx(ca)
    s = connect(ctx, port, 15 * S)
    s.sendall(b"".join(question(i + 1, n) for i, n in enumerate(names)))
    got = {}
    for _ in names:
        m = answer(s)
        qid, flags, _qd, an = struct.unpack(">HHHH", m[:8])
        got[qid] = "rcode %d answers %d addr %s" % (
            flags & 15, an, ".".join(str(x) for x in m[-4:]) if an else "-")
    for i, n in enumerate(names):
        print(n, got.get(i + 1, "missing"), flush=True)
    s.unwrap()
    s.close()


def load(port, ca, conns, n):
    ctx = strict_client_ctx(ca)
    zone = os.environ.get("DOT_ZONE", "example.test")
    ok = []

    def one(c):
        s = connect(ctx, port, 30 * S)
        s.sendall(b"".join(question(q, "h%d.%s" % ((c * n + q) % 65536, zone)) for q in range(n)))
        good = 0
        for _ in range(n):
            m = answer(s)
            qid, flags, _qd, an = struct.unpack(">HHHH", m[:8])
            k = (c * n + qid) % 65536
            if flags & 15 == 0 and an == 1 and bytes((10, 0, k >> 8, k & 255)) in m[12:]:
                good += 1
        s.unwrap()
        s.close()
        ok.append(good)

    ts = [threading.Thread(target=one, args=(c,)) for c in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60 * S)
    print("load ok %d of %d" % (sum(ok), conns * n), flush=True)
    return sum(ok) == conns * n


def skip_name(m, i):
    while m[i] and m[i] < 0xc0:
        i += 1 + m[i]
    return i + (2 if m[i] else 1)


def types(m):
    """The record types of a DNS message's answer section."""
    qd, an = struct.unpack(">HH", m[4:8])
    i = 12
    for _ in range(qd):
        i = skip_name(m, i) + 4
    out = []
    for _ in range(an):
        i = skip_name(m, i)
        t, _c, _ttl, n = struct.unpack(">HHIH", m[i:i + 10])
        out.append(t)
        i += 10 + n
    return out


def axfr(port, ca, zone):
    s = connect(strict_client_ctx(ca), port, 30 * S)
    s.sendall(question(1, zone, 252))
    msgs = rrs = soas = 0
    while soas < 2:          # the transfer starts and ends with the SOA
        m = answer(s)
        if struct.unpack(">H", m[2:4])[0] & 15:
            print("axfr rcode", m[3] & 15, flush=True)
            return False
        t = types(m)
        msgs += 1
        rrs += len(t)
        soas += t.count(6)
    print("axfr messages %d records %d" % (msgs, rrs), flush=True)
    s.unwrap()
    s.close()
    return True


def hold(port, ca):
    s = connect(strict_client_ctx(ca), port, 30 * S)
    s.sendall(question(1, os.environ.get("DOT_ZONE", "example.test"), 6))
    answer(s)
    print("answered", flush=True)
    try:
        d = s.recv(1)
        print("eof clean" if not d else "data %r" % d, flush=True)
        return not d
    except ssl.SSLError as e:
        print("eof ragged" if truncated(e) else "error %s" % e, flush=True)
        return False


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    elif sys.argv[1] in ("load", "axfr", "hold"):
        try:
            a = sys.argv[2:]
            r = (load(int(a[0]), a[1], int(a[2]), int(a[3])) if sys.argv[1] == "load" else
                 axfr(int(a[0]), a[1], a[2]) if sys.argv[1] == "axfr" else hold(int(a[0]), a[1]))
        except Exception as e:  # noqa: BLE001 - reported, exit 1
            print("error", type(e).__name__, e, flush=True)
            r = False
        sys.exit(0 if r else 1)
    else:
        try:
            client(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
        except Exception as e:  # noqa: BLE001 - reported, exit 1
            print("error", type(e).__name__, e, flush=True)
            sys.exit(1)
