"""redis_bgsave_client.py PORT CA — a verified TLS redis client
(tests/interop/redis_bgsave.sh): SET, BGSAVE (redis forks with this
session live), then, once INFO persistence says the save is over, GET,
SET, GET.  Prints the five replies joined by " | ".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import socket, ssl, sys, time
from strict_tls import strict_client_ctx, connect
ctx = strict_client_ctx(sys.argv[2])
s = connect(ctx, int(sys.argv[1]), 10 * S)
f = s.makefile("rb")
def cmd(*a):
    s.sendall(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a))
    line = f.readline()
    if line.startswith(b"$") and line != b"$-1\r\n":
        line += f.readline()
    return line.decode().strip().replace("\r\n", " ")
def info(section):
    s.sendall(b"*2\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n" % (len(section), section))
    head = f.readline()
    if not head.startswith(b"$"):
        return head.decode(errors="replace")
    return f.read(int(head[1:]) + 2).decode(errors="replace")
r = [cmd(b"SET", b"k", b"before"), cmd(b"BGSAVE")]
end = time.time() + 20 * S                    # until the forked child's save is over
while time.time() < end and "rdb_bgsave_in_progress:0" not in info(b"persistence"):
    time.sleep(0.05)
r += [cmd(b"GET", b"k"), cmd(b"SET", b"k", b"after"), cmd(b"GET", b"k")]
print(" | ".join(r))
