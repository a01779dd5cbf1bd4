"""half_record_client.py PORT CA PID — a MemoryBIO TLS client over a raw
socket (tests/preload/asyncio.sh): after the handshake one application-data
record cut in two.  After the first half it watches for 1 s (the scenario)
that no echo comes and that the server (PID) uses no CPU; then the second
half, and the echo must come.  Prints "early N", "cpu S", "echo ok".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import os, socket, ssl, sys, time
from strict_tls import strict_client_ctx
port, ca, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
HZ = os.sysconf("SC_CLK_TCK")

def cpu():
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ   # utime + stime

ctx = strict_client_ctx(ca)
inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, outg, server_hostname="localhost")
s = socket.create_connection(("127.0.0.1", port), timeout=10 * S)

def push():
    d = outg.read()
    if d:
        s.sendall(d)

def pull(timeout):
    """Feed what arrives within timeout to TLS; return the plain text."""
    s.settimeout(timeout)
    try:
        d = s.recv(65536)
    except socket.timeout:
        return b""
    if not d:
        raise EOFError("server closed")
    inc.write(d)
    got = b""
    while True:
        try:
            got += tls.read(65536)
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            return got

end = time.time() + 10 * S
while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        push()
        if time.time() > end:
            print("handshake timeout"); sys.exit(1)
        d = s.recv(65536)
        if not d:
            print("handshake: server closed"); sys.exit(1)
        inc.write(d)
push()                                   # the client Finished
print("handshake ok", tls.version(), flush=True)

msg = b"half a record, then the other half\n"
tls.write(msg)
rec = outg.read()
half = len(rec) // 2
s.sendall(rec[:half])
c0 = cpu()
early = b""
t_end = time.time() + 1.0
while time.time() < t_end:
    early += pull(max(0.01, t_end - time.time()))
c1 = cpu()
print("record %d bytes, sent %d" % (len(rec), half))
print("early %d" % len(early))
print("cpu %.2f" % (c1 - c0))
s.sendall(rec[half:])
got = early
end = time.time() + 10 * S
while len(got) < len(msg) and time.time() < end:
    got += pull(end - time.time())
print("echo ok" if got == msg else "echo MISMATCH %r" % got[:60], flush=True)
try:
    tls.unwrap()
except ssl.SSLWantReadError:
    pass
push()
s.shutdown(socket.SHUT_WR)
end = time.time() + 5 * S
try:
    while time.time() < end:
        pull(end - time.time())
except (EOFError, OSError, ssl.SSLError):
    pass
s.close()
