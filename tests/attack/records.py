#!/usr/bin/env python3
"""tests/attack/records.py — a TLS 1.3 client that sends malformed records.

    records.py HOST PORT CAFILE SERVERNAME CASE TIMEOUT

A man in the middle cannot forge what only an endpoint can: a record that
decrypts and authenticates but is malformed inside (TLS 1.3's inner
content type zero, tlsfuzzer's test-tls13-zero-content-type), or a record
the endpoint's own keys encrypted out of order.  This client does the
handshake with Python's ssl module over memory BIOs, takes the traffic
secrets from its key log, and from then on writes application records
itself, with python3-cryptography's AEAD (a test tool: the shim never does
its own cryptography), so it can put a bad record in the same TCP segment
as good data, or on its own.

Every case sends HTTP requests for "/good-N" (well formed) and places the
bad record as the case says; the path "/evil" appears only in bytes the
server must never accept.  Then it reads what the server sends until EOF
or TIMEOUT seconds, decrypts it with the server's keys, and prints:

    alert LEVEL DESCRIPTION        one per alert record received
    response N                     HTTP responses seen (count of "HTTP/1.")
    eof SECONDS                    the server closed, after SECONDS
    timeout                        the server neither closed nor alerted

Cases (WHERE is "with_data": the bad record follows a good request in the
same segment; "alone": a request is answered first, then the bad record
goes on its own):
    zero_type_WHERE     inner plaintext all zeros (no content type)
    bitflip_WHERE       a request record with one ciphertext bit flipped
    replay_WHERE        the previous record sent again (old sequence number)
    reorder_WHERE       two request records, the second one first
    drop_WHERE          a record, with the one before it never sent
    oversize_WHERE      a record longer than 2^14 + 256 bytes of ciphertext
    badtype_WHERE       outer content type 0x63 (not a TLS content type)
    truncate_WHERE      the first half of a record, then FIN (with_data: the
                        good record, the half and the FIN in one segment)
    close_WHERE         not an attack: a close_notify alert, then FIN (with_data:
                        in one segment with the good record)
"""
import os
import socket
import ssl
from strict_tls import strict_client_ctx, connect
import sys
import tempfile
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

SUITES = {
    "TLS_AES_128_GCM_SHA256": (AESGCM, 16, hashes.SHA256),
    "TLS_AES_256_GCM_SHA384": (AESGCM, 32, hashes.SHA384),
    "TLS_CHACHA20_POLY1305_SHA256": (ChaCha20Poly1305, 32, hashes.SHA256),
}


def expand_label(hash_cls, secret, label, length):
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return HKDFExpand(hash_cls(), length, info).derive(secret)


class Keys:
    """One direction's record protection (RFC 8446 5.2, 5.3)."""

    def __init__(self, suite, secret):
        aead, klen, hash_cls = SUITES[suite]
        self.suite, self.secret = suite, secret
        self.aead = aead(expand_label(hash_cls, secret, b"key", klen))
        self.iv = expand_label(hash_cls, secret, b"iv", 12)
        self.seq = 0

    def nonce(self, seq):
        s = seq.to_bytes(12, "big")
        return bytes(a ^ b for a, b in zip(self.iv, s))

    def seal(self, inner, seq=None):
        if seq is None:
            seq = self.seq
            self.seq += 1
        header = bytes([23, 3, 3]) + (len(inner) + 16).to_bytes(2, "big")
        return header + self.aead.encrypt(self.nonce(seq), inner, header)

    def open(self, header, body):
        inner = self.aead.decrypt(self.nonce(self.seq), body, header)
        self.seq += 1
        inner = inner.rstrip(b"\x00")
        return inner[-1], inner[:-1]


def handshake(sock, cafile, name, keylog):
    ctx = strict_client_ctx(cafile, minv=ssl.TLSVersion.TLSv1_3)
    ctx.keylog_filename = keylog
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=name)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        finally:
            data = out.read()
            if data:
                sock.sendall(data)
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("handshake: server closed")
        inc.write(chunk)
    if inc.pending:
        raise SystemExit("handshake: unexpected bytes after the server's Finished")
    secrets = {}
    with open(keylog) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                secrets[parts[0]] = bytes.fromhex(parts[2])
    suite = obj.cipher()[0]
    return (Keys(suite, secrets["CLIENT_TRAFFIC_SECRET_0"]),
            Keys(suite, secrets["SERVER_TRAFFIC_SECRET_0"]))


