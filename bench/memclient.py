#!/usr/bin/env python3
"""Memory benchmark client: opens idle TLS connections and holds them.

    memclient.py HOST PORT N CAFILE SERVER_NAME     (CAFILE "-": plain TCP)

Protocol with the driver (bench.py), one line each way:
  1. one warm-up connection (handshake, 1 byte out, 1 byte back, close);
     prints "warm" and waits for a line on stdin;
  2. opens N connections, each: TCP connect, TLS handshake (verifying
     SERVER_NAME against CAFILE), 1 byte out, 1 byte back; prints "ready N"
     and waits for a line on stdin;
  3. closes them all and exits.
Every socket operation has a timeout; the whole run is bounded by the driver.
"""
import resource
import socket
import ssl
import sys

TIMEOUT = 20.0


def open_one(ctx, host, port, name):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    if ctx:
        s = ctx.wrap_socket(s, server_hostname=name)
    s.sendall(b"m")
    if s.recv(1) != b"m":
        raise RuntimeError("bad echo")
    return s


def main():
    host, port, n, cafile, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # thousands of connections
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = None
    if cafile != "-":  # "-": plain TCP, the reference
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    open_one(ctx, host, port, name).close()
    print("warm", flush=True)
    sys.stdin.readline()
    conns = [open_one(ctx, host, port, name) for _ in range(n)]
    proto = conns[0].version() if ctx and conns else "plain"
    print("ready %d %s" % (len(conns), proto), flush=True)
    sys.stdin.readline()
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
