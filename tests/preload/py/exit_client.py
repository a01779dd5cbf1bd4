"""exit_client.py PORT — under the shim (tests/preload/lifecycle.sh): one line
over TLS, then os._exit(0) without closing anything.
"""
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"bye via _exit\n")
os._exit(0)
