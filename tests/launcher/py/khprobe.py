#!/usr/bin/env python3
"""khprobe.py — talk to a key holder directly, as a compromised program
(or another local process) could: its name and token are in the
program's TLSSHIM_KEY_HOLDER.

  khprobe.py sign HOLDER CERT     one line per request: "NAME status=S"
                                  and, for a signature, " valid" or
                                  " invalid" (checked with CERT's RSA key)
  khprobe.py stall HOLDER N FILE  open N connections that send nothing,
                                  print "open N", keep them until FILE
                                  exists (at most 60 s)
  khprobe.py badtoken HOLDER N    N requests with a wrong token; prints
                                  "refused R of N" and "seconds S"

HOLDER is the value of TLSSHIM_KEY_HOLDER ("NAME:TOKENHEX"); the token
keys the HMAC-SHA256 of each request (policy/keyholder.h: it never
crosses the socket); badtoken MACs with another key.  The requests of `sign` (op 1 is PKCS#1 v1.5, policy/keyholder.h):
  raw-block     k - 11 bytes that are no DigestInfo: what turned the
                holder into a decryption oracle (two such signatures
                decrypt any block)
  md5           a DigestInfo of MD5, a hash TLS 1.2 never signs
  sha256        a DigestInfo of SHA-256, as a TLS 1.2 handshake asks
  sha512        a DigestInfo of SHA-512
  sha256-long   the same DigestInfo with a byte after it
"""
import hashlib
import hmac
import os
import socket
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization

STATUS_TIMEOUT = 30


def parse(holder):
    name, tok = holder.split(":")
    return name, bytes.fromhex(tok)


def request(name, tok, spki, op, data):
    """(status, data) of the answer, or (None, b"") when it is not one;
    an answer to a proven request whose MAC is not the holder's raises."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(STATUS_TIMEOUT)
    s.connect("\0" + name)
    head = b"TSKH" + bytes([2, op]) + len(data).to_bytes(2, "big") + os.urandom(32) + spki
    mac = hmac.new(tok, b"tlsshim key holder request" + head + data, hashlib.sha256).digest()
    s.send(head + mac + data)
    a = s.recv(4096)
    s.close()
    if a[:4] != b"TSKH" or len(a) < 40:
        return None, b""
    want = hmac.new(tok, b"tlsshim key holder answer" + mac + a[:8] + a[40:], hashlib.sha256).digest()
    if a[8:40] != want and a[4] != 1:
        raise SystemExit("an answer without the holder's MAC: status %d" % a[4])
    return a[4], a[40:]


def sign(holder, certfile):
    name, tok = parse(holder)
    cert = x509.load_pem_x509_certificate(open(certfile, "rb").read())
    pub = cert.public_key()
    n, e = pub.public_numbers().n, pub.public_numbers().e
    k = (n.bit_length() + 7) // 8
    spki = hashlib.sha256(pub.public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    prefix = {
        "md5": "3020300c06082a864886f70d020505000410",
        "sha256": "3031300d060960864801650304020105000420",
        "sha512": "3051300d060960864801650304020305000440",
    }
    reqs = [
        ("raw-block", (1 << (8 * (k - 11) - 1)).to_bytes(k - 11, "big")),
        ("md5", bytes.fromhex(prefix["md5"]) + hashlib.md5(b"m").digest()),
        ("sha256", bytes.fromhex(prefix["sha256"]) + hashlib.sha256(b"m").digest()),
        ("sha512", bytes.fromhex(prefix["sha512"]) + hashlib.sha512(b"m").digest()),
        ("sha256-long", bytes.fromhex(prefix["sha256"]) + hashlib.sha256(b"m").digest() + b"\0"),
    ]
    for label, data in reqs:
        st, sig = request(name, tok, spki, 1, data)
        line = "%s status=%s" % (label, st)
        if st == 0:
            em = pow(int.from_bytes(sig, "big"), e, n).to_bytes(k, "big")
            ok = em == b"\0\1" + b"\xff" * (k - 3 - len(data)) + b"\0" + data
            line += " valid" if ok else " invalid"
        print(line, flush=True)


def stall(holder, count, until):
    name, _ = parse(holder)
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect("\0" + name)
        socks.append(s)
    print("open %d" % len(socks), flush=True)
    end = time.monotonic() + 60
    while not os.path.exists(until) and time.monotonic() < end:
        time.sleep(0.05)


def badtoken(holder, count):
    name, tok = parse(holder)
    bad = bytes(b ^ 0xff for b in tok)
    t0 = time.monotonic()
    refused = sum(1 for _ in range(count) if request(name, bad, bytes(32), 1, b"x")[0] == 1)
    print("refused %d of %d" % (refused, count))
    print("seconds %d" % int(time.monotonic() - t0 + 1))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "sign":
        sign(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "stall":
        stall(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "badtoken":
        badtoken(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
