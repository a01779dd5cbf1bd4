"""rawtls.py — a TLS peer (Python ssl over memory BIOs) that controls every
byte it puts on the wire, for tests/preload/faults_reset.sh and
tests/preload/faults_records.sh: resets (RST, SO_LINGER 0) in the middle of a
handshake, a record or a close_notify; a byte-at-a-time (slowloris) peer;
malformed and oversized records.

  rawtls.py client MODE PORT CA [GOT-FILE]
  rawtls.py server MODE PORT CERT KEY [GOT-FILE]

Client modes (against a shimmed server that echoes):
  rst-handshake   send the ClientHello, wait for the server's first bytes, RST
  rst-record      handshake, "GOOD-1" echoed, then half of a record, RST
  rst-close       handshake, "GOOD-1" echoed, then half of close_notify, RST
  hold            handshake, "GOOD-1" echoed, then nothing at all: never
                  reads again, never closes, for 30 s (times the scale)
                  (a peer gone silent: half-open, as the server sees it)
  slow            every byte of the session (handshake, 3 records, close_notify)
                  sent alone, as its own TCP segment; the echo must be exact
  oversized-hello a handshake record header with length 2^14+2048+1
  oversized       handshake, "GOOD-1" echoed, then an application-data
                  record of 2^14+2048+1 bytes (above any TLS limit)
  bad-type        handshake, "GOOD-1" echoed, then a record of type 99
  short-record    handshake, "GOOD-1" echoed, then an application-data
                  record of one byte (shorter than any AEAD tag)
  bad-length-hello a ClientHello whose handshake length says 16 MiB - 1
                  (the record itself complete)
Server modes (against a shimmed client that sends its input, then reads):
  rst-handshake   read the ClientHello, RST
  rst-record      handshake, read the client's data, send half a record, RST
  rst-close       handshake, read the client's data, send "REPLY-1" in full,
                  then half of close_notify, RST
  slow            handshake and echo with every byte sent alone
  rst-records     handshake (no read), 40 records "REC-nn" + 1000 bytes in
                  full, RST at once (the client reads after it: rst_reader.py)
  rst-close-records  the same with close_notify after the 40 records
  trickle         handshake, read the client's data, then send "REPLY-1\n"
                  as one record, 3 bytes every 0.1 s (about 1 s in all)
  trickle-hold    the same, but the record's last 3 bytes only once the
                  client has sent "more\n"
  drip            handshake, read the client's data, then "12345678\n" as
                  nine records of one byte, one every 0.3 s
  flood           handshake, read the client's data, then 8 MiB in 16 KiB
                  records (bytes 0..255 over and over), as fast as the
                  client's socket takes them
The malformed records carry the marker GARBAGE-MARKER in clear; the
decrypted bytes that came back are appended to GOT-FILE (to prove the
marker never reached the program).  Prints one line per step and ends
with how the connection ended: "eof", "reset", "alert ..." or "timeout".
Every wait is bounded (TLSSHIM_TIME_SCALE scales the bounds).
"""
import os
import select
import socket
import ssl
import struct
import sys
import time

from strict_tls import strict_server_ctx, strict_client_ctx, listener, truncated

S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
WAIT = 10 * S
MARK = b"GARBAGE-MARKER"


def out(*a):
    print(*a, flush=True)


