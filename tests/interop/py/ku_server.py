"""ku_server.py PORT CERT KEY MAXVER — one TLS connection (tests/interop/keyupdate.sh):
read to the end, then print "keyupdates N records R bytes B sha256 H", counting
the KeyUpdate messages the client sent (OpenSSL's message callback, through
Python's ssl) and the application data records.  MAXVER: 1.2 or 1.3."""
import hashlib, socket, ssl, sys
from strict_tls import strict_server_ctx, listener

port, cert, key, maxver = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = strict_server_ctx(cert, key,
                        maxv=ssl.TLSVersion.TLSv1_3 if maxver == "1.3" else ssl.TLSVersion.TLSv1_2)
n = {"ku": 0, "rec": 0}


def cb(conn, direction, version, ctype, mtype, data):
    if direction != "read":
        return
    if mtype == ssl._TLSMessageType.KEY_UPDATE and ctype == ssl._TLSContentType.HANDSHAKE:
        n["ku"] += 1
    # TLS 1.3: each record's inner content type, as OpenSSL reports it
    if ctype == ssl._TLSContentType.INNER_CONTENT_TYPE and data[:1] == b"\x17":
        n["rec"] += 1


ctx._msg_callback = cb
ls = listener(port, 1)
print("ready", flush=True)
c, _ = ls.accept()
c.settimeout(30)
s = ctx.wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
h, total = hashlib.sha256(), 0
while True:
    try:
        d = s.recv(65536)
    except ssl.SSLZeroReturnError:
        break
    if not d:
        break
    h.update(d)
    total += len(d)
print("keyupdates %d records %d bytes %d sha256 %s %s" % (n["ku"], n["rec"], total, h.hexdigest(), s.version()),
      flush=True)
try:
    s.unwrap()
except (OSError, ValueError):
    pass
s.close()
