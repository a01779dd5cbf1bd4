"""nginx_pipeline.py PORT PID CA — two pipelined requests in one TLS record
(tests/interop/nginx.sh), from a client with a small receive buffer that
then does not read for 2 s.  Prints "cpu SECONDS" (utime+stime of PID,
the nginx worker, during those 2 s) and "answers STATUS LENGTH STATUS
LENGTH" once it has read both answers.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import os, socket, ssl, sys, time
from strict_tls import strict_client_ctx
port, pid, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
HZ = os.sysconf("SC_CLK_TCK")

def cpu():
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ

raw = socket.socket()
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
raw.settimeout(20 * S)
raw.connect(("127.0.0.1", port))
ctx = strict_client_ctx(ca)
s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
req1 = b"GET /file50m HTTP/1.1\r\nHost: localhost\r\n\r\n"
req2 = (b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"p" * 2000 +
        b"\r\nConnection: close\r\n\r\n")
s.sendall(req1 + req2)           # one record of about 2.1 KB

def server_send_queue():
    """Bytes waiting in nginx's send buffer on this connection (its end of
    it in /proc/net/tcp: local port PORT, remote port ours)."""
    mine = s.getsockname()[1]
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            lport = int(fields[1].split(":")[1], 16)
            rport = int(fields[2].split(":")[1], 16)
            if lport == port and rport == mine:
                return int(fields[4].split(":")[0], 16)
    return 0

# Until nginx has filled the socket and waits (its send queue stays full).
end = time.time() + 20 * S
while server_send_queue() == 0 and time.time() < end:
    time.sleep(0.05)
print("server send queue %d" % server_send_queue(), flush=True)
c0 = cpu()
time.sleep(2)                    # the scenario: 2 s without reading
print("cpu %.2f" % (cpu() - c0), flush=True)
buf = b""
answers = []
while len(answers) < 2:
    while b"\r\n\r\n" not in buf:
        d = s.recv(1 << 20)
        if not d:
            print("eof in headers after %d answers" % len(answers)); sys.exit(1)
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = lines[0].split()[1].decode()
    length = 0
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    got = min(len(buf), length)      # count the body, do not keep it
    buf = buf[got:]
    while got < length:
        d = s.recv(1 << 20)
        if not d:
            print("eof in body: %d of %d" % (got, length)); sys.exit(1)
        take = min(len(d), length - got)
        got += take
        buf = d[take:]
    answers.append((status, length))
print("answers %s %d %s %d" % (answers[0] + answers[1]))
s.close()
