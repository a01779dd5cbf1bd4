#!/usr/bin/env python3
"""syslog_senders.py — syslog senders over TLS (tests/interop/rsyslog.sh):
N connections at once, each verified against CA for "localhost", each
writing K newline-framed syslog messages "tlsshimtest-cC-I" in one go,
then a clean TLS close (close_notify each way).

  syslog_senders.py PORT CA N K

Prints "ok J of N" and the first errors; exit 0 when all N worked.  Every
socket has a 20 s timeout (x TLSSHIM_TIME_SCALE).
"""
import os
import socket
import ssl
import sys
import threading

TIMEOUT = 20 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))


def one(ctx, port, c, k, errs, oks):
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
        s.sendall(b"".join(b"<13>Dec  6 10:00:00 host test: tlsshimtest-c%d-%d\n" % (c, i) for i in range(k)))
        s.unwrap().close()
        oks.append(c)
    except Exception as e:  # noqa: BLE001 - reported
        errs.append("sender %d: %s: %s" % (c, type(e).__name__, e))


def main():
    port, ca, n, k = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ctx = ssl.create_default_context(cafile=ca)
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    errs, oks = [], []
    ts = [threading.Thread(target=one, args=(ctx, port, c, k, errs, oks)) for c in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(TIMEOUT * 2)
    print("ok %d of %d" % (len(oks), n))
    for e in errs[:5]:
        print(e)
    sys.exit(0 if len(oks) == n else 1)


main()
