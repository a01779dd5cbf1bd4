"""tfo_client.py PORT [fallback] — under the shim (tests/preload/readiness.sh):
sendto() with MSG_FASTOPEN to a TLS destination (connect and send in one
call, no connect()).  Prints "sent" or "errno N".
With "fallback", as unbound and wget2 do when TCP Fast Open fails with
EOPNOTSUPP: the same socket, made non-blocking, then connect()s (EINPROGRESS),
waits with poll() until writable, sends a line and reads its echo; prints
"fallback echo ok" or what failed.
"""
import select, socket, sys
port = int(sys.argv[1])
s = socket.socket()
try:
    s.sendto(b"SECRET-TFO-DATA", socket.MSG_FASTOPEN, ("127.0.0.1", port))
    print("sent")
except OSError as e:
    print("errno", e.errno)
if len(sys.argv) > 2 and sys.argv[2] == "fallback":
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    p = select.poll(); p.register(s, select.POLLOUT)
    if not p.poll(20000) or s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
        print("fallback connect failed"); sys.exit(1)
    s.setblocking(True); s.settimeout(20)
    s.sendall(b"after fast open\n")
    got = b""
    while not got.endswith(b"\n"):
        d = s.recv(100)
        if not d:
            break
        got += d
    print("fallback echo ok" if got == b"after fast open\n" else "fallback echo %r" % got)
