"""idle_conns_client.py MODE PORT CA N — many idle TLS connections to one
shimmed epoll server (tests/preload/epoll_idle.sh): the server's waits park
idle connections (shim/epoll.c); every one must still be served.
  echo:      N connections, one line echoed on each; all left idle; then
             one round trip on each in reverse order, a burst (a line sent
             on every connection, then every echo read), and a round trip
             on every 7th; close_notify on all.
  flood:     N connections, a line echoed on each, then "flood" on the
             first: the server writes to every other (idle) connection
             until the write would block and says how much each took; all
             of it must arrive (the last record's ciphertext that the
             kernel did not take at once must go out by itself).
  broadcast: the server writes every line it gets to every connection: N
             idle connections, then a line of BYTES on connection 0 must
             arrive whole on all N (writes on idle connections that the
             kernel does not take at once; the client reads the connections
             one after another).
Prints "ok MODE N" or "FAIL ...".  Every socket operation has a timeout.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys
from strict_tls import strict_client_ctx, connect
mode, port, ca, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ctx = strict_client_ctx(ca)


def read_exact(s, k):
    got = []
    left = k
    try:
        while left > 0:
            d = s.recv(min(65536, left))
            if not d:
                break
            got.append(d)
            left -= len(d)
    except socket.timeout:
        pass
    return b"".join(got)


def rt(i, s, tag):
    msg = b"%s conn %d\n" % (tag, i)
    s.sendall(msg)
    got = read_exact(s, len(msg))
    if got != msg:
        raise SystemExit("FAIL %s on conn %d: got %r" % (tag.decode(), i, got))


conns = []
for i in range(n):
    s = connect(ctx, port, 20 * S)
    conns.append(s)
    if mode in ("echo", "flood"):
        rt(i, s, b"first")
if mode == "flood":
    conns[0].sendall(b"flood\n")
    line = b""
    while not line.endswith(b"\n"):
        d = conns[0].recv(1)
        if not d:
            raise SystemExit("FAIL flood: no answer")
        line += d
    counts = [int(x) for x in line.split()[1:]]
    if len(counts) != n or counts[0] != 0 or min(counts[1:]) <= 0:
        raise SystemExit("FAIL flood: answer %r" % line)
    for i in range(1, n):
        got = read_exact(conns[i], counts[i])
        if len(got) != counts[i] or got.count(b"x") != counts[i]:
            raise SystemExit("FAIL flood: conn %d got %d of %d bytes" % (i, len(got), counts[i]))
elif mode == "echo":
    for i in reversed(range(n)):
        rt(i, conns[i], b"reverse")
    for i, s in enumerate(conns):
        s.sendall(b"burst conn %d\n" % i)
    for i, s in enumerate(conns):
        msg = b"burst conn %d\n" % i
        got = read_exact(s, len(msg))
        if got != msg:
            raise SystemExit("FAIL burst on conn %d: got %r" % (i, got))
    for i in range(0, n, 7):
        rt(i, conns[i], b"seventh")
else:
    size = int(mode.split(":")[1]) if ":" in mode else 1 << 20
    line = bytes(97 + i % 26 for i in range(size - 1)) + b"\n"
    conns[0].sendall(line)
    for i, s in enumerate(conns):
        got = read_exact(s, len(line))
        if got != line:
            raise SystemExit("FAIL broadcast to conn %d: %d of %d bytes" % (i, len(got), len(line)))
for s in conns:
    s.unwrap()
    s.close()
print("ok %s %d" % (mode.split(":")[0], n))
