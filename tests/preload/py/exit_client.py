"""exit_client.py PORT [exit] — under the shim (tests/preload/lifecycle.sh):
one line over TLS, then os._exit(0) without closing anything; with "exit",
the C library's exit(0) instead (atexit handlers run, Python's own
finalisation, which would close the socket, does not).
"""
import ctypes, os, socket, sys
how = sys.argv[2] if len(sys.argv) > 2 else "_exit"
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"bye via %s\n" % how.encode())
if how == "exit":
    ctypes.CDLL(None).exit(0)
os._exit(0)
