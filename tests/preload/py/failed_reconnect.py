"""failed_reconnect.py PORT DENY PLAIN [fastopen|srr] — under the library (tests/preload/
failed_reconnect.sh): a TLS connection (a connect rule names PORT) whose
connect the peer refuses after the library's handshake has started, then
connect() again on the same socket.
The listener on PORT is this program's own, with a full accept queue (a
backlog of 0 and one connection of its own queued, never used): the
client's SYN is dropped and the client stays connecting; its first write
starts the handshake (the ClientHello waits for the connection:
"write EAGAIN"); the listener goes, and the client's next SYN (1 s later)
meets a reset: TCP state CLOSE, its handshake started.  Then connect()
again, blocking: twice to DENY (a deny rule names it: the kernel answers
the first with the refusal and connected the second before h195, which
took the old session's ClientHello there), twice to PLAIN; with
"fastopen", sendto(MSG_FASTOPEN) with "secret plaintext" instead, the
same four.  Prints "connect N ERROR" for each refusal, "reconnected N"
where a connect worked (then writes "secret plaintext"), "sent N" where
a Fast Open sent.
With "srr", the socket carries a loose source route (IP_OPTIONS, LSRR via
127.0.0.1) set after the refusal, and the four connects are non-blocking:
the kernel routes such a connect to the route's first hop, not to the
address, so the multicast host (shim/connect.c, multicast_dest) was
connected all the same (SYN_SENT, a SYN sent) before h200; "syn N" where a
connect left the socket SYN_SENT ("options refused" where the kernel will
not take the option).
With "mapped", the client is an AF_INET6 socket and every address it
names is v4-mapped (::ffff:127.0.0.1): the multicast host given in its
place must be ff02::1 whole (a v4-mapped multicast address would take
the kernel's IPv4 path), the same four blocking connects."""
import errno
import os
import socket
import struct
import sys
import time

port, deny, plain = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
fastopen = sys.argv[4:] == ["fastopen"]
srr = sys.argv[4:] == ["srr"]
mapped = sys.argv[4:] == ["mapped"]
HOST = "::ffff:127.0.0.1" if mapped else "127.0.0.1"
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
ESTABLISHED, SYN_SENT, CLOSE = 1, 2, 7


def state(s):
    return struct.unpack("B", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]


def wait_state(s, want, secs):
    end = time.monotonic() + secs * S
    while state(s) != want and time.monotonic() < end:
        time.sleep(0.05)
    return state(s) == want


ls = socket.socket()
ls.bind(("127.0.0.1", port))
ls.listen(0)
filler = socket.socket()
filler.setblocking(False)
filler.connect_ex(("127.0.0.1", port))      # (queued; no handshake: never used)
print("filler %s" % ("queued" if wait_state(filler, ESTABLISHED, 10) else "not queued"), flush=True)
s = socket.socket(socket.AF_INET6 if mapped else socket.AF_INET)
s.setblocking(False)
s.connect_ex((HOST, port))
try:
    s.send(b"x")
    print("write sent", flush=True)
except OSError as e:
    print("write %s" % errno.errorcode.get(e.errno), flush=True)
print("state %d" % state(s), flush=True)
ls.close()
print("refused %s" % ("yes" if wait_state(s, CLOSE, 20) else "no"), flush=True)
if srr:
    # LSRR (131), length 7, pointer 4, one hop (127.0.0.1), then a NOP (1)
    try:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS,
                     bytes([131, 7, 4]) + socket.inet_aton("127.0.0.1") + bytes([1]))
    except OSError as e:
        print("options refused %s" % errno.errorcode.get(e.errno), flush=True)
    s.setblocking(False)
    for i, dest in enumerate((deny, deny, plain, plain)):
        e = s.connect_ex(("127.0.0.1", dest))
        print(("connect %d %s" % (i, errno.errorcode.get(e))) if e else "reconnected %d" % i,
              flush=True)
        if state(s) == SYN_SENT:
            print("syn %d" % i, flush=True)
    sys.exit(0)
s.setblocking(True)
s.settimeout(5 * S)
for i, dest in enumerate((deny, deny, plain, plain)):
    try:
        if fastopen:
            n = s.sendto(b"secret plaintext\n", socket.MSG_FASTOPEN, ("127.0.0.1", dest))
            print("sent %d" % n, flush=True)
            continue
        s.connect((HOST, dest))
    except OSError as e:
        print("connect %d %s" % (i, errno.errorcode.get(e.errno)), flush=True)
        continue
    print("reconnected %d" % i, flush=True)
    try:
        s.sendall(b"secret plaintext\n")
    except OSError as e:
        print("write %s" % errno.errorcode.get(e.errno), flush=True)
    break
