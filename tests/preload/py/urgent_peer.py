"""urgent_peer.py PORT CERT KEY — a TLS server (Python ssl, a real peer)
that sends TCP urgent data on the TLS stream, as an attacker on the path
can (tests/preload/oob.sh, urgent cases).  For one connection: echoes
b"hi"; on b"go" sends the record b"first-record"; on b"ok" sends one
byte b"U" with MSG_OOB on the TCP socket under the TLS layer (the kernel
marks it urgent); on b"mo" sends the record b"second-record" and
close_notify.  Prints "listening", then "sent" or the error.
"""
import socket, sys
from strict_tls import strict_server_ctx, listener

port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = strict_server_ctx(cert, key)
ls = listener(port, 1, 20)
print("listening", flush=True)


def expect(s, want):
    got = b""
    while len(got) < len(want):
        d = s.recv(len(want) - len(got))
        if not d:
            break
        got += d
    if got != want:
        raise OSError("client said %r, not %r" % (got, want))


try:
    raw, _ = ls.accept()
    raw.settimeout(20)
    s = ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
    expect(s, b"hi")
    s.sendall(b"hi")
    expect(s, b"go")
    s.sendall(b"first-record")
    expect(s, b"ok")
    # (wrap_socket detached raw: the TCP socket is reached by its number)
    tcp = socket.socket(fileno=socket.dup(s.fileno()))
    tcp.send(b"U", socket.MSG_OOB)
    tcp.close()
    expect(s, b"mo")
    s.sendall(b"second-record")
    print("sent", flush=True)
    try:
        s.unwrap()
    except (OSError, ValueError):
        pass
except (OSError, ValueError) as e:
    print("error:", e, flush=True)
