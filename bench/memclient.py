#!/usr/bin/env python3
"""Memory benchmark client: opens idle TLS connections, holds them, checks them.

    memclient.py HOST PORT N CAFILE SERVER_NAME [FIRST]   (CAFILE "-": plain TCP)

FIRST (default 0): the number of this client's first connection among all
the clients of one run (the driver starts several when one process may not
hold N descriptors); it only chooses the source addresses.

Protocol with the driver (bench.py), one line each way:
  1. one warm-up connection (handshake, 1 byte out, 1 byte back, close);
     prints "warm" and waits for a line on stdin;
  2. opens N connections, each: TCP connect, TLS handshake (verifying
     SERVER_NAME against CAFILE), 1 byte out, 1 byte back; prints
     "ready K PROTO" (K = N) or, when it could not open them all,
     "ready K PROTO error: WHY" (K connections are held) and waits for a line;
  3. "check": one more round trip (1 byte out, the same byte back) on EVERY
     connection held, in turn; prints "served S of K in T s" (and the first
     errors) and waits for a line;
  4. closes them all with a RST (SO_LINGER 0: no TIME_WAIT left behind, the
     server side is gone by then) and exits.

Descriptors: RLIMIT_NOFILE is raised to N + 1024, soft and hard, when the
process may (CAP_SYS_RESOURCE), else the soft limit to the hard one.
Source addresses: one 127.0.0.1 client address has only the ephemeral port
range (net.ipv4.ip_local_port_range, about 28,000 ports) towards one
server port, so connection i (counted from FIRST) binds
127.0.1.(1 + i // PER_ADDR) with
IP_BIND_ADDRESS_NO_PORT (the port is chosen at connect() for the 4-tuple).
Every socket operation has a timeout; the whole run is bounded by the driver.
"""
import resource
import socket
import ssl
import struct
import sys
import time

TIMEOUT = 20.0
PER_ADDR = 10000         # connections per client address (< the port range)
CHECK_SECONDS = 900.0    # the check round trips stop waiting after this
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 1024
    if want > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_one(ctx, host, port, name, i):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind(("127.0.1.%d" % (1 + i // PER_ADDR), 0))
        s.settimeout(TIMEOUT)
        s.connect((host, port))
        if ctx:
            s = ctx.wrap_socket(s, server_hostname=name)
        s.sendall(b"m")
        if s.recv(1) != b"m":
            raise RuntimeError("bad echo")
    except BaseException:
        s.close()
        raise
    return s


def check_all(conns):
    """One round trip on every connection; (served, first errors)."""
    served, errors = 0, []
    end = time.monotonic() + CHECK_SECONDS
    for i, s in enumerate(conns):
        b = bytes([97 + i % 26])
        try:
            s.settimeout(max(0.5, min(TIMEOUT, end - time.monotonic())))
            s.sendall(b)
            got = s.recv(1)
            if got == b:
                served += 1
            elif len(errors) < 3:
                errors.append("conn %d: got %r" % (i, got))
        except (OSError, ssl.SSLError) as e:
            if len(errors) < 3:
                errors.append("conn %d: %s" % (i, e))
    return served, errors


def main():
    host, port, n, cafile, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    first = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    limit = raise_nofile(n)
    ctx = None
    if cafile != "-":  # "-": plain TCP, the reference
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    open_one(ctx, host, port, name, first).close()
    print("warm", flush=True)
    sys.stdin.readline()
    conns, err = [], ""
    try:
        for i in range(n):
            conns.append(open_one(ctx, host, port, name, first + i))
    except (OSError, ssl.SSLError, RuntimeError) as e:
        err = " error: connection %d: %s (RLIMIT_NOFILE %d)" % (len(conns), e, limit)
    proto = conns[0].version() if ctx and conns else "plain"
    print("ready %d %s%s" % (len(conns), proto, err), flush=True)
    sys.stdin.readline()
    t0 = time.monotonic()
    served, errors = check_all(conns)
    print("served %d of %d in %.1f s%s" % (served, len(conns), time.monotonic() - t0,
                                           (" errors: " + "; ".join(errors)) if errors else ""), flush=True)
    sys.stdin.readline()
    linger = struct.pack("ii", 1, 0)
    for s in conns:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        s.close()


if __name__ == "__main__":
    main()
