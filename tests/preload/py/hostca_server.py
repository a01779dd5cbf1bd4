"""hostca_server.py STATUS CLIENTCA MARKPORT PORT:CERT:KEY[:tls12]... —
the TLS servers of tests/preload/hostca.sh: one process, one thread, one
connection at a time, for every case of the test.

Each PORT (on every address, 0.0.0.0) presents CERT (its chain) and KEY
(":tls12": at most TLS 1.2), asks for a client certificate (optional,
verified against CLIENTCA) and appends one line per connection to STATUS:

  conn port=P sni=NAME|- psk=0|1 ticket=N cn=CN|- reused=0|1 data=TEXT
  conn port=P sni=NAME|- psk=0|1 ticket=N hs-error=REASON
  plain port=P data=TEXT

sni, psk (a pre_shared_key extension: a TLS 1.3 session offered) and
ticket (the length of a SessionTicket extension's ticket: a TLS 1.2
session offered) come from the ClientHello as it came off the wire (read
with MSG_PEEK before the handshake), so that a session the client
offered is seen even where the server would not take it.  cn: the common
name of the client's certificate (- without one); reused: the server
resumed a session; data: what the client sent (its first line, up to 60
bytes).  The answer is every line reversed, then close_notify.  A
connection that does not begin with a TLS handshake record is "plain":
its bytes (what a shim sent in clear).

MARKPORT is plain: a connection there sends one line NAME, and "end
NAME" is appended to STATUS.  Connections are served in the order they
are accepted, each to its end, so every line before "end NAME" belongs
to connections made before the marker's.  Prints "ready"; ends after 300
s (times TLSSHIM_TIME_SCALE)."""
import os
import selectors
import socket
import ssl
import struct
import sys
import time

from strict_tls import strict_server_ctx

S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
status, client_ca, mark_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
end = time.time() + 300 * S


def note(line):
    with open(status, "a") as f:
        f.write(line + "\n")


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    return s


def hello_of(c):
    """The ClientHello's (sni, psk, ticket length), from a peek; None when
    the connection does not start with a handshake record."""
    data, until = b"", time.time() + 10 * S
    while time.time() < until:
        data = c.recv(16384, socket.MSG_PEEK)
        if not data or data[0] != 0x16:
            return None
        if len(data) >= 5 and len(data) >= 5 + struct.unpack("!H", data[3:5])[0]:
            break
        time.sleep(0.01)   # the rest of the record is on its way (a peek does not wait)
    sni, psk, ticket = "-", 0, 0
    try:
        at = 5 + 4 + 2 + 32
        at += 1 + data[at]                                    # session id
        at += 2 + struct.unpack("!H", data[at:at + 2])[0]     # cipher suites
        at += 1 + data[at]                                    # compression
        ext_end = at + 2 + struct.unpack("!H", data[at:at + 2])[0]
        at += 2
        while at + 4 <= ext_end:
            typ, ln = struct.unpack("!HH", data[at:at + 4])
            body = data[at + 4:at + 4 + ln]
            if typ == 0 and len(body) >= 5:
                n = struct.unpack("!H", body[3:5])[0]
                sni = body[5:5 + n].decode("ascii", "replace")
            elif typ == 41:
                psk = 1
            elif typ == 35:
                ticket = ln
            at += 4 + ln
    except (IndexError, struct.error):
        pass
    return sni, psk, ticket


def read_all(c):
    """What c sends until its end (64 KiB at most), and whether it ended
    (False: an error or a timeout first)."""
    got = b""
    try:
        while len(got) < 65536:
            d = c.recv(4096)
            if not d:
                return got, True
            got += d
    except OSError:
        pass
    return got, False


def first_line(b):
    return b.split(b"\n")[0][:60].decode("ascii", "replace")


def serve_tls(c, port, ctx):
    c.settimeout(10 * S)
    h = hello_of(c)
    if h is None:
        got, _ = read_all(c)
        note("plain port=%d data=%s" % (port, first_line(got)))
        return
    head = "conn port=%d sni=%s psk=%d ticket=%d" % ((port,) + h)
    try:
        t = ctx.wrap_socket(c, server_side=True)
    except (ssl.SSLError, OSError) as e:
        note("%s hs-error=%s" % (head, getattr(e, "reason", None) or e.__class__.__name__))
        return
    cn, reused = "-", int(bool(t.session_reused))
    for rdn in (t.getpeercert() or {}).get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                cn = v
    got, ended = read_all(t)
    try:
        if ended:
            t.sendall(b"".join(line[::-1] + b"\n" for line in got.split(b"\n") if line))
            t.unwrap()
    except OSError:     # (ssl.SSLError is one)
        pass
    note("%s cn=%s reused=%d data=%s" % (head, cn, reused, first_line(got)))
    t.close()


sel = selectors.DefaultSelector()
ml = listener(mark_port)
sel.register(ml, selectors.EVENT_READ, ("mark", None))
for spec in sys.argv[4:]:
    parts = spec.split(":")
    ctx = strict_server_ctx()
    ctx.load_cert_chain(parts[1], parts[2])
    ctx.load_verify_locations(client_ca)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    if parts[3:] == ["tls12"]:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    sel.register(listener(int(parts[0])), selectors.EVENT_READ, (int(parts[0]), ctx))
print("ready", flush=True)
while time.time() < end:
    for key, _ in sel.select(timeout=1):
        port, ctx = key.data
        try:
            c, _ = key.fileobj.accept()
        except OSError:
            continue
        with c:
            try:
                if port == "mark":
                    c.settimeout(10 * S)
                    note("end " + first_line(c.recv(256)))
                else:
                    serve_tls(c, port, ctx)
            except Exception as e:    # noted: the case fails, the server goes on
                note("error %r" % e)
