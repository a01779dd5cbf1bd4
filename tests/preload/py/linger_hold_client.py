"""linger_hold_client.py PORT CA BYTES GO — against send_close (which writes
BYTES and closes): sends one byte, reads the BYTES and the server's
close_notify, sends its own close_notify (TLS ends; TCP stays open, no
FIN) and prints "unwrapped"; then waits (at most 120 s) for the file GO,
closes (its FIN) and prints "ok"."""
import os
import socket
import ssl
from strict_tls import strict_client_ctx, connect
import sys
import time

port, ca, nbytes, go = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = strict_client_ctx(ca)
s = connect(ctx, port, 60)
s.sendall(b"g")
got = 0
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += len(b)
except ssl.SSLZeroReturnError:
    pass
if got != nbytes:
    print("got %d of %d" % (got, nbytes))
    sys.exit(1)
raw = s.unwrap()
print("unwrapped", flush=True)
end = time.monotonic() + 120
while not os.path.exists(go) and time.monotonic() < end:
    time.sleep(0.01)
raw.close()
print("ok", flush=True)
