"""reconnect_threads.py HOST PORT THREADS COUNT TEXT — THREADS threads of
one process each connect COUNT times in a row (plain TCP: the shim adds
TLS), send TEXT and a newline, read the reply line, print it, close.
For tests/interop/resume.sh: the session cache under concurrent use.
Exit 3 when a connection failed.
"""
import os, socket, sys, threading
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
host, port, nthreads, count, text = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
lock = threading.Lock()
failed = []

def worker(t):
    for i in range(count):
        try:
            s = socket.create_connection((host, port), timeout=60 * S)
            s.sendall(text.encode() + b"\n")
            got = b""
            while not got.endswith(b"\n"):
                b = s.recv(4096)
                if not b:
                    break
                got += b
            s.close()
        except OSError as e:
            got = b""
            print("reconnect_threads: thread %d connection %d: %s" % (t, i + 1, e), file=sys.stderr)
        with lock:
            if got.endswith(b"\n"):
                sys.stdout.write(got.decode(errors="replace"))
                sys.stdout.flush()
            else:
                failed.append((t, i))

threads = [threading.Thread(target=worker, args=(t,)) for t in range(nthreads)]
for th in threads:
    th.start()
for th in threads:
    th.join()
sys.exit(3 if failed else 0)
