"""epoll_nested.py server PORT CERT KEY | client PORT

A TLS fd inside an epoll instance that is itself waited for by poll,
select or another epoll instance (tests/preload/epoll_nested.sh), as a
libuv loop's backend fd embedded in another loop is.  The server (real
TLS, not shimmed) sends one 32-byte record on each connection; the client
(shimmed) reads one byte per wake-up of the OUTER wait, so after the first
the rest is plain text inside the shim, which the kernel cannot see.
Prints "MODE ok" or "MODE bad: why" per mode."""
import select
import socket
import ssl
from strict_tls import strict_server_ctx, listener
import sys


def server(port, cert, key):
    ctx = strict_server_ctx(cert, key)
    ls = listener(port, 8, 30)
    print("listening", flush=True)
    conns = []
    while True:
        try:
            c, _ = ls.accept()
            c.settimeout(10)
            s = ctx.wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
            if s.recv(1) == b"q":
                return
            s.sendall(b"n" * 32)
            conns.append(s)
        except (socket.timeout, OSError):
            return


def client(port):
    for mode in ("poll", "select", "epoll", "epoll_oneshot"):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"g")
        s.setblocking(False)
        inner = select.epoll()
        inner.register(s, select.EPOLLIN)
        outer = None
        if mode == "poll":
            outer = select.poll()
            outer.register(inner.fileno(), select.POLLIN)
            wait = lambda: outer.poll(2000)
        elif mode == "select":
            wait = lambda: select.select([inner.fileno()], [], [], 2)[0]
        else:
            outer = select.epoll()
            oneshot = select.EPOLLONESHOT if mode == "epoll_oneshot" else 0
            outer.register(inner.fileno(), select.EPOLLIN | oneshot)
            wait = lambda: outer.poll(2)
        got = b""
        why = ""
        for _ in range(200):
            if len(got) == 32:
                break
            if not wait():
                why = "the outer wait timed out with %d bytes read" % len(got)
                break
            for _fd, _ev in inner.poll(0):
                try:
                    got += s.recv(1)
                except BlockingIOError:
                    pass
            if mode == "epoll_oneshot":
                outer.modify(inner.fileno(), select.EPOLLIN | select.EPOLLONESHOT)
        print(mode, "ok" if len(got) == 32 else "bad: " + (why or "%d bytes" % len(got)))
        s.close()
        inner.close()
        if mode.startswith("epoll"):
            outer.close()
    # Edge-triggered outer registration, plain text left unread inside
    # (a program that stops reading): the kernel shows the inner instance
    # once per new event in it, so the outer wait sleeps; it was reported
    # at every wait (a busy loop, 90,000 wake-ups a second).
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"g")
    s.setblocking(False)
    inner = select.epoll()
    inner.register(s, select.EPOLLIN)
    outer = select.epoll()
    outer.register(inner.fileno(), select.EPOLLIN | select.EPOLLET)
    got = b""
    wakes = 0
    for _ in range(30):
        if outer.poll(0.05):
            wakes += 1
            for _fd, _ev in inner.poll(0):
                if not got:
                    try:
                        got = s.recv(1)
                    except BlockingIOError:
                        pass
    print("epoll_et_unread", "ok" if got and wakes <= 5 else
          "bad: %d wake-ups of 30 waits, read %r" % (wakes, got))
    s.close()
    inner.close()
    outer.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"q")
    s.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        client(int(sys.argv[2]))
