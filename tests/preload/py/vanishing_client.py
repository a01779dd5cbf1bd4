"""vanishing_client.py PORT MODE [CA [GOFILE]] — a client that the test makes vanish
(tests/preload/faults_halfopen.sh drops its packets, then kills it: no FIN,
no RST ever reaches the server).

MODE read | write: connect (TLS with CA, verified for "localhost"; plain
without), send "MODE\\n", read "ok\\n", print "local PORT" and "ready"; then
(read) read nothing more, or (write) read 16 KiB every 0.1 s, until killed.
MODE hello: TLS only; send a whole ClientHello, print "local PORT" and
"ready", read nothing more (the handshake is never finished).
MODE echo (not vanishing: the client served meanwhile): TLS, connected
and handshaken at once, prints "local PORT" and "ready", waits for GOFILE to exist, then
sends a line and prints "echo ok" when it is echoed whole, or an error.
Every step is bounded (60 s); the test kills it long before.
"""
import os, socket, ssl, sys, time
from strict_tls import strict_client_ctx

port, mode = int(sys.argv[1]), sys.argv[2]
ca = sys.argv[3] if len(sys.argv) > 3 else None
s = socket.create_connection(("127.0.0.1", port), timeout=60)
local = s.getsockname()[1]
if mode == "echo":
    ctx = strict_client_ctx(ca)
    s = ctx.wrap_socket(s, server_side=False, server_hostname="localhost", suppress_ragged_eofs=False)
    print("local %d" % local, flush=True)
    print("ready", flush=True)
    end = time.time() + 60
    while not os.path.exists(sys.argv[4]) and time.time() < end:
        time.sleep(0.02)
    line = b"served meanwhile %d\n" % os.getpid()
    s.sendall(line)
    got = b""
    while len(got) < len(line):
        b = s.recv(len(line) - len(got))
        if not b:
            break
        got += b
    print("echo ok" if got == line else "echo MISMATCH %r" % got, flush=True)
    try:
        s.unwrap()  # close_notify both ways: a clean end for the server
    except (ssl.SSLError, OSError) as e:
        print("unwrap error %s" % e, flush=True)
    s.close()
    sys.exit(0 if got == line else 1)
if mode == "hello":
    ctx = strict_client_ctx(ca)
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, outg, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    s.sendall(outg.read())
    print("local %d" % local, flush=True)
    print("ready", flush=True)
    time.sleep(60)
    sys.exit(0)
if ca:
    ctx = strict_client_ctx(ca)
    s = ctx.wrap_socket(s, server_hostname="localhost", suppress_ragged_eofs=False)
s.sendall((mode + "\n").encode())
got = b""
while not got.endswith(b"\n"):
    b = s.recv(3 - len(got))
    if not b:
        print("eof before ok", flush=True)
        sys.exit(1)
    got += b
if got != b"ok\n":
    print("unexpected %r" % got, flush=True)
    sys.exit(1)
print("local %d" % local, flush=True)
print("ready", flush=True)
# Read mode: nothing more.  Write mode: read on, 16 KiB every 0.1 s, until
# killed.  A client that read nothing left the server writing into a zero
# window from "ready" on, and the kernel counts TCP_USER_TIMEOUT over zero
# window probes from the first one (answered or not): the write timed out
# a user timeout after "ready", however late the test made the client
# vanish (on a loaded machine, before the exchange meant to be served
# meanwhile).  Read now and then, the window opens again each time; once
# the client vanished, the unacknowledged data times out from then.
end = time.time() + 60
while time.time() < end:
    if mode == "write":
        s.recv(16384)
    time.sleep(0.1)
