#!/usr/bin/env python3
"""mitm.py - a man-in-the-middle TCP proxy that tampers with TLS records.

    mitm.py --listen [HOST:]PORT --target HOST:PORT --mode MODE
            [--direction c2s|s2c] [--skip N] [--c2s-handshake-records N]
            [--grace-ms MS] [--log FILE] [-v]

Loopback only.  Accepts any number of connections (one thread per direction
per connection) until killed.  Each connection's byte stream is cut into TLS
records (5-byte header: type, version, length) and MODE is applied once per
connection, in the chosen direction, to the first APPLICATION DATA record
(after skipping N more with --skip):

  pass       forward everything unchanged (control)
  drop       drop the record
  replay     send the record twice
  reorder    hold the record until the next application-data record, send
             that one first, then the held one
  alter      flip one bit in the middle of the record's ciphertext
  truncate   hold the last type-21/23 record in the direction for --grace-ms;
             when the side then closes (FIN), drop it and pass the FIN on.
             That last record is the close_notify alert (TLS 1.3: an
             encrypted type-23 record; TLS 1.2: type 21).  A held record is
             released when more data follows or the grace period ends.
  alter-hs   flip one bit of the random in the direction's Hello (c2s: the
             ClientHello, s2c: the ServerHello): the handshake must fail
  strip      (c2s) rewrite the ClientHello's cipher_suites to weak legacy
             suites only (RC4-SHA 0x0005, DES-CBC3-SHA 0x000a, and the
             renegotiation SCSV 0x00ff); lengths fixed
  downgrade  (c2s) rewrite the ClientHello's supported_versions extension to
             offer only TLS 1.0 and 1.1 (without the extension: set
             legacy_version to TLS 1.1); lengths fixed

Which type-23 records are handshake, not application data: in TLS 1.2 none.
In TLS 1.3 (seen in the ServerHello's supported_versions), the server's
encrypted handshake flight is every s2c record before the client's first
type-23 record, and the client's first --c2s-handshake-records (default 1:
its Finished; 3 with a client certificate) c2s type-23 records are its flight.
New session tickets the server sends after the handshake look like
application data: use --skip (or a server that sends none).

Traffic that is not TLS (first byte not a record type) is forwarded as is.
The log (--log FILE, else stderr) says what was done, e.g.
  conn 1: applied alter to record #5 c2s (app-data #1, type 23, len 45)
and ends each connection with per-direction record counts.
"""

import argparse
import ipaddress
import os
import select
import socket
import struct
import sys
import threading
import time

CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APPDATA, CT_HEARTBEAT = 20, 21, 22, 23, 24
TYPE_NAMES = {20: "ccs", 21: "alert", 22: "handshake", 23: "appdata", 24: "heartbeat"}
MODES = ("pass", "drop", "replay", "reorder", "alter", "truncate", "alter-hs", "strip", "downgrade")
MAX_FRAGMENT = 16384
IDLE_TIMEOUT = 60.0          # a connection idle this long is torn down

_log_lock = threading.Lock()
_log_file = None
_verbose = False


def log(msg):
    line = "%s mitm[%d]: %s\n" % (time.strftime("%H:%M:%S"), os.getpid(), msg)
    with _log_lock:
        if _log_file is not None:
            _log_file.write(line)
            _log_file.flush()
        else:
            sys.stderr.write(line)
            sys.stderr.flush()


def debug(msg):
    if _verbose:
        log(msg)


def record(ctype, version, payload):
    return struct.pack("!BHH", ctype, version, len(payload)) + payload


def split_records(ctype, version, payload):
    out = b""
    for i in range(0, max(len(payload), 1), MAX_FRAGMENT):
        out += record(ctype, version, payload[i:i + MAX_FRAGMENT])
    return out


class ParseError(Exception):
    pass


def parse_client_hello(body):
    """body: ClientHello body (after the 4-byte handshake header).
    Returns dict of offsets: (start, end) slices of the fields."""
    p = 0
    if len(body) < 35:
        raise ParseError("short ClientHello")
    f = {"legacy_version": (0, 2)}
    p = 2 + 32
    sid_len = body[p]
    p += 1 + sid_len
    if p + 2 > len(body):
        raise ParseError("short ClientHello (session id)")
    cs_len = struct.unpack("!H", body[p:p + 2])[0]
    f["cipher_suites"] = (p, p + 2 + cs_len)       # including the length
    p += 2 + cs_len
    if p + 1 > len(body):
        raise ParseError("short ClientHello (cipher suites)")
    cm_len = body[p]
    p += 1 + cm_len
    f["exts"] = None
    if p + 2 <= len(body):
        ext_len = struct.unpack("!H", body[p:p + 2])[0]
        f["exts"] = (p, p + 2 + ext_len)
        if p + 2 + ext_len > len(body):
            raise ParseError("extensions overrun ClientHello")
    elif p != len(body):
        raise ParseError("trailing bytes in ClientHello")
    return f


