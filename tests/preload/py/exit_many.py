"""exit_many.py — many sessions ended by _exit() (tests/preload/lifecycle.sh).

  exit_many.py server PORT N CERT KEY
      A TLS server (strict: a bare FIN is a truncation) that takes N
      connections at once, echoes one line on each, then notes how each
      ended; prints "ready", and at the end "clean C ragged R" (60 s at
      most).
  exit_many.py client PORT N HEADROOM
      Under the library: N connections (TLS by the library's policy), one
      line echoed on each, all left open; then, when HEADROOM (MiB) is not
      0, RLIMIT_AS is set to the process's size plus HEADROOM, so that the
      library's exit heap (core/alloc.c, heap_map: 256, 64, 16 or 4 MiB,
      the first that can be had) gets 4 MiB, as under strict overcommit;
      then os._exit(0): the library's _exit() sends close_notify on
      every session from the exit heap.  Prints "open N".
"""
import os
import resource
import selectors
import socket
import ssl
import sys
import time

from strict_tls import strict_server_ctx, listener

mode, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))

if mode == "client":
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
    conns = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=20 * S)
        s.sendall(b"x\n")
        if s.recv(10) != b"x\n":
            print("no echo on connection %d" % i)
            sys.exit(1)
        conns.append(s)
    print("open %d" % n, flush=True)
    headroom = int(sys.argv[4])
    if headroom:
        vm = [l for l in open("/proc/self/status") if l.startswith("VmSize:")][0]
        lim = int(vm.split()[1]) * 1024 + headroom * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    os._exit(0)

ctx = strict_server_ctx(sys.argv[4], sys.argv[5])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
ls = listener(port, n)
ls.setblocking(False)
print("ready", flush=True)
sel = selectors.DefaultSelector()
sel.register(ls, selectors.EVENT_READ, None)
state = {}
clean = ragged = done = 0
end = time.monotonic() + 60 * S
while done < n and time.monotonic() < end:
    for key, _ in sel.select(1):
        if key.data is None:
            try:
                c, _ = ls.accept()
            except BlockingIOError:
                continue
            c.setblocking(False)
            s = ctx.wrap_socket(c, server_side=True, do_handshake_on_connect=False,
                                suppress_ragged_eofs=False)
            state[s] = "handshake"
            sel.register(s, selectors.EVENT_READ, "conn")
            continue
        s = key.fileobj
        try:
            if state[s] == "handshake":
                s.do_handshake()
                state[s] = "line"
            while True:
                d = s.recv(4096)
                if not d:
                    clean += 1
                    raise EOFError
                if state[s] == "line":
                    s.sendall(d)
                    state[s] = "idle"
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            continue
        except EOFError:
            pass
        except (ssl.SSLError, OSError):
            ragged += 1
        sel.unregister(s)
        s.close()
        done += 1
print("clean %d ragged %d" % (clean, ragged), flush=True)
