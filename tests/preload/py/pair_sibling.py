"""A TLS listener passed over a socketpair to a sibling that exec'd
without the library (tests/preload/exec.sh).

    pair_sibling.py PORT    make a socketpair; fork a child that execs
                            itself without LD_PRELOAD with one end
                            ("recv"), and a child that listens on
                            127.0.0.1:PORT and sends the listener over the
                            other end with SCM_RIGHTS; wait for both

The receiving image prints "listening" once it listens on the listener
it got, then "served" (it echoed one line) or "serve failed: ...".  The
sender prints "sent" or "send refused: ...".  SO_PEERCRED on a
socketpair names the process that made it (here the parent, which runs
the library), not the sibling that holds the other end.
"""
import os, socket, sys

port = int(sys.argv[1])
if sys.argv[2:3] == ["recv"]:
    try:
        b = socket.socket(fileno=int(sys.argv[3]))
        b.settimeout(20)
        _, fds, _, _ = socket.recv_fds(b, 10, 1)
        if not fds:
            raise OSError("no descriptor came")
        ls = socket.socket(fileno=fds[0])
        ls.listen(4)
        print("listening", flush=True)
        ls.settimeout(20)
        c, _ = ls.accept()
        c.settimeout(20)
        c.sendall(c.recv(100))
        print("served", flush=True)
    except OSError as e:
        print("serve failed:", e, flush=True)
    sys.exit(0)
a, b = socket.socketpair()
b.set_inheritable(True)
if os.fork() == 0:
    a.close()
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), str(port), "recv", str(b.fileno())],
              env)
if os.fork() == 0:
    b.close()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(4)
    try:
        socket.send_fds(a, [b"x"], [ls.fileno()])
        print("sent", flush=True)
    except OSError as e:
        print("send refused:", e, flush=True)
    os._exit(0)
a.close()
b.close()
os.wait()
os.wait()
