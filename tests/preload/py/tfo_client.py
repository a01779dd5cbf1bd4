"""tfo_client.py PORT — under the shim (tests/preload/readiness.sh): sendto()
with MSG_FASTOPEN to a TLS destination (connect and send in one call, no
connect()).  Prints "sent" or "errno N".
"""
import socket, sys
s = socket.socket()
try:
    s.sendto(b"SECRET-TFO-DATA", socket.MSG_FASTOPEN, ("127.0.0.1", int(sys.argv[1])))
    print("sent")
except OSError as e:
    print("errno", e.errno)
