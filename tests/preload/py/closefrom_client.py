"""closefrom_client.py PORT HOW STATUS — under the shim (tests/preload/daemon.sh):
one line echoed over TLS, then the socket is closed with close_range(2)
(HOW = closerange: CPython's os.closerange) or closefrom(3) (HOW =
closefrom), not with close().  The process stays alive until the peer's
STATUS file (tlspeer.py --status) reports the end of the connection (at most
10 s), so that a close_notify the peer sees came from close_range/closefrom
and not from the shim's exit handler.  Prints "peer saw the end before exit: BOOL".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import ctypes, os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"x\n"); s.recv(10)
fd = s.detach()
if sys.argv[2] == "closerange":
    os.closerange(fd, fd + 1)              # close_range(2) in CPython 3.11
else:
    ctypes.CDLL(None).closefrom(fd)
end = time.time() + 10 * S
seen = False
while time.time() < end and not seen:
    try:
        with open(sys.argv[3]) as f:
            seen = any(l.startswith("eof") for l in f)
    except OSError:
        pass
    if not seen:
        time.sleep(0.05)
print("peer saw the end before exit: %s" % seen, flush=True)
