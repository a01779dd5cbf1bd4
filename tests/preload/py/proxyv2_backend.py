"""proxyv2_backend.py PORT [ADDR [COUNT]] — a backend that reads a PROXY protocol v2
header (tests/preload/proxyv2.sh), run under the shim with an accept rule
proxy_protocol = "v2".  For one connection it checks that the header is
there the way bytes in the socket would be: select() and epoll (edge
triggered) report it readable, FIONREAD counts exactly its bytes (the
client sends nothing before our "ready"), MSG_PEEK shows the signature
without taking it; then it takes the header with readv in two pieces,
parses it byte by byte and prints every field (one "key=value" per line,
TLVs in the order they came), says "ready", reads the client's line and
echoes it.  Any deviation prints "error ..." and exits 1.
"""
import array, fcntl, os, select, socket, struct, sys, termios
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
port = int(sys.argv[1])
addr = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
SIG = b"\r\n\r\n\x00\r\nQUIT\n"

def die(msg):
    print("error " + msg, flush=True)
    sys.exit(1)

ls = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if ":" in addr:
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
ls.bind((addr, port))
ls.listen(4)
print("listening", flush=True)
for conn in range(count):
    out = []
    if count > 1:
        print("conn %d" % (conn + 1), flush=True)
    c, peer = ls.accept()
    c.settimeout(None)

    r, _, _ = select.select([c], [], [], 30 * S)
    if not r:
        die("select: the header never became readable")
    ep = select.epoll()
    ep.register(c.fileno(), select.EPOLLIN | select.EPOLLET)
    ev = ep.poll(5 * S)
    if not ev or not ev[0][1] & select.EPOLLIN:
        die("epoll (edge triggered): no EPOLLIN for the header: %r" % ev)
    buf = array.array("i", [0])
    fcntl.ioctl(c.fileno(), termios.FIONREAD, buf)
    fionread = buf[0]
    peek = c.recv(16, socket.MSG_PEEK)
    if len(peek) != 16 or peek[:12] != SIG:
        die("MSG_PEEK: %r" % peek)
    if peek[12] != 0x21:
        die("version/command 0x%02x" % peek[12])
    fam = peek[13]
    length = struct.unpack("!H", peek[14:16])[0]
    if fionread != 16 + length:
        die("FIONREAD %d, header %d bytes" % (fionread, 16 + length))
    head = bytearray(16)
    body = bytearray(length)
    n = c.recvmsg_into([head, body])[0]
    if n != 16 + length or bytes(head) != peek:
        die("readv took %d of %d" % (n, 16 + length))
    buf = array.array("i", [0])
    fcntl.ioctl(c.fileno(), termios.FIONREAD, buf)
    if buf[0] != 0:
        die("FIONREAD after the header: %d" % buf[0])
    out.append("fionread_header=%d" % fionread)
    out.append("family=0x%02x" % fam)
    b = bytes(body)
    if fam == 0x11:
        src, dst = socket.inet_ntop(socket.AF_INET, b[0:4]), socket.inet_ntop(socket.AF_INET, b[4:8])
        sp, dp = struct.unpack("!HH", b[8:12])
        off = 12
    elif fam == 0x21:
        src, dst = socket.inet_ntop(socket.AF_INET6, b[0:16]), socket.inet_ntop(socket.AF_INET6, b[16:32])
        sp, dp = struct.unpack("!HH", b[32:36])
        off = 36
    else:
        die("family 0x%02x" % fam)
    out.append("src=%s:%d" % (src, sp))
    out.append("dst=%s:%d" % (dst, dp))

    def tlvs(data, prefix):
        i = 0
        while i < len(data):
            if i + 3 > len(data):
                die("truncated TLV at %d" % i)
            t, l = data[i], struct.unpack("!H", data[i + 1:i + 3])[0]
            v = data[i + 3:i + 3 + l]
            if len(v) != l:
                die("TLV 0x%02x: %d of %d bytes" % (t, len(v), l))
            if t == 0x20 and not prefix:
                out.append("ssl_client=0x%02x" % v[0])
                out.append("ssl_verify=%d" % struct.unpack("!I", v[1:5])[0])
                tlvs(v[5:], "ssl.")
            else:
                out.append("%stlv_0x%02x=%s" % (prefix, t, v.decode("ascii")))
            i += 3 + l
    tlvs(b[off:], "")
    for l in out:
        print(l)
    c.sendall(b"ready\n")
    f = c.makefile("rb")
    line = f.readline()
    c.sendall(b"echo " + line)
    print("got %r" % line.decode(errors="replace"), flush=True)
    c.shutdown(socket.SHUT_WR)
    try:
        while c.recv(4096):
            pass
    except ConnectionResetError:
        pass
    c.close()
