"""fanout.py — what the interop clients that run N TLS connections at once
share (bs_client.py, twem_client.py, syslog_senders.py, irc_clients.py):
a client context verified against CA with strict EOF, a connection to
127.0.0.1:PORT verified for "localhost", N threads and the verdict line
"ok K of N" with the first errors (exit 0 when all N worked).  Every
socket has a 20 s timeout (x TLSSHIM_TIME_SCALE).
"""
import os
import socket
import sys
import threading

from strict_tls import strict_client_ctx

TIMEOUT = 20 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))


def context(ca):
    """A client context trusting CA; a TCP end without close_notify is an
    error (strict_tls: Debian's Python ignores it by default)."""
    return strict_client_ctx(ca)


def connect(ctx, port):
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)


def finish(ok, n, errs):
    print("ok %d of %d" % (ok, n))
    for e in errs[:5]:
        print(e)
    sys.exit(0 if ok == n and not errs else 1)


def run(n, fn, what="client", errs=None):
    """fn(0) .. fn(N-1) at once, each in its thread (a failure: fn
    raises); then finish."""
    errs = [] if errs is None else errs
    oks = []

    def one(i):
        try:
            fn(i)
            oks.append(i)
        except Exception as e:  # noqa: BLE001 - reported
            errs.append("%s %d: %s: %s" % (what, i, type(e).__name__, e))
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(TIMEOUT * 3)
    finish(len(oks), n, errs)
