"""tls_clients.py PORT CA N seq|conc SIZE TLSPEER_DIR — N verified TLS clients
(tests/preload/forking.sh), one after the other or all at once (a thread
each); each sends SIZE random bytes, reads the echo, then unwrap()s: sends
close_notify and requires the server's.  Prints "OK/N ok" and a line per
failed client.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import os, socket, ssl, sys, threading, time
from strict_tls import strict_client_ctx
sys.path.insert(0, sys.argv[6])
from tlspeer import exchange
port, ca, n, how, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
ctx = strict_client_ctx(ca)
results = [None] * n

def one(i):
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=60 * S)
        s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
        msg = os.urandom(size)
        # One thread per SSL object (OpenSSL forbids concurrent use):
        # tlspeer's exchange() interleaves sending and reading.
        got = exchange(s, msg, time.time() + 60 * S)
        s.setblocking(True)
        s.settimeout(60 * S)
        if bytes(got) != msg:
            results[i] = "echo mismatch: sent %d got %d" % (size, len(got))
            return
        s.unwrap()          # our close_notify, and the server's in answer
        s.close()
        results[i] = "ok"
    except (OSError, ssl.SSLError, EOFError) as e:
        results[i] = "%s: %s" % (type(e).__name__, e)

if how == "seq":
    for i in range(n):
        one(i)
else:
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
ok = results.count("ok")
print("%d/%d ok" % (ok, n))
for i, r in enumerate(results):
    if r != "ok":
        print("client %d: %s" % (i, r))
