"""readiness_bits.py server PORT CERT KEY | client PORT

The poll bits that are not POLLIN/POLLOUT on a TLS fd (tests/preload/
readiness_bits.sh).  The client (shimmed) opens one connection per case
and sends the case's letter; the server (real TLS, not shimmed) answers:
  d  a record "x"                      (POLLRDNORM; POLLWRNORM)
  h  a record "x", then a FIN without close_notify        (POLLRDHUP)
  o  a record "x", then, when the client says it read it, an urgent byte
     (MSG_OOB, outside the TLS stream: the kernel shows it until a read
     passes it, and nothing follows)
The client prints one line per case: "CASE ok" or "CASE bad: why"."""
import select
import socket
import ssl
from strict_tls import strict_server_ctx, listener, connect
import sys
import time


def server(port, cert, key):
    ctx = strict_server_ctx(cert, key)
    ls = listener(port, 8)
    print("listening", flush=True)
    ls.settimeout(30)
    conns = []
    while True:
        try:
            c, _ = ls.accept()
        except (socket.timeout, OSError):
            return
        c.settimeout(10)
        try:
            s = ctx.wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
            what = s.recv(1)
        except OSError:
            c.close()
            continue
        if what == b"q":
            return
        s.sendall(b"x")
        if what == b"h":
            socket.socket.shutdown(s, socket.SHUT_WR)
        elif what == b"o":
            # once the client has read "x" (so that no read of its passes
            # the urgent byte, which would end the kernel's showing it)
            s.recv(1)
            socket.socket.send(s, b"!", socket.MSG_OOB)
        conns.append(s)     # kept open until the client says q


def connect(port, what):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(what)
    s.setblocking(False)
    return s


def timed(fn):
    t, c = time.monotonic(), time.process_time()
    r = fn()
    return r, time.monotonic() - t, time.process_time() - c


def client(port):
    for name, ev in (("pollrdnorm", select.POLLRDNORM), ("pollwrnorm", select.POLLWRNORM)):
        s = connect(port, b"d")
        p = select.poll()
        p.register(s, ev)
        r, wall, cpu = timed(lambda: p.poll(2000))
        got = r[0][1] if r else 0
        if got & ev:
            print(name, "ok")
        else:
            print(name, "bad: revents %#x after %.2f s, %.2f s of CPU" % (got, wall, cpu))
        s.close()

    s = connect(port, b"h")
    p = select.poll()
    p.register(s, select.POLLRDHUP)
    r, wall, cpu = timed(lambda: p.poll(2000))
    got = r[0][1] if r else 0
    if got & select.POLLRDHUP:
        print("pollrdhup ok")
    else:
        print("pollrdhup bad: revents %#x after %.2f s, %.2f s of CPU" % (got, wall, cpu))
    s.close()

    # An urgent byte: select's exception set and EPOLLPRI, as legacy
    # programs (and curl) ask, must neither spin nor show it.
    for name in ("select", "epoll"):
        s = connect(port, b"o")
        got = b""
        for _ in range(50):
            if got == b"x":
                break
            select.select([s], [], [], 2)
            try:
                got += s.recv(10)
            except BlockingIOError:
                pass
        if got != b"x":
            print(name, "urgent bad: read %r" % got)
            continue
        s.send(b"u")      # now the urgent byte, during the wait below
        if name == "select":
            r, wall, cpu = timed(lambda: select.select([s], [], [s], 1.0))
            shown = r[0] or r[2]
        else:
            ep = select.epoll()
            ep.register(s, select.EPOLLIN | select.EPOLLPRI)
            r, wall, cpu = timed(lambda: ep.poll(1.0))
            shown = r
            ep.close()
        if not shown and cpu < 0.1:
            print(name, "urgent ok")
        else:
            print(name, "urgent bad: %r after %.2f s, %.2f s of CPU" % (shown, wall, cpu))
        s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"q")
    s.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        client(int(sys.argv[2]))
