"""sigchld_client.py PORT — under the shim (tests/preload/pump.sh): a live
TLS session across fork() while SIGCHLD is ignored; the child exits at
once, the parent goes on using the connection.  Prints "first: ..." and
"second: ...".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import os, signal, socket, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
s = socket.create_connection(("localhost", int(sys.argv[1])), timeout=10 * S)
s.sendall(b"one\n")
print("first: %r" % s.recv(100), flush=True)
pid = os.fork()
if pid == 0:
    os._exit(0)
try:
    s.sendall(b"two\n")
    print("second: %r" % s.recv(100), flush=True)
except OSError as e:
    print("second: error %s" % e, flush=True)
s.close()
