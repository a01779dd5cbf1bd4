"""soak_server.py fork|thread PORT [FORK_EVERY] — a plain (TLS-unaware)
echo server for the soak run (tests/preload/soak.sh, make soak), run under
the shim.  Runs until SIGTERM.  Prints "listening" once bound.

Protocol (plaintext, as the program sees it): the client sends a header
line "SOAK N HOW\n", then data; the server echoes every byte after the
header.  N = -1: echo until end of data, then close.  N >= 0: once N bytes
were echoed, close (HOW = close) or reset (HOW = reset: SO_LINGER 0, then
close) — the server-side closes of the soak.

fork:   socketserver.ForkingTCPServer (a child per connection; the
        accepted session is not started at fork, so it is inherited).
thread: socketserver.ThreadingTCPServer (a thread per connection); besides,
        every FORK_EVERY seconds (default 2) while connections are live the
        server forks a child that exits at once: every live session is then
        handed to a pump (docs/fork.md) while its thread is in recv/send.
        Prints "fork live=N" for each such fork.
"""
import os, signal, socket, socketserver, struct, sys, threading

S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
mode, port = sys.argv[1], int(sys.argv[2])
fork_every = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
live = 0
live_lock = threading.Lock()


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        global live
        with live_lock:
            live += 1
        try:
            self.serve()
        except OSError:
            pass        # resets and aborts by the client are part of the soak
        finally:
            with live_lock:
                live -= 1

    def serve(self):
        c = self.request
        c.settimeout(120 * S)
        buf = b""
        while b"\n" not in buf:
            d = c.recv(4096)
            if not d:
                return
            buf += d
            if b"\n" not in buf and len(buf) > 100:
                return
        head, rest = buf.split(b"\n", 1)
        _, n, how = head.decode().split()
        n = int(n)
        echoed = 0
        while True:
            if rest:
                if n >= 0:
                    rest = rest[: n - echoed]
                c.sendall(rest)
                echoed += len(rest)
            if n >= 0 and echoed >= n:
                if how == "reset":
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    c.close()   # not socketserver's shutdown(SHUT_WR) first
                return
            rest = c.recv(65536)
            if not rest:
                return


class ForkServer(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    request_queue_size = 128


class ThreadServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    request_queue_size = 128
    daemon_threads = True       # no list of finished threads kept


def forker(stop):
    while not stop.wait(fork_every):
        with live_lock:
            n = live
        if n == 0:
            continue
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        print("fork live=%d" % n, flush=True)


srv = (ForkServer if mode == "fork" else ThreadServer)(("127.0.0.1", port), Echo)
stop = threading.Event()


def term(*_):
    stop.set()
    threading.Thread(target=srv.shutdown, daemon=True).start()


signal.signal(signal.SIGTERM, term)
if mode == "thread":
    threading.Thread(target=forker, args=(stop,), daemon=True).start()
print("listening", flush=True)
srv.serve_forever(poll_interval=0.2)
srv.server_close()
print("stopped", flush=True)
