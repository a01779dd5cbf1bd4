"""exit_client.py PORT [exit|quick_exit] — under the shim
(tests/preload/lifecycle.sh): one line over TLS, then os._exit(0) without
closing anything; with "exit", the C library's exit(0) instead (atexit
handlers run, Python's own finalisation, which would close the socket,
does not); with "quick_exit", its quick_exit(0) (at_quick_exit handlers,
then the C library's own _exit).
"""
import ctypes, os, socket, sys
how = sys.argv[2] if len(sys.argv) > 2 else "_exit"
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"bye via %s\n" % how.encode())
if how in ("exit", "quick_exit"):
    getattr(ctypes.CDLL(None), how)(0)
os._exit(0)
