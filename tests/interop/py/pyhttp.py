"""pyhttp.py OUT URL [OUT URL...] — GET each URL (http://HOST:PORT/PATH, all
on one host) over ONE kept-alive connection, body to OUT
(tests/interop/curl_client.sh: the stand-in for curl where curl cannot
start with the ASan runtime).  Exit 0, or 7 when the connection is refused
(as curl), 1 on another error.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
# pyhttp.py OUT URL [OUT URL...]: GET each URL (http://HOST:PORT/PATH, all
# on one host) over ONE kept-alive connection, body to OUT.  Exit 0, or 7
# when the connection is refused (as curl), 1 on another error.
import http.client, sys, urllib.parse
pairs = list(zip(sys.argv[1::2], sys.argv[2::2]))
u = urllib.parse.urlsplit(pairs[0][1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=20 * S)
try:
    for out, url in pairs:
        v = urllib.parse.urlsplit(url)
        c.request("GET", v.path + ("?" + v.query if v.query else ""))
        r = c.getresponse()
        body = r.read()
        print("status", r.status, "bytes", len(body), flush=True)
        with open(out, "wb") as f:
            f.write(body)
        if r.status != 200:
            sys.exit(22)
except ConnectionRefusedError as e:
    print("connect error:", e, file=sys.stderr)
    sys.exit(7)
except OSError as e:
    print("error:", e, file=sys.stderr)
    sys.exit(1)
