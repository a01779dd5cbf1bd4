"""A connection made by a process without the shim, inherited by one with
it (tests/preload/escape.sh).

    inherit_exec.py out PORT SENTINEL      connect to 127.0.0.1:PORT
    inherit_exec.py in PORT SENTINEL       accept one connection on PORT
                                           (a plain client of our own)

Run WITHOUT the shim, with the shim's path in X_PRELOAD: makes the
connection, then execs itself with LD_PRELOAD set, passing the fd; the new
image writes "SENTINEL inherit-HOW\\n" and reads the echo ("out": from the
peer; "in": the client checks it got the line in clear and echoes it).
Prints "echo ok" or "echo failed: ...".
"""
import os, socket, subprocess, sys

CLIENT = """
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
got = b""
while not got.endswith(b"\\n"):
    b = c.recv(4096)
    if not b:
        break
    got += b
c.sendall(got)
"""

how, port, sent = sys.argv[1], int(sys.argv[2]), sys.argv[3]
line = ("%s inherit-%s\n" % (sent, how)).encode()
if len(sys.argv) > 4:
    s = socket.socket(fileno=int(sys.argv[4]))
    s.settimeout(20)
    try:
        s.sendall(line)
        got = b""
        while not got.endswith(b"\n"):
            b = s.recv(4096)
            if not b:
                break
            got += b
        print("echo ok" if got == line else "echo failed: got %r" % got[:80], flush=True)
    except OSError as e:
        print("echo failed:", e, flush=True)
    sys.exit(0)
if how == "out":
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
else:
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)
    # the plain client: another process (this image's threads end at exec)
    subprocess.Popen([sys.executable, "-c", CLIENT, str(port)], env=dict(os.environ))
    s, _ = ls.accept()
    # the listener stays open in this process image until exec: the new
    # image inherits it too (an inetd-like parent keeps its listener).
    ls.set_inheritable(True)
s.set_inheritable(True)
env = dict(os.environ, LD_PRELOAD=os.environ["X_PRELOAD"])
os.execve(sys.executable, [sys.executable, sys.argv[0], how, str(port), sent, str(s.fileno())], env)
