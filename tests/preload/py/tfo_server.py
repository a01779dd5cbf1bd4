"""tfo_server.py PORT — a plain server (tests/preload/readiness.sh) that
waits 3 s (the scenario: nothing may connect) for one connection and prints
what arrives on it, or "no connection".  Prints "listening" first.
"""
import socket, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1); ls.settimeout(3)
print("listening", flush=True)
try:
    c, _ = ls.accept(); c.settimeout(1); print(repr(c.recv(100)))
except OSError:
    print("no connection")
