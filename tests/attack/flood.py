#!/usr/bin/env python3
"""tests/attack/flood.py — a TLS 1.3 client that floods an echo server with
records that carry no program data.

    flood.py HOST PORT CAFILE SERVERNAME CASE COUNT TIMEOUT

A hostile but authenticated peer: it does the handshake with Python's ssl
module (tests/attack/records.py's handshake and record keys), then writes
its own records: COUNT of the CASE's kind, then one line "flood-end\\n",
and reads (decrypting, following the server's KeyUpdates) until that line
comes back echoed, EOF, or TIMEOUT seconds.  Cases:
    keyupdate      KeyUpdate(update_requested), our keys changed after each
    keyupdate_nr   KeyUpdate(update_not_requested)
    empty          an application record with no data
    padded         an application record with no data and 16 KiB of padding
    warn           a warning alert user_canceled
    ccs            a TLS 1.3 middlebox ChangeCipherSpec (plaintext)
    tiny           an application record of one byte "x"
    bulk           an application record of 16 KiB "z" (program data)
    half           half of a 100-byte record, COUNT seconds later the rest
    drip           ONE record of COUNT bytes "y", sent a byte every 2 ms
    empty31        31 empty application records, then one of one byte "x"
Environment: FLOOD_PRE=1 seals every record before sending any (one burst
as fast as the kernel takes it); FLOOD_NOREAD=1 never reads (only sends,
then waits TIMEOUT), printing "sent SECONDS"; FLOOD_CLOSE=1 ends with a
close_notify and a FIN, and reads until the server's end.
Prints:
    echoed BYTES SECONDS      the line came back (BYTES: all plaintext echoed)
    alert LEVEL DESCRIPTION   one per alert received
    keyupdates N              KeyUpdates the server sent
    eof SECONDS | open | timeout   the server closed; the line came back
                              and the connection is still open; neither
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from records import SUITES, Keys, connect, expand_label  # noqa: E402


class Dir(Keys):
    """Keys that can be updated (RFC 8446 7.2)."""

    def update(self):
        h = SUITES[self.suite][2]
        nxt = expand_label(h, self.secret, b"traffic upd", h.digest_size)
        self.__init__(self.suite, nxt)


def main():
    host, port, cafile, name, case, count, timeout = sys.argv[1:8]
    count, timeout = int(count), float(timeout)
    sock, cw, sr = connect(host, port, cafile, name, timeout)
    cw.__class__ = Dir      # records.Keys keep their suite and secret
    sr.__class__ = Dir

    def sealed():
        """The CASE's COUNT records, in batches of 64, then the end line."""
        batch = []
        for _ in range(count):
            if case == "keyupdate":
                batch.append(cw.seal(b"\x18\x00\x00\x01\x01" + b"\x16"))
                cw.update()
            elif case == "keyupdate_nr":
                batch.append(cw.seal(b"\x18\x00\x00\x01\x00" + b"\x16"))
                cw.update()
            elif case == "empty":
                batch.append(cw.seal(b"\x17"))
            elif case == "empty31":
                batch.append(b"".join(cw.seal(b"\x17") for _ in range(31)) + cw.seal(b"x\x17"))
            elif case == "padded":
                batch.append(cw.seal(b"\x17" + b"\x00" * 16384))
            elif case == "warn":
                batch.append(cw.seal(b"\x01\x5a" + b"\x15"))
            elif case == "ccs":
                batch.append(bytes([20, 3, 3, 0, 1, 1]))
            elif case == "bulk":
                batch.append(cw.seal(b"z" * 16384 + b"\x17"))
            elif case == "tiny":
                batch.append(cw.seal(b"x\x17"))
            else:
                raise SystemExit("unknown case " + case)
            if len(batch) >= 64:
                yield b"".join(batch)
                batch = []
        batch.append(cw.seal(b"flood-end\n\x17"))
        if os.environ.get("FLOOD_CLOSE"):
            batch.append(cw.seal(b"\x01\x00\x15"))    # close_notify
        yield b"".join(batch)

    if case == "half":
        rec = cw.seal(b"y" * 100 + b"\x17")
        parts = [(rec[:50], count), (rec[50:] + cw.seal(b"flood-end\n\x17"), 0)]
    elif case == "drip":
        rec = cw.seal(b"y" * count + b"\x17")
        parts = [(rec[i:i + 1], 0.002) for i in range(len(rec))]
        parts.append((cw.seal(b"flood-end\n\x17"), 0))
    elif os.environ.get("FLOOD_PRE"):
        # every record sealed first, then one burst at the kernel's pace
        parts = [(b"".join(sealed()), 0)]
    else:
        parts = ((b, 0) for b in sealed())
    start = time.monotonic()

    def writer():
        try:
            for data, pause in parts:
                sock.sendall(data)
                time.sleep(pause)
            if os.environ.get("FLOOD_CLOSE"):
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    deadline = start + timeout
    if os.environ.get("FLOOD_NOREAD"):
        # never read: what the server answers piles up on its side
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        t.join(timeout)
        print("sent %.2f" % (time.monotonic() - start), flush=True)
        time.sleep(max(0.0, deadline - time.monotonic()))
    buf, plain, alerts, kus, eof = b"", b"", [], 0, False
    while (b"flood-end\n" not in plain or os.environ.get("FLOOD_CLOSE")) and not eof:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            break
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            eof = True
            break
        buf += chunk
        while len(buf) >= 5:
            n = int.from_bytes(buf[3:5], "big")
            if len(buf) < 5 + n:
                break
            header, body = buf[:5], buf[5:5 + n]
            buf = buf[5 + n:]
            if header[0] == 21:
                alerts.append((body[0], body[1]))
                continue
            ctype, content = sr.open(header, body)
            if ctype == 21:
                alerts.append((content[0], content[1]))
            elif ctype == 23:
                plain += content
            elif ctype == 22:
                i = 0
                while i + 4 <= len(content):
                    mlen = int.from_bytes(content[i + 1:i + 4], "big")
                    if content[i] == 24:
                        kus += 1
                        sr.update()
                    i += 4 + mlen
    took = time.monotonic() - start
    if b"flood-end\n" in plain:
        print("echoed %d %.2f" % (len(plain), took))
    for level, desc in alerts:
        print("alert %d %d" % (level, desc))
    print("keyupdates %d" % kus)
    print("eof %.2f" % took if eof else ("open" if b"flood-end\n" in plain else "timeout"))
    sock.close()


if __name__ == "__main__":
    main()
