#!/usr/bin/env python3
"""reload_race.py PORT CA CERT KEY PID GOFILE — two handshakes racing one
reload (tests/interop/reload.sh).

1. A TCP connection, nothing sent: prints "connected", waits until GOFILE
   exists (the test has meanwhile replaced the client CA file of the rule,
   and the CA file of another rule by a large one that takes the server a
   while to parse), then sends a byte: the server's thread for it takes a
   handshake step, sees the change and reloads every rule.
2. Once the server (PID) has used some CPU (the reload is under way), a
   TLS connection with the client certificate, from a CA the rule's new
   file no longer holds.  Prints "2 echo" (verified under the old CA) or
   "2 failed REASON".
"""
import os, socket, ssl, sys, time
from strict_tls import strict_client_ctx, connect

port, ca, cert, key, pid, gofile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
ts = int(os.environ.get("TLSSHIM_TIME_SCALE", "3"))
ctx = strict_client_ctx(ca, cert, key, bare=True)


def cpu():
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


held = socket.create_connection(("127.0.0.1", port), timeout=20 * ts)
print("connected", flush=True)
end = time.monotonic() + 20 * ts
while not os.path.exists(gofile) and time.monotonic() < end:
    time.sleep(0.02)
start = cpu()
held.sendall(b"\x16")
end = time.monotonic() + 10 * ts
while cpu() < start + 5 and time.monotonic() < end:
    time.sleep(0.005)
try:
    s = connect(ctx, port, 20 * ts)
    s.sendall(b"line-2\n")
    got = s.recv(100)
    print("2 %s" % ("echo" if got == b"line-2\n" else "no-echo %r" % got), flush=True)
    s.close()
except (OSError, ssl.SSLError) as e:
    print("2 failed %s" % e, flush=True)
held.close()
