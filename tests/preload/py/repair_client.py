"""repair_client.py PORT MODE — under the library (tests/preload/repair.sh):
TCP_REPAIR (Linux's checkpoint/restore mode, CAP_NET_ADMIN: root's) on a
socket a connect rule makes TLS (PORT).
  established: a line echoed through the session, then TCP_REPAIR on,
           TCP_REPAIR_QUEUE the send queue, "secret plaintext" written
           (queued, not sent, in repair mode), TCP_REPAIR off (the queue
           goes out), "after" written: prints "echo ..." for what came
           back ("echo secret plaintext" then "after" through TLS);
  fresh:   TCP_REPAIR on a new socket, then connect() (in repair mode the
           kernel makes the socket ESTABLISHED without a SYN: no peer
           ever saw it), the send queue chosen, "secret plaintext",
           TCP_REPAIR off, "secret again": prints each step's outcome.
No byte may reach the server but TLS records."""
import os
import socket
import sys

port, how = int(sys.argv[1]), sys.argv[2]
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE = 19, 20, 2


def step(name, f):
    try:
        r = f()
        print("%s ok%s" % (name, "" if r is None else " %r" % (r,)), flush=True)
        return True
    except OSError as e:
        print("%s %s" % (name, e.strerror), flush=True)
        return False


if how == "established":
    s = socket.create_connection(("127.0.0.1", port), timeout=10 * S)
    s.sendall(b"hello\n")
    print("echo %s" % s.recv(100).decode().strip(), flush=True)
    step("repair", lambda: s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1))
    step("queue", lambda: s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE))
    step("write", lambda: s.sendall(b"secret plaintext\n"))
    step("off", lambda: s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 0))
    step("after", lambda: s.sendall(b"after\n"))
    got = b""
    while got.count(b"\n") < 2:
        d = s.recv(100)
        if not d:
            break
        got += d
    for line in got.decode().splitlines():
        print("echo %s" % line, flush=True)
else:
    s = socket.socket()
    s.settimeout(5 * S)
    step("repair", lambda: s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1))
    step("connect", lambda: s.connect(("127.0.0.1", port)))
    step("queue", lambda: s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE))
    step("write", lambda: s.sendall(b"secret plaintext\n"))
    step("off", lambda: s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 0))
    step("again", lambda: s.sendall(b"secret again\n"))
    s.close()