def iter_extensions(data):
    """data: the extensions block without its 2-byte length."""
    p = 0
    while p + 4 <= len(data):
        et, el = struct.unpack("!HH", data[p:p + 4])
        yield et, p, p + 4 + el
        p += 4 + el


def rewrite_client_hello(body, mode):
    """Return (new_body, description)."""
    f = parse_client_hello(body)
    if mode == "strip":
        a, b = f["cipher_suites"]
        old = body[a + 2:b]
        suites = [0x0005, 0x000A, 0x00FF]
        new = struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", s) for s in suites)
        desc = "cipher_suites %d -> [0x0005 RC4-SHA, 0x000a DES-CBC3-SHA, 0x00ff SCSV]" % (len(old) // 2)
        return body[:a] + new + body[b:], desc
    if mode == "downgrade":
        if f["exts"] is not None:
            a, b = f["exts"]
            exts = body[a + 2:b]
            for et, s, e in iter_extensions(exts):
                if et == 0x002B:
                    data = exts[s + 4:e]
                    old = [struct.unpack("!H", data[1 + 2 * i:3 + 2 * i])[0] for i in range(data[0] // 2)]
                    newdata = bytes([4]) + struct.pack("!HH", 0x0302, 0x0301)
                    newext = struct.pack("!HH", 0x002B, len(newdata)) + newdata
                    exts2 = exts[:s] + newext + exts[e:]
                    body2 = body[:a] + struct.pack("!H", len(exts2)) + exts2 + body[b:]
                    desc = "supported_versions %s -> [0x0302, 0x0301]" % ",".join("0x%04x" % v for v in old)
                    return body2, desc
        # No supported_versions: a TLS 1.2-style hello; lower legacy_version.
        old = struct.unpack("!H", body[0:2])[0]
        return struct.pack("!H", 0x0302) + body[2:], "legacy_version 0x%04x -> 0x0302 (no supported_versions)" % old
    raise ValueError(mode)


def server_hello_version(hs):
    """hs: handshake bytes starting with a ServerHello. Returns the selected
    version (supported_versions if present, else legacy_version) or None."""
    if len(hs) < 4 or hs[0] != 2:
        return None
    n = int.from_bytes(hs[1:4], "big")
    body = hs[4:4 + n]
    if len(body) < 38:
        return None
    ver = struct.unpack("!H", body[0:2])[0]
    p = 2 + 32
    p += 1 + body[p]
    p += 2 + 1  # cipher suite, compression
    if p + 2 <= len(body):
        el = struct.unpack("!H", body[p:p + 2])[0]
        for et, s, e in iter_extensions(body[p + 2:p + 2 + el]):
            if et == 0x002B and e - s == 6:
                ext = body[p + 2 + s + 4:p + 2 + e]
                ver = struct.unpack("!H", ext)[0]
    return ver


class Conn:
    """State shared by the two directions of one proxied connection."""

    def __init__(self, cid, args):
        self.cid = cid
        self.args = args
        self.lock = threading.Lock()
        self.version = None          # negotiated, from the ServerHello
        self.c2s_appdata_seen = 0    # type-23 records seen c2s
        self.applied = False
        self.counts = {"c2s": {}, "s2c": {}}
        self.recno = {"c2s": 0, "s2c": 0}
        self.appno = {"c2s": 0, "s2c": 0}   # application-data records
        self.eligible = {"c2s": 0, "s2c": 0}

    @property
    def tls13(self):
        return self.version == 0x0304


class Pump:
    """Moves one direction of a connection, record by record."""

    def __init__(self, conn, src, dst, direction):
        self.c = conn
        self.src = src
        self.dst = dst
        self.dir = direction
        self.args = conn.args
        self.active = (conn.args.direction == direction)
        self.buf = b""
        self.raw = False          # not TLS: pass bytes through
        self.held = None          # (record bytes, recno) for reorder/truncate
        self.held_deadline = None
        self.hs_buf = b""         # c2s ClientHello reassembly (strip/downgrade)
        self.hs_version = 0x0301
        self.hs_done = False
        self.sh_buf = b""         # s2c ServerHello reassembly
        self.sh_done = False

    def send(self, data):
        if data:
            self.dst.sendall(data)

    def tag(self, recno, ctype, length, extra=""):
        return "record #%d %s (%stype %d, len %d)" % (recno, self.dir, extra, ctype, length)

    def applied(self, what):
        self.c.applied = True
        log("conn %d: applied %s" % (self.c.cid, what))

    # -- record classification ------------------------------------------
    def is_appdata(self, ctype):
        """Called once per type-23 record in order; True if the record is
        application data (not encrypted handshake)."""
        c = self.c
        if ctype != CT_APPDATA:
            return False
        if self.dir == "c2s":
            with c.lock:
                c.c2s_appdata_seen += 1
                n = c.c2s_appdata_seen
            if c.tls13 and n <= self.args.c2s_handshake_records:
                return False
            return True
        # s2c
        with c.lock:
            seen = c.c2s_appdata_seen
        if c.tls13 and seen == 0:
            return False
        return True

    # -- per-record processing --------------------------------------------
    def process(self, rec):
        c = self.c
        ctype = rec[0]
        version = struct.unpack("!H", rec[1:3])[0]
        payload = rec[5:]
        c.recno[self.dir] += 1
        recno = c.recno[self.dir]
        cnt = c.counts[self.dir]
        cnt[ctype] = cnt.get(ctype, 0) + 1
        app = self.is_appdata(ctype)
        if app:
            c.appno[self.dir] += 1
        debug("conn %d: %s%s" % (c.cid, self.tag(recno, ctype, len(payload)), " appdata" if app else ""))

        mode = self.args.mode
        # ServerHello: learn the version (both directions need it).
        if self.dir == "s2c" and not self.sh_done and ctype == CT_HANDSHAKE:
            self.sh_buf += payload
            if len(self.sh_buf) >= 4:
                n = int.from_bytes(self.sh_buf[1:4], "big")
                if len(self.sh_buf) >= 4 + n or len(self.sh_buf) > 70000:
                    self.sh_done = True
                    v = server_hello_version(self.sh_buf)
                    c.version = v
                    log("conn %d: ServerHello selects version %s" % (c.cid, "0x%04x" % v if v else "?"))

        if not self.active:
            self.send(rec)
            return

        if mode == "alter-hs":
            if (not c.applied and ctype == CT_HANDSHAKE and len(payload) >= 38 and
                    payload[0] == (1 if self.dir == "c2s" else 2)):
                b = bytearray(rec)
                b[5 + 4 + 2 + 16] ^= 0x01
                self.send(bytes(b))
                self.applied("alter-hs to %s (%sHello random byte 16, bit 0 flipped)" % (
                    self.tag(recno, ctype, len(payload)), "Client" if self.dir == "c2s" else "Server"))
                return
            self.send(rec)
            return

        if mode in ("strip", "downgrade"):
            if self.dir == "c2s" and not self.hs_done:
                if ctype != CT_HANDSHAKE:
                    self.hs_done = True
                    log("conn %d: %s not applied: first record is not a handshake" % (c.cid, mode))
                    self.send(rec)
                    return
                if not self.hs_buf:
                    self.hs_version = version
                self.hs_buf += payload
                if len(self.hs_buf) < 4:
                    return
                n = int.from_bytes(self.hs_buf[1:4], "big")
                if len(self.hs_buf) < 4 + n:
                    return          # wait for the rest of the ClientHello
                self.hs_done = True
                hs, rest = self.hs_buf[:4 + n], self.hs_buf[4 + n:]
                if hs[0] != 1:
                    log("conn %d: %s not applied: first handshake message is type %d" % (c.cid, mode, hs[0]))
                    self.send(split_records(CT_HANDSHAKE, self.hs_version, self.hs_buf))
                    return
                try:
                    body, desc = rewrite_client_hello(hs[4:], mode)
                except ParseError as e:
                    log("conn %d: %s not applied: %s" % (c.cid, mode, e))
                    self.send(split_records(CT_HANDSHAKE, self.hs_version, self.hs_buf))
                    return
                newhs = bytes([1]) + len(body).to_bytes(3, "big") + body
                self.send(split_records(CT_HANDSHAKE, self.hs_version, newhs + rest))
                self.applied("%s to record #%d %s (ClientHello: %s; handshake len %d -> %d)" % (
                    mode, recno, self.dir, desc, n, len(body)))
                return
            self.send(rec)
            return

        if mode == "truncate":
            if ctype in (CT_ALERT, CT_APPDATA):
                self.release()
                self.held = (rec, recno)
                self.held_deadline = time.monotonic() + self.args.grace_ms / 1000.0
            else:
                self.release()
                self.send(rec)
            return

        if mode == "reorder" and self.held is not None:
            hrec, hno = self.held
            self.held = None
            if app:
                self.send(rec)
                self.send(hrec)
                self.applied("reorder to record #%d and #%d %s (app-data #%d and #%d sent swapped)" % (
                    hno, recno, self.dir, c.appno[self.dir] - 1, c.appno[self.dir]))
            else:
                log("conn %d: reorder not applied: record #%d %s after the held one is type %d" % (
                    c.cid, recno, self.dir, ctype))
                self.send(hrec)
                self.send(rec)
            return

        target = False
        if app and not c.applied and mode != "pass":
            c.eligible[self.dir] += 1
            target = c.eligible[self.dir] > self.args.skip
        if not target:
            self.send(rec)
            return
        what = self.tag(recno, ctype, len(payload), "app-data #%d, " % c.appno[self.dir])
        if mode == "drop":
            self.applied("drop to " + what)
        elif mode == "replay":
            self.send(rec)
            self.send(rec)
            self.applied("replay to " + what + " (sent twice)")
        elif mode == "reorder":
            self.held = (rec, recno)
            log("conn %d: reorder: holding %s" % (c.cid, what))
        elif mode == "alter":
            if len(payload) == 0:
                self.send(rec)
                return
            i = len(payload) // 2
            b = bytearray(rec)
            b[5 + i] ^= 0x10
            self.send(bytes(b))
            self.applied("alter to %s (bit 4 of ciphertext byte %d flipped)" % (what, i))
        else:
            self.send(rec)

    def release(self):
        if self.held is not None:
            rec, _ = self.held
            self.held = None
            self.held_deadline = None
            self.send(rec)

    def at_eof(self):
        """The source closed (FIN)."""
        c = self.c
        if self.held is not None:
            rec, recno = self.held
            if self.args.mode == "truncate":
                self.held = None
                self.applied("truncate to %s: dropped the last record before FIN" % self.tag(
                    recno, rec[0], len(rec) - 5))
            elif self.args.mode == "reorder":
                log("conn %d: reorder not applied: FIN after the held record #%d %s; sent it" % (
                    c.cid, recno, self.dir))
                self.release()
        if self.hs_buf and not self.hs_done:
            self.send(split_records(CT_HANDSHAKE, self.hs_version, self.hs_buf))
            self.hs_buf = b""
        if self.buf:
            log("conn %d: %s: %d bytes of a partial record at FIN, forwarded" % (c.cid, self.dir, len(self.buf)))
            self.send(self.buf)
            self.buf = b""

    def feed(self, data):
        if self.raw:
            self.send(data)
            return
        self.buf += data
        while len(self.buf) >= 5:
            ctype, major = self.buf[0], self.buf[1]
            if ctype not in TYPE_NAMES or major != 3:
                if self.c.recno[self.dir] == 0:
                    log("conn %d: %s is not TLS (first bytes %r), passing through" % (
                        self.c.cid, self.dir, bytes(self.buf[:16])))
                else:
                    log("conn %d: %s: garbage after record #%d, passing through" % (
                        self.c.cid, self.dir, self.c.recno[self.dir]))
                self.raw = True
                self.release()
                self.send(self.buf)
                self.buf = b""
                return
            n = struct.unpack("!H", self.buf[3:5])[0]
            if len(self.buf) < 5 + n:
                break
            rec, self.buf = self.buf[:5 + n], self.buf[5 + n:]
            self.process(rec)

    def run(self):
        c = self.c
        how = "eof"
        try:
            last = time.monotonic()
            while True:
                now = time.monotonic()
                if self.held_deadline is not None:
                    timeout = max(0.0, self.held_deadline - now)
                else:
                    timeout = max(0.0, IDLE_TIMEOUT - (now - last))
                r, _, _ = select.select([self.src], [], [], timeout)
                if not r:
                    if self.held_deadline is not None and time.monotonic() >= self.held_deadline:
                        debug("conn %d: %s: grace period over, releasing record #%d" % (
                            c.cid, self.dir, self.held[1]))
                        self.release()
                        continue
                    if time.monotonic() - last >= IDLE_TIMEOUT:
                        how = "idle timeout"
                        break
                    continue
                try:
                    data = self.src.recv(65536)
                except ConnectionResetError:
                    how = "reset"
                    break
                last = time.monotonic()
                if not data:
                    self.at_eof()
                    break
                self.feed(data)
        except (BrokenPipeError, ConnectionResetError, OSError) as e:
            how = "error: %s" % e
        if how == "eof":
            try:
                self.dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        else:
            # Pass a reset on as a reset.
            try:
                self.dst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.dst.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        counts = ", ".join("%s=%d" % (TYPE_NAMES.get(t, str(t)), n)
                           for t, n in sorted(c.counts[self.dir].items()))
        log("conn %d: %s done (%s): %d records [%s], %d app-data%s" % (
            c.cid, self.dir, how, c.recno[self.dir], counts or "-", c.appno[self.dir],
            ", not TLS" if self.raw else ""))


def handle(cid, client, args):
    try:
        server = socket.create_connection(args.target, timeout=10)
        server.settimeout(None)
    except OSError as e:
        log("conn %d: cannot connect to %s:%d: %s" % (cid, args.target[0], args.target[1], e))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        return
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = Conn(cid, args)
    p1 = Pump(conn, client, server, "c2s")
    p2 = Pump(conn, server, client, "s2c")
    t1 = threading.Thread(target=p1.run, daemon=True)
    t2 = threading.Thread(target=p2.run, daemon=True)
    t1.start()
    t2.start()
    t1.join()
    t2.join()
    if args.mode != "pass" and not conn.applied:
        log("conn %d: mode %s %s was NOT applied" % (cid, args.mode, args.direction))
    log("conn %d: closed" % cid)
    client.close()
    server.close()


def hostport(s, default_host=None):
    if s.startswith("["):
        h, _, p = s[1:].partition("]:")
    elif ":" in s and s.count(":") == 1:
        h, _, p = s.partition(":")
    elif default_host is not None and s.isdigit():
        h, p = default_host, s
    else:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % s)
    if h == "localhost":
        h = "127.0.0.1"
    try:
        if not ipaddress.ip_address(h).is_loopback:
            raise argparse.ArgumentTypeError("%s is not a loopback address" % h)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not an IP address" % h)
    return h, int(p)


def main():
    global _log_file, _verbose
    ap = argparse.ArgumentParser(description="TLS record tampering proxy (loopback only)")
    ap.add_argument("--listen", required=True, type=lambda s: hostport(s, "127.0.0.1"),
                    metavar="[HOST:]PORT")
    ap.add_argument("--target", required=True, type=hostport, metavar="HOST:PORT")
    ap.add_argument("--mode", required=True, choices=MODES)
    ap.add_argument("--direction", choices=("c2s", "s2c"), default=None,
                    help="default: c2s for strip/downgrade, else s2c")
    ap.add_argument("--skip", type=int, default=0,
                    help="application-data records to pass before acting (default 0)")
    ap.add_argument("--c2s-handshake-records", type=int, default=1,
                    help="TLS 1.3: client type-23 records that are handshake (default 1)")
    ap.add_argument("--grace-ms", type=int, default=500,
                    help="truncate: how long the last record is held (default 500)")
    ap.add_argument("--log", default=None, metavar="FILE")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every record")
    args = ap.parse_args()
    if args.direction is None:
        args.direction = "c2s" if args.mode in ("strip", "downgrade") else "s2c"
    if args.mode in ("strip", "downgrade") and args.direction != "c2s":
        ap.error("--mode %s rewrites the ClientHello: --direction c2s only" % args.mode)
    _verbose = args.verbose
    if args.log:
        _log_file = open(args.log, "a", buffering=1)

    fam = socket.AF_INET6 if ":" in args.listen[0] else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(args.listen)
    ls.listen(64)
    log("listening on %s:%d -> %s:%d, mode %s, direction %s, skip %d" % (
        args.listen[0], ls.getsockname()[1], args.target[0], args.target[1],
        args.mode, args.direction, args.skip))
    cid = 0
    while True:
        try:
            client, peer = ls.accept()
        except InterruptedError:
            continue
        cid += 1
        log("conn %d: accepted from %s:%d" % (cid, peer[0], peer[1]))
        threading.Thread(target=handle, args=(cid, client, args), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
