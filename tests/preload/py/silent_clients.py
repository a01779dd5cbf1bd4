"""silent_clients.py PORT N HOLD — N plain TCP connections that never send a
byte (no ClientHello), for tests/preload/faults_timeout.sh.  Prints
"connected N" once all are open, then, for each connection, how it ended:
"eof T" (the server closed it: FIN), "reset T" (RST) or "held" (still open
after HOLD seconds), T being the wall-clock time (time.time()) it ended.
"""
import select, socket, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = [socket.create_connection(("127.0.0.1", port), timeout=hold) for _ in range(n)]
print("connected %d" % n, flush=True)
end = time.time() + hold
live = list(socks)
while live and time.time() < end:
    r, _, _ = select.select(live, [], [], max(0.0, end - time.time()))
    for s in r:
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            print("reset %.3f" % time.time(), flush=True)
            live.remove(s)
            continue
        if not d:
            print("eof %.3f" % time.time(), flush=True)
            live.remove(s)
        else:
            print("data %d bytes" % len(d), flush=True)
for s in live:
    print("held", flush=True)
