#!/usr/bin/env python3
"""reload_stream.py — a Python ssl client that streams data through a
shimmed echo server while the test swaps the server's certificate
(tests/interop/reload.sh).

  reload_stream.py PORT CA STOPFILE

Connects to 127.0.0.1:PORT (verifying "localhost" with CA), prints
"serial HEX" (the server certificate's serial) and "streaming", then sends
deterministic 4 KiB chunks (about 200 a second) and reads each echo back, comparing every
byte, until STOPFILE exists (and at least 64 chunks went).  Then it
half-closes, reads to the end, and prints "ok BYTES SHA256" (exit 0), or
"error ..." (exit 1).  Every wait is bounded (TLSSHIM_TIME_SCALE).
"""
import hashlib
import os
import socket
import ssl
from strict_tls import strict_client_ctx
import sys
import time

port, ca, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ts = int(os.environ.get("TLSSHIM_TIME_SCALE", "3"))
deadline = time.monotonic() + 60 * ts


def out(*a):
    print(*a, flush=True)


try:
    ctx = strict_client_ctx(ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10 * ts)
    s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    der = s.getpeercert(binary_form=True)
    out("serial " + s.getpeercert()["serialNumber"].upper())
    out("streaming")
    sent = 0
    h = hashlib.sha256()
    i = 0
    while not (os.path.exists(stop) and i >= 64):
        if time.monotonic() > deadline:
            out("error deadline")
            sys.exit(1)
        chunk = hashlib.sha256(b"%d" % i).digest() * 128  # 4 KiB
        s.sendall(chunk)
        got = b""
        while len(got) < len(chunk):
            b = s.recv(len(chunk) - len(got))
            if not b:
                out("error early end after %d bytes" % (sent + len(got)))
                sys.exit(1)
            got += b
        if got != chunk:
            out("error mismatch in chunk %d" % i)
            sys.exit(1)
        h.update(got)
        sent += len(chunk)
        i += 1
        time.sleep(0.005)   # a steady stream, not a flood (the wire audit records it)
    der2 = s.getpeercert(binary_form=True)
    if der2 != der:
        out("error the peer certificate changed on a live connection")
        sys.exit(1)
    s = s.unwrap()
    s.shutdown(socket.SHUT_WR)
    s.close()
    out("ok %d %s" % (sent, h.hexdigest()))
except Exception as e:  # noqa: BLE001
    out("error %s: %s" % (type(e).__name__, e))
    sys.exit(1)
