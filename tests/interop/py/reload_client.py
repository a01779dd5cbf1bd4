#!/usr/bin/env python3
"""reload_client.py — a plain TCP client (run under the shim) that makes
one connection per line of standard input, so that one process connects
again and again across a certificate reload (tests/interop/reload.sh).

  reload_client.py PORT CMDFILE

CMDFILE is followed like tail -f (the test appends lines to it); "quit"
ends the program (so does a quiet minute, scaled).  For each other line:
connect to 127.0.0.1:PORT, send the line, half-close,
read the echo to the end; print "ok N" when the echo matches, else
"fail N REASON".  Knows nothing about TLS.
"""
import os
import socket
import sys
import time

port, cmdfile = int(sys.argv[1]), sys.argv[2]
ts = int(os.environ.get("TLSSHIM_TIME_SCALE", "3"))


def commands():
    with open(cmdfile) as f:
        idle = time.monotonic() + 60 * ts
        buf = ""
        while time.monotonic() < idle:
            chunk = f.readline()
            if not chunk:
                time.sleep(0.02)
                continue
            buf += chunk
            if not buf.endswith("\n"):
                continue
            line, buf = buf, ""
            if line.strip() == "quit":
                return
            idle = time.monotonic() + 60 * ts
            yield line


n = 0
for line in commands():
    n += 1
    data = line.encode()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10 * ts)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
        s.close()
        print("ok %d" % n if got == data else "fail %d echo %r" % (n, got[:40]), flush=True)
    except OSError as e:
        print("fail %d %s" % (n, e.strerror or e), flush=True)
