"""stall_server.py PORT CERT KEY DONE-FILE [COUNT-FILE | --reset | --rst] — a TLS
server that completes the handshake and then never reads
(tests/preload/flags.sh), until DONE-FILE exists (at most 30 s).  Prints
"listening".  With COUNT-FILE it then reads to the end of the stream (at
most 15 s), writing the count of plain-text bytes received so far into
COUNT-FILE after each read.  With --reset it goes, with what it never read
still queued: its FIN, then a reset (SO_LINGER 0) that finds the client's
socket in CLOSE_WAIT, where Linux's next send says EPIPE
(tests/preload/sigpipe_wait.sh).  With --rst: the reset alone (no FIN first).
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import os, socket, ssl, sys, time
from strict_tls import listener, strict_server_ctx
ctx = strict_server_ctx(sys.argv[2], sys.argv[3])
ls = listener(int(sys.argv[1]), 1, 15 * S); print("listening", flush=True)
c, _ = ls.accept(); s = ctx.wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
end = time.time() + 30 * S                      # never reads, until told
while not os.path.exists(sys.argv[4]) and time.time() < end:
    time.sleep(0.05)
if len(sys.argv) > 5 and sys.argv[5] in ("--reset", "--rst"):
    import struct
    if sys.argv[5] == "--reset":
        s.shutdown(socket.SHUT_WR)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
elif len(sys.argv) > 5:
    total, end = 0, time.time() + 15 * S
    s.settimeout(1)
    while time.time() < end:
        try:
            d = s.recv(1 << 20)
        except socket.timeout:
            continue
        except (OSError, ssl.SSLError):
            break
        if not d:
            break
        total += len(d)
        with open(sys.argv[5] + ".tmp", "w") as f:
            f.write("%d\n" % total)
        os.replace(sys.argv[5] + ".tmp", sys.argv[5])
