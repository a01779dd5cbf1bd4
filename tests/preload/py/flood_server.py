"""flood_server.py PORT CONNS — a plain, single-threaded select.epoll server
that knows nothing about TLS (tests/preload/epoll_idle.sh), run under the
shim.  Every line is echoed, but "flood": then it writes 16 KiB blocks of
"x" to every OTHER connection until the write would block (best effort,
no EPOLLOUT interest: the kind of server that drops what a slow client
cannot take), and answers "sent N1 N2 ..." (bytes taken, in accept order).
Prints "listening", exits 0 once CONNS connections have closed.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import select, socket, sys, time
port, conns = int(sys.argv[1]), int(sys.argv[2])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(64)
ls.setblocking(False)
ep = select.epoll()
ep.register(ls.fileno(), select.EPOLLIN)
order, by_fd, buf, closed = [], {}, {}, 0
print("listening", flush=True)
end = time.monotonic() + 60 * S
while closed < conns and time.monotonic() < end:
    for fd, ev in ep.poll(1.0):
        if fd == ls.fileno():
            try:
                c, _ = ls.accept()
            except BlockingIOError:
                continue
            c.setblocking(False)
            by_fd[c.fileno()] = c
            buf[c.fileno()] = b""
            order.append(c)
            ep.register(c.fileno(), select.EPOLLIN)
            continue
        c = by_fd[fd]
        try:
            d = c.recv(65536)
        except BlockingIOError:
            continue
        except OSError as e:  # a client that gave up: the test says why
            print("recv: %s" % e, file=sys.stderr)
            d = b""
        if not d:
            ep.unregister(fd)
            c.close()
            del by_fd[fd]
            closed += 1
            continue
        buf[fd] += d
        while b"\n" in buf[fd]:
            line, buf[fd] = buf[fd].split(b"\n", 1)
            if line != b"flood":
                c.sendall(line + b"\n")
                continue
            sent = []
            for o in order:
                n = 0
                if o is not c and o.fileno() in by_fd:
                    block = b"x" * 16384
                    try:
                        while True:
                            n += o.send(block)
                    except BlockingIOError:
                        pass
                sent.append(n)
            c.sendall(b"sent " + b" ".join(b"%d" % n for n in sent) + b"\n")
sys.exit(0 if closed >= conns else 1)
