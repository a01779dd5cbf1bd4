"""eisconn_client.py PORT — under the shim (a connect rule;
tests/preload/bypass.sh): a non-blocking connect, then connect() again on
the connected TLS socket; then a line that must still go encrypted and be
echoed.  Prints the second connect's result and the echo.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import errno, select, socket, sys
s = socket.socket(); s.setblocking(False)
addr = ("127.0.0.1", int(sys.argv[1]))
try:
    s.connect(addr)
except BlockingIOError:
    pass
select.select([], [s], [], 10)
try:
    s.connect(addr)
    r = "connected"
except OSError as e:
    r = errno.errorcode.get(e.errno, str(e.errno))
s.setblocking(True); s.settimeout(10 * S)
s.sendall(b"still encrypted\n"); s.shutdown(socket.SHUT_WR)
print(r, s.recv(100).decode().strip())
