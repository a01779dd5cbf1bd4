"""nonblocking_connect_client.py PORT — a plain, non-blocking TCP client
(tests/preload/identity.sh), run under the shim: connect() to 127.0.0.1
PORT without waiting, select() until writable, then print "writable
BOOL", "so_error NAME" (getsockopt SO_ERROR) and the outcome of one send()
and one recv(): "send ok" / "send ERRNO-NAME", "recv DATA" / "recv
ERRNO-NAME".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import errno, select, socket, sys


def name(e):
    return errno.errorcode.get(e, str(e))


s = socket.socket()
s.setblocking(False)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except BlockingIOError:
    pass
r = select.select([], [s], [], 20 * S)
print("writable", bool(r[1]), flush=True)
print("so_error", name(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)), flush=True)
try:
    s.send(b"SECRET nonblocking\n")
    print("send ok", flush=True)
except OSError as e:
    print("send", name(e.errno), flush=True)
select.select([s], [], [], 5 * S)
try:
    print("recv", s.recv(100), flush=True)
except OSError as e:
    print("recv", name(e.errno), flush=True)
