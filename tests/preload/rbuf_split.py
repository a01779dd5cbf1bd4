#!/usr/bin/env python3
"""tests/preload/rbuf_split.py — a TLS 1.3 client that places its records'
TCP segments itself, for tests/preload/rbuf_split.sh (not a test itself).

    rbuf_split.py PORT CAFILE STRACE_FILE

Python's ssl over memory BIOs makes the records; this script sends their
bytes in the pieces below, each piece only once the receiver (the shimmed
tests/progs/bulk recv, run under strace -e recvfrom) took the one before:
it waits, at most 20 s, until STRACE_FILE has a recvfrom that returned
that piece's length.

    1. one record of 16,384 bytes of plaintext: its first 1,000 bytes,
    2. the record's rest (15,406 bytes: OpenSSL asks the kernel for exactly
       that, and gets it all),
    3. one record of 100 bytes.

It prints "bytes N checksum HEX" as tests/progs/bulk does for the stream
it sent (stream.h's checksum), then sends close_notify and reads to EOF.
"""
import socket
import ssl
import sys
import time

MASK = (1 << 64) - 1


def checksum(data):
    a = b = 0
    pad = data + b"\0" * (-len(data) % 8)
    for i in range(0, len(pad), 8):
        a = (a + int.from_bytes(pad[i:i + 8], "little")) & MASK
        b = (b + a) & MASK
    return ((a * 0x9E3779B97F4A7C15) & MASK) ^ b ^ len(data)


def main():
    port, cafile, trace = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cafile)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            s.sendall(out.read())
            d = s.recv(65536)
            if not d:
                sys.exit("rbuf_split: EOF in the handshake")
            inc.write(d)
    s.sendall(out.read())
    # The server's session tickets: it has taken the client's Finished,
    # so the first piece below arrives in a recv() of its own.
    if not s.recv(65536):
        sys.exit("rbuf_split: EOF after the handshake")

    def wait_recv(n):
        pat = ") = %d\n" % n
        for _ in range(200):
            with open(trace) as f:
                if any(line.startswith("recvfrom(") and line.endswith(pat) for line in f):
                    return
            time.sleep(0.1)
        sys.exit("rbuf_split: the receiver never took a piece of %d bytes" % n)

    sent = b""
    big = bytes((i * 7 + 3) & 0xFF for i in range(16384))
    obj.write(big)
    rec = out.read()
    assert len(rec) == 16384 + 5 + 1 + 16, len(rec)
    sent += big
    s.sendall(rec[:1000])
    wait_recv(1000)
    s.sendall(rec[1000:])
    wait_recv(len(rec) - 1000)
    small = b"s" * 100
    obj.write(small)
    rec = out.read()
    sent += small
    s.sendall(rec)
    wait_recv(len(rec))
    print("bytes %d checksum %016x" % (len(sent), checksum(sent)), flush=True)
    try:
        obj.unwrap()
    except ssl.SSLWantReadError:
        pass
    s.sendall(out.read())
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()


if __name__ == "__main__":
    main()
