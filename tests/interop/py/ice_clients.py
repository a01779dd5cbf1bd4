#!/usr/bin/env python3
"""ice_clients.py — a streaming source and its listeners, over TLS, for
tests/interop/icecast.sh.

  ice_clients.py PORT CA PASSWORD LISTENERS BYTES

The source logs in with HTTP PUT /live (Basic auth "source:PASSWORD") and
streams a known sequence (8-byte big-endian counters 0, 1, 2...) in 16 KB
pieces, for as long as the listeners read.  Once the server has answered the PUT, LISTENERS listeners GET
/live at once and read BYTES of the stream each.  Then the source stops
sending, but keeps its connection open, until the server ends it (its
source timeout).  Prints:
  source 200                  the server took the source
  listener N 200 ok|BAD       BYTES read, a stretch of the sequence (or not)
  source ended clean|ragged   how the server ended the idle source
Exit 0 when every listener's data was a stretch of the stream and the
server ended the source with close_notify.  Every socket has a timeout
(x TLSSHIM_TIME_SCALE); every loop is bounded.
"""
import array
import base64
import os
import ssl
import struct
import sys
import threading
from strict_tls import strict_client_ctx, connect, truncated

S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
CHUNK = 2048             # counters a piece: 16 KB


def counters(k, n):
    """The stream's counters k .. k+n-1, 8 bytes big-endian each."""
    a = array.array("Q", range(k, k + n))
    if sys.byteorder == "little":
        a.byteswap()
    return a.tobytes()


def stretch(body):
    """body (but a partial counter at each end) is consecutive counters."""
    for a in range(8):
        n = (len(body) - a) // 8
        if n < 2:
            continue
        k0 = struct.unpack(">Q", body[a:a + 8])[0]
        if k0 < 2 ** 40 and body[a:a + 8 * n] == counters(k0, n):
            return True
    return False


def head(s):
    buf = b""
    while b"\r\n\r\n" not in buf and len(buf) < 65536:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    h, _, rest = buf.partition(b"\r\n\r\n")
    return h.split(b"\r\n")[0].decode(errors="replace"), rest


def main():
    port, ca, pw, n, want = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                             int(sys.argv[4]), int(sys.argv[5]))
    ctx = strict_client_ctx(ca)
    src = connect(ctx, port, 30 * S)
    auth = base64.b64encode(("source:" + pw).encode()).decode()
    src.sendall(("PUT /live HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic %s\r\n"
                 "Content-Type: application/octet-stream\r\nIce-Public: 0\r\n\r\n" % auth).encode())
    status, _ = head(src)
    code = status.split(" ")[1] if " " in status else status
    print("source", code, flush=True)
    if code != "200":
        return False
    done = threading.Event()
    results = {}

    def feed():
        for k in range(0, 100000 * CHUNK, CHUNK):      # at most 1.6 GB
            if done.is_set():
                break
            src.sendall(counters(k, CHUNK))
            done.wait(0.01)       # a stream, not a flood

    def listen(i):
        try:
            s = connect(ctx, port, 30 * S)
            s.sendall(b"GET /live HTTP/1.0\r\nHost: localhost\r\n\r\n")
            st, body = head(s)
            while len(body) < want:
                d = s.recv(65536)
                if not d:
                    break
                body += d
            s.close()
            results[i] = "%s %s" % (st.split(" ")[1] if " " in st else st,
                                    "ok" if len(body) >= want and stretch(body[:want]) else
                                    "BAD %d bytes" % len(body))
        except (OSError, ValueError) as e:
            results[i] = "error %s" % e

    f = threading.Thread(target=feed, daemon=True)
    f.start()
    ls = [threading.Thread(target=listen, args=(i,)) for i in range(n)]
    for t in ls:
        t.start()
    for t in ls:
        t.join(120 * S)
    done.set()
    f.join(30 * S)
    for i in range(n):
        print("listener", i, results.get(i, "missing"), flush=True)
    # idle now: the server's source timeout ends the connection
    src.settimeout(60 * S)
    try:
        d = src.recv(1)
        how = "clean" if not d else "data"
    except ssl.SSLError as e:
        how = "ragged" if truncated(e) else "error %s" % e
    print("source ended", how, flush=True)
    return how == "clean" and all(results.get(i, "").endswith(" ok") for i in range(n))


if __name__ == "__main__":
    try:
        ok = main()
    except Exception as e:  # noqa: BLE001 - reported, exit 1
        print("error", type(e).__name__, e, flush=True)
        ok = False
    sys.exit(0 if ok else 1)
