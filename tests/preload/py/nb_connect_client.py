"""nb_connect_client.py PORT — under the shim (tests/preload/readiness.sh):
create_connection(timeout=) is a non-blocking connect, poll(POLLOUT) and
SO_ERROR; then a secret line, echoed.  Prints the echo, or
"connect error: ERRNO" (exit 2).
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, sys
try:
    s = socket.create_connection(("localhost", int(sys.argv[1])), timeout=10 * S)
except OSError as e:
    print("connect error:", e.errno)
    sys.exit(2)
s.sendall(b"SECRET-PLAINTEXT-4711 over a non-blocking socket\n")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    d = s.recv(1000)
    if not d:
        break
    data += d
print(data.decode().strip())
s.close()
