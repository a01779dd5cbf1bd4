#!/usr/bin/env python3
"""reload_resume.py PORT CA CERT KEY GOFILE — a TLS client with a client
certificate (tests/interop/reload.sh) that keeps a TLS 1.3 session across
a change of the server's client CA file.

1. A full handshake; a line echoed; the session (ticket) kept.
   Prints "saved".
2. A TCP connection, and nothing sent: prints "connected", waits until
   GOFILE exists (the test changes the CA file meanwhile), then its
   ClientHello offers the session.
3. A new connection that offers the session, right after.
Each of 2 and 3 prints "N resumed|new echo|failed REASON".
"""
import os, socket, ssl, sys, time
from strict_tls import strict_client_ctx

port, ca, cert, key, gofile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ts = int(os.environ.get("TLSSHIM_TIME_SCALE", "3"))
ctx = strict_client_ctx(ca, cert, key, bare=True, minv=ssl.TLSVersion.TLSv1_3)


def talk(s, line):
    s.sendall(line)
    got = b""
    while not got.endswith(b"\n"):
        d = s.recv(100)
        if not d:
            break
        got += d
    return got


def one(n, raw, sess):
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost", session=sess, suppress_ragged_eofs=False)
        got = talk(s, b"line-%d\n" % n)
        print("%d %s %s" % (n, "resumed" if s.session_reused else "new",
                            "echo" if got == b"line-%d\n" % n else "no-echo"), flush=True)
        s.close()
    except (OSError, ssl.SSLError) as e:
        print("%d failed %s" % (n, e), flush=True)


raw = socket.create_connection(("127.0.0.1", port), timeout=20 * ts)
s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
talk(s, b"first\n")
sess = s.session
s.close()
print("saved" if sess and sess.has_ticket else "no ticket", flush=True)
raw = socket.create_connection(("127.0.0.1", port), timeout=20 * ts)
print("connected", flush=True)
end = time.monotonic() + 20 * ts
while not os.path.exists(gofile) and time.monotonic() < end:
    time.sleep(0.02)
one(2, raw, sess)
one(3, socket.create_connection(("127.0.0.1", port), timeout=20 * ts), sess)
