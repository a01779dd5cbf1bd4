#!/usr/bin/env python3
"""tests/preload/rbuf_split.py — a TLS 1.3 client that places its records'
TCP segments itself, for tests/preload/rbuf_split.sh (not a test itself).

    rbuf_split.py PORT CAFILE STRACE_FILE [CASE]

Python's ssl over memory BIOs makes the records; this script sends their
bytes in the pieces below, each piece only once the receiver (the shimmed
tests/progs/bulk recv, run under strace -e recvfrom) took the one before:
it waits, at most 20 s, until STRACE_FILE has a recvfrom that returned
that piece's length (or, "bulk", asked for more than one record's
buffer).  Records below are of 16,384 bytes of plaintext unless said.

CASE split (the default):
    1. one record: its first 1,000 bytes,
    2. the record's rest (15,406 bytes: OpenSSL asks the kernel for exactly
       that, and gets it all),
    3. one record of 100 bytes.
The other cases first make the receiver a bulk one: two records in one
piece (its recv fills the one-record buffer); once it asks for a bulk
buffer, in one piece:
    flip3     four records, one byte of the third one's ciphertext flipped
    truncate  one record and the first half of the next, then FIN
    close     four records and close_notify, then FIN
many (in one piece from the start, then close_notify and FIN: records of
16,384, 16,384, 1, 16,384, 5,000, three of 16,384, 17, three of 16,384, 300
and two of 16,384 bytes, each a different stream: the reader of
tests/preload/rbuf_reader.py meets the switch part-way through), and
hdrJ (J from 0 to 5), in one piece from the start: a record, one of
281 - J bytes of plaintext, two records, one of 100 bytes, close_notify,
FIN: the receiver's first recv (16,709 bytes, the one-record buffer:
it fills it) ends J bytes into the third record's header.

It prints "bytes N checksum HEX" as tests/progs/bulk does for the stream
it sent (stream.h's checksum; flip3 and truncate: only what precedes the
bad record), then sends close_notify (unless the case ended otherwise)
and reads to EOF.
"""
import re
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


def wait_trace(trace, test, what):
    for _ in range(200):
        with open(trace) as f:
            # (strace -f puts a process's id first: a fork's reader)
            lines = (re.sub(r"^[0-9]+ +", "", line) for line in f)
            if any(line.startswith("recvfrom(") and test(line) for line in lines):
                return
        time.sleep(0.1)
    sys.exit("rbuf_split: the receiver never " + what)


def asked_bulk(line):
    f = line.split(", ")
    # (a line strace is still writing is not one yet)
    return line.endswith("\n") and len(f) > 2 and f[2].isdigit() and int(f[2]) > 16720


def bulk_case(s, obj, out, big, case, trace):
    obj.write(big + big)
    s.sendall(out.read())
    sent = big + big
    wait_trace(trace, asked_bulk, "asked for a bulk buffer")
    if case == "flip3":
        obj.write(big * 4)
        recs = bytearray(out.read())
        assert len(recs) == 4 * 16406, len(recs)
        recs[2 * 16406 + 100] ^= 0x01
        s.sendall(bytes(recs))
        sent += big * 2
    elif case == "truncate":
        obj.write(big * 2)
        recs = out.read()
        s.sendall(recs[:16406 + 8203])
        sent += big
    else:
        obj.write(big * 4)
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        s.sendall(out.read())
        sent += big * 4
    print("bytes %d checksum %016x" % (len(sent), checksum(sent)), flush=True)
    s.shutdown(socket.SHUT_WR)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()


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
        wait_trace(trace, lambda line: line.endswith(") = %d\n" % n),
                   "took a piece of %d bytes" % n)

    sent = b""
    big = bytes((i * 7 + 3) & 0xFF for i in range(16384))
    case = sys.argv[4] if len(sys.argv) > 4 else "split"
    if case == "many":
        sizes = [16384, 16384, 1, 16384, 5000, 16384, 16384, 16384, 17, 16384, 16384,
                 16384, 300, 16384, 16384]
        parts = [bytes((i * 7 + 3 + k) & 0xFF for i in range(n)) for k, n in enumerate(sizes)]
        for part in parts:
            obj.write(part)
        sent = b"".join(parts)
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        print("bytes %d checksum %016x" % (len(sent), checksum(sent)), flush=True)
        s.sendall(out.read())
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
        return
    if case.startswith("hdr"):
        sent = big + big[:281 - int(case[3:])] + big + big + big[:100]
        for part in (big, big[:281 - int(case[3:])], big, big, big[:100]):
            obj.write(part)
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        s.sendall(out.read())
        print("bytes %d checksum %016x" % (len(sent), checksum(sent)), flush=True)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
        return
    if case != "split":
        bulk_case(s, obj, out, big, case, trace)
        return
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
