"""dns_tcp_server.py PORT RECORD — a DNS server over TCP on 127.0.0.1:PORT
(tests/preload/dns_tcp.sh).  Prints "listening"; for each query it appends
the query's name to RECORD (what reached it in clear) and answers with one
A record, 127.0.0.9 (a PTR query: the name secret-name.test).  Ends after 30 s (times TLSSHIM_TIME_SCALE)."""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, struct, sys, time

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(8)
print("listening", flush=True)
end = time.time() + 30 * S


def recv_n(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            return None
        b += d
    return b


while time.time() < end:
    ls.settimeout(max(0.1, end - time.time()))
    try:
        c, _ = ls.accept()
    except socket.timeout:
        break
    c.settimeout(5 * S)
    try:
        hdr = recv_n(c, 2)
        q = recv_n(c, struct.unpack("!H", hdr)[0]) if hdr else None
        if not q or len(q) < 17:
            continue
        at, labels = 12, []
        while q[at]:
            labels.append(q[at + 1:at + 1 + q[at]].decode("ascii", "replace"))
            at += 1 + q[at]
        qend = at + 5
        with open(sys.argv[2], "a") as f:
            f.write(".".join(labels) + "\n")
        r = q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + q[12:qend]
        if q[at + 1:at + 3] == b"\x00\x0c":   # PTR
            d = b"".join(bytes([len(x)]) + x for x in (b"secret-name", b"test")) + b"\0"
            r += struct.pack("!HHHIH", 0xC00C, 12, 1, 60, len(d)) + d
        else:
            r += struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("127.0.0.9")
        c.sendall(struct.pack("!H", len(r)) + r)
        recv_n(c, 1)            # until the client closes
    except OSError:
        pass
    finally:
        c.close()