class Peer:
    def __init__(self, sock, ctx, server_side, got=None):
        self.s = sock
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inc, self.outg = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.t = ctx.wrap_bio(self.inc, self.outg, server_side=server_side,
                              server_hostname=None if server_side else "localhost")
        self.dribble = False
        self.got = got
        self.eof = False

    def send(self, data):
        if not self.dribble:
            self.s.sendall(data)
            return
        for i in range(len(data)):
            self.s.sendall(data[i:i + 1])
            time.sleep(0.0005)       # its own segment (TCP_NODELAY)

    def flush(self):
        d = self.outg.read()
        if d:
            self.send(d)

    def pending_bytes(self):
        return self.outg.read()

    def feed(self, timeout=WAIT):
        """Take in what the socket has (wait up to timeout); False at EOF."""
        r, _, _ = select.select([self.s], [], [], timeout)
        if not r:
            raise TimeoutError("no data from the peer")
        d = self.s.recv(65536)
        if not d:
            self.inc.write_eof()
            self.eof = True
            return False
        self.inc.write(d)
        return True

    def handshake(self):
        end = time.time() + WAIT
        while True:
            try:
                self.t.do_handshake()
                self.flush()
                return
            except ssl.SSLWantReadError:
                self.flush()
                if time.time() > end:
                    raise TimeoutError("handshake")
                self.feed(end - time.time())

    def write(self, data):
        self.t.write(data)
        self.flush()

    def read(self, n):
        """n bytes of plaintext (or fewer at the end)."""
        got = b""
        end = time.time() + WAIT
        while len(got) < n:
            try:
                d = self.t.read(n - len(got))
                if not d:
                    break
                got += d
                if self.got:
                    with open(self.got, "ab") as f:
                        f.write(d)
            except ssl.SSLZeroReturnError:
                break
            except ssl.SSLWantReadError:
                self.flush()
                if self.eof or time.time() > end:
                    break
                self.feed(end - time.time())
        return got

    def rst(self):
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()
        out("rst sent")

    def until_end(self):
        """Read (decrypting what can be) until the peer ends the connection."""
        end = time.time() + WAIT
        try:
            while time.time() < end:
                try:
                    d = self.t.read(65536)
                    if self.got and d:
                        with open(self.got, "ab") as f:
                            f.write(d)
                    if not d:
                        out("eof")
                        return
                except ssl.SSLWantReadError:
                    self.flush()
                    if self.eof:
                        out("eof")
                        return
                    self.feed(end - time.time())
                except ssl.SSLZeroReturnError:
                    out("close_notify")
                    return
                except ssl.SSLError as e:
                    # a TCP end without close_notify is no alert
                    out("truncated" if truncated(e) else "alert %s" % e.reason)
                    return
            out("timeout")
        except ConnectionResetError:
            out("reset")
        except TimeoutError:
            out("timeout")

    def raw_until_end(self):
        """Without TLS: bytes until the peer ends the connection."""
        end = time.time() + WAIT
        n = 0
        try:
            while time.time() < end:
                r, _, _ = select.select([self.s], [], [], end - time.time())
                if not r:
                    break
                d = self.s.recv(65536)
                if not d:
                    out("received %d raw bytes" % n)
                    out("eof")
                    return
                n += len(d)
                if self.got:
                    with open(self.got, "ab") as f:
                        f.write(d)
            out("timeout")
        except ConnectionResetError:
            out("received %d raw bytes" % n)
            out("reset")


def record(ctype, payload, version=b"\x03\x03"):
    return bytes([ctype]) + version + struct.pack(">H", len(payload)) + payload


def good_exchange(p):
    p.write(b"GOOD-1")
    e = p.read(6)
    out("echo %s" % e.decode(errors="replace"))
    return e == b"GOOD-1"


