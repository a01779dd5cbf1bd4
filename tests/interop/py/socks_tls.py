#!/usr/bin/env python3
"""socks_tls.py — a SOCKS 5 client over TLS, for a SOCKS server whose port
the shim makes TLS (tests/interop/proxies.sh: dante's danted):

  socks_tls.py PORT CA DEST-PORT PATH OUT

Connects to 127.0.0.1:PORT over TLS (verified against CA for
"localhost"), asks for no authentication, then CONNECT 127.0.0.1:DEST-PORT;
prints "reply R" (the server's reply code: 0 is success).  On success it
sends "GET PATH HTTP/1.0", reads the answer to the end, writes its body
to OUT, prints "body N" and "eof clean" (close_notify came) or "eof
ragged".  Every socket has a 15 s timeout (x TLSSHIM_TIME_SCALE).  Exit 0
when the reply was 0, the answer a 200 and the stream ended cleanly.
"""
import os
import socket
import ssl
import struct
import sys
from strict_tls import strict_client_ctx, truncated

port, ca, dport, path, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
timeout = 15 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))


def exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError("the server closed after %d of %d bytes" % (len(b), n))
        b += d
    return b


s = strict_client_ctx(ca).wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=timeout),
                                      server_hostname="localhost", suppress_ragged_eofs=False)
s.sendall(b"\x05\x01\x00")
if exact(s, 2) != b"\x05\x00":
    print("method refused")
    sys.exit(1)
s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", dport))
r = exact(s, 10)
print("reply %d" % r[1], flush=True)
if r[1] != 0:
    sys.exit(1)
s.sendall(b"GET " + path.encode() + b" HTTP/1.0\r\nHost: localhost\r\n\r\n")
parts, end = [], "eof clean"
while True:
    try:
        d = s.recv(65536)
    except ssl.SSLError as e:
        if not truncated(e):
            raise
        end = "eof ragged"
        break
    if not d:
        break
    parts.append(d)
head, _, body = b"".join(parts).partition(b"\r\n\r\n")
with open(out, "wb") as f:
    f.write(body if head.startswith(b"HTTP/1.0 200 ") else b"")
print("body %d" % len(body))
print(end)
s.close()
sys.exit(0 if end == "eof clean" and head.startswith(b"HTTP/1.0 200 ") else 1)
