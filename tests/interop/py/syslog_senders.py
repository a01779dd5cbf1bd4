#!/usr/bin/env python3
"""syslog_senders.py — syslog senders over TLS (tests/interop/rsyslog.sh):
N connections at once, each verified against CA for "localhost", each
writing K newline-framed syslog messages "tlsshimtest-cC-I" in one go,
then a clean TLS close (close_notify each way).

  syslog_senders.py PORT CA N K

Prints "ok J of N" and the first errors; exit 0 when all N worked
(fanout.py).
"""
import sys

import fanout


def one(ctx, port, c, k):
    s = fanout.connect(ctx, port)
    s.sendall(b"".join(b"<13>Dec  6 10:00:00 host test: tlsshimtest-c%d-%d\n" % (c, i) for i in range(k)))
    s.unwrap().close()


def main():
    port, ca, n, k = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ctx = fanout.context(ca)
    fanout.run(n, lambda c: one(ctx, port, c, k), "sender")


main()
