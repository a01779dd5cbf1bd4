"""ctypes_libc_client.py PORT SENTINEL — under the shim (a connect rule;
tests/preload/escape.sh): the C library's functions taken through its own
handle, ctypes.CDLL("libc.so.6") (dlopen, then dlsym on that handle, as
JNA, Fiddle or Perl's FFI do), write on the TLS socket: a line each by
send, write and sendto, then the echo is read back.  Prints "echo ok" or
what went wrong.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import ctypes, socket, sys
libc = ctypes.CDLL("libc.so.6", use_errno=True)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10 * S)
want = b""
for name, call in (("send", lambda b: libc.send(s.fileno(), b, len(b), 0)),
                   ("write", lambda b: libc.write(s.fileno(), b, len(b))),
                   ("sendto", lambda b: libc.sendto(s.fileno(), b, len(b), 0, None, 0))):
    line = ("%s ctypes-%s\n" % (sys.argv[2], name)).encode()
    n = call(line)
    if n != len(line):
        print("%s: %d (errno %d)" % (name, n, ctypes.get_errno()))
        sys.exit(1)
    want += line
got = b""
try:
    while len(got) < len(want):
        b = s.recv(4096)
        if not b:
            break
        got += b
except OSError as e:
    print("recv: %s (got %r)" % (e, got))
    sys.exit(1)
print("echo ok" if got == want else "echo %r" % got)