def client(mode, port, ca, got):
    ctx = strict_client_ctx(ca)
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    p = Peer(s, ctx, False, got)
    if mode in ("oversized-hello", "bad-length-hello"):
        try:
            p.t.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = p.pending_bytes()
        body = hello[5:]
        if mode == "oversized-hello":
            big = body + MARK * ((16384 + 2048 + 1 - len(body)) // len(MARK) + 1)
            p.send(b"\x16\x03\x01" + struct.pack(">H", 16384 + 2048 + 1) + big[:16384 + 2048 + 1])
        else:
            # handshake length field (3 bytes after the type): 16 MiB - 1,
            # far above any ClientHello's
            p.send(record(22, body[:1] + b"\xff\xff\xff" + body[4:] + MARK, b"\x03\x01"))
        out("sent %s" % mode)
        return p.raw_until_end()
    if mode == "slow":
        p.dribble = True
    if mode == "rst-handshake":
        try:
            p.t.do_handshake()
        except ssl.SSLWantReadError:
            pass
        p.flush()
        p.feed()                      # the server's first bytes arrived
        out("server answered")
        return p.rst()
    p.handshake()
    out("handshake ok %s" % p.t.version())
    if mode == "slow":
        data = b"".join(b"slow line %03d\n" % i for i in range(30))
        for part in (data[:100], data[100:300], data[300:]):
            p.write(part)
        e = p.read(len(data))
        out("echo ok" if e == data else "echo MISMATCH %d of %d" % (len(e), len(data)))
        try:
            p.t.unwrap()
        except ssl.SSLWantReadError:
            pass
        p.flush()
        p.dribble = False
        return p.until_end()
    if not good_exchange(p):
        return
    if mode == "hold":
        out("holding")
        time.sleep(30 * S)
        return
    if mode == "rst-record":
        p.t.write(b"SECRET-HALF-RECORD " * 10)
        rec = p.pending_bytes()
        p.send(rec[:len(rec) // 2])
        time.sleep(0.2)               # let the server take the half record in
        return p.rst()
    if mode == "rst-close":
        try:
            p.t.unwrap()
        except ssl.SSLWantReadError:
            pass
        cn = p.pending_bytes()
        p.send(cn[:len(cn) // 2])
        time.sleep(0.2)
        return p.rst()
    if mode == "oversized":
        p.send(record(23, (MARK * 1400)[:16384 + 2048 + 1]))
    elif mode == "bad-type":
        p.send(record(99, MARK * 4))
    elif mode == "short-record":
        p.send(record(23, b"G"))
    else:
        out("unknown mode %s" % mode)
        return
    out("sent %s" % mode)
    # A good record after the bad one: must never be delivered either.
    p.t.write(b"AFTER-" + MARK)
    p.flush()
    return p.until_end()


def server(mode, port, cert, key, got):
    ctx = strict_server_ctx(cert, key)
    ls = listener(port, 4)
    out("ready")
    ls.settimeout(WAIT * 3)
    c, _ = ls.accept()
    c.settimeout(WAIT)
    p = Peer(c, ctx, True, got)
    if mode == "slow":
        p.dribble = True
    if mode == "rst-handshake":
        p.feed()
        out("got ClientHello bytes")
        return p.rst()
    p.handshake()
    out("handshake ok %s" % p.t.version())
    if mode in ("rst-records", "rst-close-records"):
        for i in range(40):
            p.t.write(b"REC-%02d " % i + b"x" * 1000 + b"\n")
        if mode == "rst-close-records":
            try:
                p.t.unwrap()
            except ssl.SSLWantReadError:
                pass
        p.send(p.pending_bytes())
        return p.rst()
    data = b""
    end = time.time() + WAIT
    while b"\n" not in data and time.time() < end:
        d = p.read(1)
        if not d:
            break
        data += d
    out("received %d bytes" % len(data))
    if mode == "slow":
        p.write(data)
        try:
            p.t.unwrap()
        except ssl.SSLWantReadError:
            pass
        p.flush()
        p.dribble = False
        return p.until_end()
    if mode == "rst-record":
        p.t.write(b"SECRET-HALF-RECORD " * 10)
        rec = p.pending_bytes()
        p.send(rec[:len(rec) // 2])
        time.sleep(0.2)
        return p.rst()
    if mode == "rst-close":
        p.write(b"REPLY-1\n")
        try:
            p.t.unwrap()
        except ssl.SSLWantReadError:
            pass
        cn = p.pending_bytes()
        p.send(cn[:len(cn) // 2])
        time.sleep(0.2)
        return p.rst()
    if mode in ("trickle", "trickle-hold"):
        p.t.write(b"REPLY-1\n")
        rec = p.pending_bytes()
        last = len(rec) - 3 if mode == "trickle-hold" else len(rec)
        for i in range(0, last, 3):
            p.send(rec[i:min(i + 3, last)])
            time.sleep(0.1)
        if mode == "trickle-hold":
            # The record's end waits for the client's "more" line: its
            # read cannot complete before the client is done with it.
            more = p.read(5)
            out("got %r" % more)
            p.send(rec[last:])
        out("trickled %d bytes" % len(rec))
        return p.until_end()
    if mode == "drip":
        for ch in b"12345678\n":
            p.write(bytes([ch]))
            time.sleep(0.3)
        out("dripped 9 records")
        return p.until_end()
    if mode == "flood":
        block = bytes(range(256)) * 64          # one 16 KiB record each
        n = 0
        for i in range(512):                    # at most 8 MiB, bounded
            p.write(block)
            n += len(block)
        out("flooded %d bytes" % n)
        return p.until_end()
    out("unknown mode %s" % mode)


def main():
    role, mode, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        if role == "client":
            client(mode, port, sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else None)
        else:
            server(mode, port, sys.argv[4], sys.argv[5], sys.argv[6] if len(sys.argv) > 6 else None)
    except (ConnectionResetError, BrokenPipeError):
        out("reset")
    except TimeoutError as e:
        out("timeout %s" % e)
    except ssl.SSLError as e:
        out("alert %s" % e.reason)


if __name__ == "__main__":
    main()
