"""sendfile_server.py PORT FILE — a plain server run under the shim
(tests/preload/bypass.sh): answers one connection with sendfile() of FILE,
the offset form (2000000 bytes from offset 1000) and then the file-position
form (socket.sendfile, 2500000 bytes from 0).  Prints "listening", then
"sent TOTAL M pos POS".
"""
import os, socket, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1)
print("listening", flush=True)
c, _ = ls.accept()
with open(sys.argv[2], "rb") as f:
    n = os.sendfile(c.fileno(), f.fileno(), 1000, 2000000)   # offset form
    total = n
    while total < 2000000:
        total += os.sendfile(c.fileno(), f.fileno(), 1000 + total, 2000000 - total)
    f.seek(0)
    m = c.sendfile(f, 0, 2500000)                              # file-position form
    print("sent", total, m, "pos", f.tell(), flush=True)
c.shutdown(socket.SHUT_WR)
c.recv(10)
c.close()
