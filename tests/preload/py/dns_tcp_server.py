"""dns_tcp_server.py PORT RECORD [UDPRECORD] — a DNS server over TCP on
127.0.0.1:PORT (tests/preload/dns_tcp.sh).  Prints "listening"; for each
query it appends the query's name to RECORD (what reached it in clear) and
answers with one A record, 127.0.0.9 (a PTR query: the name
secret-name.test).  With UDPRECORD it answers over UDP on the same port too
(tests/preload/dns_resolvconf.sh), each query's name appended there, with
the truncation bit set and what fits: two A records, 127.0.0.8 and
127.0.0.7 (a PTR query: the name udp-name.test), so that a resolver asks
again over TCP unless told not to.  An MX query gets one MX record, 10
and the name asked (tests/interop/exim.sh), over TCP and UDP alike.
An attacker's answers over TCP (glibc checks only the ID of an answer
over TCP, the question too over UDP; tests/preload/names.sh), for an A
query of swapq.test: the question says plain.test, its A record
127.0.0.9 too; A.TEST (in capitals, as asked): the A record 127.0.0.9 is
plain.test's, the question the one asked; cname.test: a CNAME to a.test,
then a.test's A record 127.0.0.9; glue.test: its own A record 127.0.0.10,
and in the additional section plain.test's, 127.0.0.9; chaos.test: its A
record 127.0.0.9 of class CH.  Ends after 120 s (times TLSSHIM_TIME_SCALE)."""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, struct, sys, threading, time

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(8)
end = time.time() + 120 * S


def recv_n(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            return None
        b += d
    return b


def answer(q, record, udp):
    """The answer to query q (None: not a query), its name recorded."""
    if len(q) < 17:
        return None
    at, labels = 12, []
    while q[at]:
        labels.append(q[at + 1:at + 1 + q[at]].decode("ascii", "replace"))
        at += 1 + q[at]
    qend = at + 5
    with open(record, "a") as f:
        f.write(".".join(labels) + "\n")
    ptr = q[at + 1:at + 3] == b"\x00\x0c"
    if q[at + 1:at + 3] == b"\x00\x0f":
        rrs = [struct.pack("!HHHIHH", 0xC00C, 15, 1, 60, 4, 10) + b"\xc0\x0c"]
    elif ptr:
        name = (b"udp-name", b"test") if udp else (b"secret-name", b"test")
        d = b"".join(bytes([len(x)]) + x for x in name) + b"\0"
        rrs = [struct.pack("!HHHIH", 0xC00C, 12, 1, 60, len(d)) + d]
    else:
        rrs = [struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(a)
               for a in (("127.0.0.8", "127.0.0.7") if udp else ("127.0.0.9",))]
    flags = 0x8380 if udp else 0x8180      # TC over UDP
    question = q[12:qend]
    asked = ".".join(labels)
    asked = asked if asked == "A.TEST" else asked.lower()
    attack = ("swapq.test", "A.TEST", "cname.test", "glue.test", "chaos.test")
    extra = []
    if not udp and q[at + 1:at + 3] == b"\x00\x01" and asked in attack:
        plain = b"\x05plain\x04test\x00"
        a9 = struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.9")
        if asked == "swapq.test":
            question = plain + q[at + 1:qend]
            rrs = [b"\xc0\x0c" + a9]
        elif asked == "A.TEST":
            rrs = [plain + a9]
        elif asked == "glue.test":
            rrs = [struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("127.0.0.10")]
            extra = [plain + a9]
        elif asked == "chaos.test":
            rrs = [struct.pack("!HHHIH", 0xC00C, 1, 3, 60, 4) + socket.inet_aton("127.0.0.9")]
        else:
            target = b"\x01a\x04test\x00"
            rrs = [struct.pack("!HHHIH", 0xC00C, 5, 1, 60, len(target)) + target, target + a9]
    return (q[:2] + struct.pack("!HHHHH", flags, 1, len(rrs), 0, len(extra)) + question +
            b"".join(rrs + extra))


def serve_udp(us, record):
    while time.time() < end:
        us.settimeout(max(0.1, end - time.time()))
        try:
            q, peer = us.recvfrom(4096)
            r = answer(q, record, True)
            if r:
                us.sendto(r, peer)
        except socket.timeout:
            break
        except (OSError, IndexError):
            pass


if len(sys.argv) > 3:
    us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    us.bind(("127.0.0.1", int(sys.argv[1])))     # before "listening"
    threading.Thread(target=serve_udp, args=(us, sys.argv[3]), daemon=True).start()
print("listening", flush=True)
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
        r = answer(q, sys.argv[2], False) if q else None
        if not r:
            continue
        c.sendall(struct.pack("!H", len(r)) + r)
        recv_n(c, 1)            # until the client closes
    except (OSError, IndexError):
        pass
    finally:
        c.close()