def connect(host, port, cafile, name, timeout):
    """A TCP connection and its handshake: (socket, client keys, server keys)."""
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    fd, keylog = tempfile.mkstemp()
    os.close(fd)
    try:
        cw, sr = handshake(sock, cafile, name, keylog)
    finally:
        os.unlink(keylog)
    return sock, cw, sr


def request(n, name):
    return ("GET /good-%d HTTP/1.1\r\nHost: %s\r\n\r\n" % (n, name)).encode()


EVIL = b"GET /evil HTTP/1.1\r\nHost: x\r\n\r\n"


class Reader:
    """Reads and decrypts what the server sends."""

    def __init__(self, sock, keys, deadline):
        self.sock, self.keys, self.deadline = sock, keys, deadline
        self.buf = b""
        self.plain = b""
        self.alerts = []
        self.eof = False
        self.start = time.monotonic()

    def pump(self, until):
        """Reads until until(self) is true, EOF, or the deadline."""
        while not until(self) and not self.eof:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                self.eof_after = time.monotonic() - self.start
                break
            self.buf += chunk
            while len(self.buf) >= 5:
                n = int.from_bytes(self.buf[3:5], "big")
                if len(self.buf) < 5 + n:
                    break
                header, body = self.buf[:5], self.buf[5:5 + n]
                self.buf = self.buf[5 + n:]
                if header[0] == 21:         # a plaintext alert
                    self.alerts.append((body[0], body[1]))
                    continue
                ctype, content = self.keys.open(header, body)
                if ctype == 21:
                    self.alerts.append((content[0], content[1]))
                elif ctype == 23:
                    self.plain += content
        return until(self)

    def responses(self):
        return self.plain.count(b"HTTP/1.")


def main():
    host, port, cafile, name, case, timeout = sys.argv[1:7]
    timeout = float(timeout)
    for where in ("with_data", "alone"):
        if case.endswith("_" + where):
            kind = case[:-len(where) - 1]
            break
    else:
        raise SystemExit("unknown case " + case)
    sock, cw, sr = connect(host, port, cafile, name, timeout)
    rd = Reader(sock, sr, time.monotonic() + timeout)
    good = cw.seal(request(1, name) + b"\x17")
    if where == "alone":
        sock.sendall(good)
        if not rd.pump(lambda r: r.responses() >= 1):
            print("no answer to the first request")
        prefix = b""
        last = good
    else:
        prefix = good
        last = good

    if kind == "zero_type":
        bad = cw.seal(b"\x00" * 16)
    elif kind == "bitflip":
        rec = bytearray(cw.seal(EVIL + b"\x17"))
        rec[5 + 8] ^= 0x01
        bad = bytes(rec)
    elif kind == "replay":
        bad = last
    elif kind == "reorder":
        seq = cw.seq
        first = cw.seal(EVIL + b"\x17", seq)
        second = cw.seal(request(3, name) + b"\x17", seq + 1)
        cw.seq += 2
        bad = second + first
    elif kind == "drop":
        cw.seq += 1                 # a record the server never gets
        bad = cw.seal(EVIL + b"\x17")
    elif kind == "oversize":
        n = (1 << 14) + 256 + 1
        bad = bytes([23, 3, 3]) + n.to_bytes(2, "big") + os.urandom(n)
    elif kind == "badtype":
        rec = bytearray(cw.seal(EVIL + b"\x17"))
        rec[0] = 0x63
        bad = bytes(rec)
    elif kind == "truncate":
        rec = cw.seal(EVIL + b"\x17")
        bad = rec[:len(rec) // 2]
    elif kind == "close":
        bad = cw.seal(b"\x01\x00\x15")     # alert warning close_notify
    else:
        raise SystemExit("unknown case " + case)
    ends = kind in ("truncate", "close")
    try:
        if ends:
            # Corked, the FIN goes out in the segment that carries the
            # data (Linux sets it on the unsent tail): the receiver meets
            # the end in the same read as the good record, every time.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        sock.sendall(prefix + bad)
        if ends:
            sock.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass
    rd.pump(lambda r: False)
    for level, desc in rd.alerts:
        print("alert %d %d" % (level, desc))
    print("response %d" % rd.responses())
    if rd.eof:
        print("eof %.1f" % rd.eof_after)
    else:
        print("timeout")
    sock.close()


if __name__ == "__main__":
    main()
