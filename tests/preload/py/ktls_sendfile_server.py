"""ktls_sendfile_server.py PORT FILE MODE... — a plain server run under the
shim (tests/preload/ktls.sh): one connection per MODE, in order, each
answered with sendfile() of the whole FILE, then shutdown(SHUT_WR), wait for
the client's end, close.  MODE "block": a blocking socket, os.sendfile with
the offset form; "nonblock": O_NONBLOCK, os.sendfile (file-position form)
with select() for room, as an event-driven server does.  Prints "listening",
then "sent MODE N" per connection.
"""
import os, select, socket, sys

S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(4)
print("listening", flush=True)
size = os.path.getsize(sys.argv[2])
for mode in sys.argv[3:]:
    c, _ = ls.accept()
    with open(sys.argv[2], "rb") as f:
        total = 0
        if mode == "block":
            while total < size:
                total += os.sendfile(c.fileno(), f.fileno(), total, size - total)
        else:
            c.setblocking(False)
            while total < size:
                try:
                    n = os.sendfile(c.fileno(), f.fileno(), None, size - total)
                except BlockingIOError:
                    if not select.select([], [c], [], 30 * S)[1]:
                        sys.exit("no room for 30 s")
                    continue
                if n == 0:
                    sys.exit("sendfile: 0 before the end of the file")
                total += n
            c.setblocking(True)
    print("sent", mode, total, flush=True)
    c.shutdown(socket.SHUT_WR)
    c.settimeout(30 * S)
    c.recv(10)
    c.close()
