#!/usr/bin/env python3
"""tlspeer.py — real TLS (and plain) peers for tlsshim's preload and interop
tests, built on Python's ssl module.  Every socket operation has a timeout
and every loop a deadline, so a broken shim makes a case fail, never hang.

  tlspeer.py server  --port P [--host H] [--cert C --key K] [--ca CA]
                     [--require-cert] [--tls12|--tls13] [--plain]
                     [--alpn A,B] [--mode echo|greet|record|count]
                     [--greeting TEXT] [--close notify|fin]
                     [--count N] [--record FILE] [--status FILE]
      Serve N connections one after the other (default 1), then exit.
      Prints "ready" on stdout once listening.  --record appends every byte
      received (decrypted) to FILE; --status appends one line per event:
        conn peer=ADDR:PORT
        tls version=TLSv1.3 cipher=NAME sni=NAME|- peer_cn=NAME|- alpn=NAME|-
        handshake-error REASON
        eof clean | eof ragged | eof plain | error REASON
        unwrap ok | unwrap error REASON | sent fin
      ("unwrap ok": our close_notify went out and the peer's came in.)
      echo: send back what arrives until end of data, then close.
      greet: send the greeting at once, then close (server speaks first).
      record: only receive.  count: receive to the end of data, then send
      "received N bytes" (the peer half-closed but still reads).
      --close notify (default): close_notify then close; fin: TCP FIN
      without close_notify (a truncation attack, seen from the client).
      --plain: no TLS at all (a plaintext server, or a connection counter).
      A TCP end without close_notify is always "eof ragged" (server) or
      "eof ragged"/"error ..." (client): every context clears
      OP_IGNORE_UNEXPECTED_EOF, which Debian 12's Python 3.11.2 sets by
      default (a truncation then read as "eof clean" and even "unwrap ok"):
      tests/py/strict_tls.py makes them (PYTHONPATH=tests/py).
      --strict-eof is accepted and does nothing (it is the default).

  tlspeer.py client  --port P [--host H] [--ca CA] [--cert C --key K]
                     [--server-name N] [--no-verify] [--tls12|--tls13]
                     [--alpn A,B] [--send TEXT | --random N]
                     [--finish unwrap|fin|read-eof|none]
      Handshake, send the data while reading the echo (non-blocking, so any
      size works), check the echo is exact, then:
        unwrap    send close_notify and wait for the peer's (clean close)
        fin       shut the TCP connection down without close_notify
        read-eof  read on until the peer closes; report how it closed
      Prints: "local ADDR:PORT", "version V", "cipher C", "alpn P|-",
      "echo ok N" or "echo MISMATCH ...", "eof clean|ragged",
      "unwrap ok|error R", "sent fin", "handshake-error R", "error R".  Exit 0 when every step worked, 1 otherwise.

  tlspeer.py relay   --port P --to Q [--record PREFIX]
      A plain TCP relay 127.0.0.1:P -> 127.0.0.1:Q that records the raw
      bytes of each direction in PREFIX.c2s and PREFIX.s2c (a wiretap).
      Prints "ready"; runs until killed (at most 120 s).

  tlspeer.py raw     --port P [--host H] [--source A] [--send TEXT] [--record FILE]
      A plaintext TCP client (from local address A, if given): send TEXT
      (then FIN), read until the server
      closes (or 15 s), record what came back in FILE; print "received N"
      and how the connection ended: "eof", "reset" or "timeout".

  tlspeer.py silent  --port P [--hold SECS]
      Open a plain TCP connection, send nothing, wait until the server
      closes it (at most SECS, default 20); print "closed" or "held".
"""
import argparse
import os
import select
import socket
import sys
import time

# ssl and threading are imported by main() for the modes that use them
# (about 30 ms of CPU per start of a relay, raw or silent peer).
from strict_tls import listener, strict_client_ctx, strict_server_ctx, truncated


def out(*a):
    print(*a, flush=True)


def append(path, data):
    if path:
        with open(path, "ab") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


def status(args, line):
    append(args.status, line + "\n")


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def versions(ctx, args):
    if args.tls12:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if args.tls13:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3


def cn_of(cert):
    for rdn in (cert or {}).get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return "-"


# ---------------------------------------------------------------- server

def serve(args):
    ctx = None
    sni = {}
    if not args.plain:
        ctx = strict_server_ctx(args.cert, args.key)
        versions(ctx, args)
        if args.ca:
            ctx.load_verify_locations(args.ca)
            ctx.verify_mode = ssl.CERT_REQUIRED if args.require_cert else ssl.CERT_OPTIONAL

        def on_sni(sslobj, name, _ctx):
            sni["name"] = name
        ctx.sni_callback = on_sni
        if args.alpn:
            ctx.set_alpn_protocols(args.alpn.split(","))

    ls = listener(args.port, 16, args.timeout, args.host, family_of(args.host))
    out("ready")
    for _ in range(args.count):
        try:
            c, addr = ls.accept()
        except socket.timeout:
            status(args, "error accept timeout")
            return 1
        status(args, "conn peer=%s:%d" % (addr[0], addr[1]))
        c.settimeout(args.timeout)
        sni.clear()
        try:
            if ctx:
                c = ctx.wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
                status(args, "tls version=%s cipher=%s sni=%s peer_cn=%s alpn=%s" % (
                    c.version(), c.cipher()[0], sni.get("name") or "-", cn_of(c.getpeercert()),
                    c.selected_alpn_protocol() or "-"))
            serve_one(args, c)
        except (ssl.SSLError, OSError) as e:
            status(args, ("handshake-error %s" if ctx and not isinstance(c, ssl.SSLSocket)
                          else "error %s") % reason(e))
        finally:
            try:
                c.close()
            except OSError:
                pass
    return 0


def reason(e):
    if isinstance(e, ssl.SSLError):
        return "%s %s" % (e.reason or type(e).__name__, e)
    return "%s %s" % (type(e).__name__, e)


def serve_one(args, c):
    total = 0
    if args.mode == "greet":
        c.sendall(args.greeting.encode())
    else:
        end = time.time() + args.timeout
        while time.time() < end:
            try:
                data = c.recv(65536)
            except ssl.SSLError as e:
                if not truncated(e):
                    raise
                status(args, "eof ragged")
                break
            if not data:
                status(args, "eof plain" if args.plain else "eof clean")
                break
            append(args.record, data)
            total += len(data)
            if args.mode == "echo":
                c.sendall(data)
    if args.mode == "count":
        c.sendall(b"received %d bytes\n" % total)
    if args.close == "fin" or args.plain:
        socket.socket.shutdown(c, socket.SHUT_RDWR)  # never a close_notify
        status(args, "sent fin")
    else:
        try:
            c.unwrap()
            status(args, "unwrap ok")
        except (ssl.SSLError, OSError) as e:
            status(args, "unwrap error %s" % reason(e))


# ---------------------------------------------------------------- client

def client(args):
    ctx = strict_client_ctx(None if args.no_verify else args.ca, bare=True)
    versions(ctx, args)
    if args.no_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(","))
    raw = socket.create_connection((args.host, args.port), timeout=args.timeout)
    out("local %s:%d" % raw.getsockname()[:2])
    try:
        s = ctx.wrap_socket(raw, server_hostname=args.server_name or args.host,
                            suppress_ragged_eofs=False)
    except (ssl.SSLError, OSError) as e:
        out("handshake-error %s" % reason(e))
        return 1
    out("version %s" % s.version())
    out("cipher %s" % s.cipher()[0])
    out("alpn %s" % (s.selected_alpn_protocol() or "-"))
    data = args.send.encode() if args.send is not None else os.urandom(args.random)
    ok = True
    try:
        got = exchange(s, data, time.time() + args.timeout)
        if got == data:
            out("echo ok %d" % len(data))
        else:
            out("echo MISMATCH sent %d got %d" % (len(data), len(got)))
            ok = False
    except (ssl.SSLError, OSError, EOFError) as e:
        out("error %s" % reason(e))
        return 1
    s.setblocking(True)
    s.settimeout(args.timeout)
    if args.finish == "unwrap":
        try:
            s.unwrap()
            out("unwrap ok")
        except (ssl.SSLError, OSError) as e:
            out("unwrap error %s%s" % ("eof ragged: " if truncated(e) else "", reason(e)))
            ok = False
    elif args.finish == "fin":
        socket.socket.shutdown(s, socket.SHUT_RDWR)  # no close_notify
        out("sent fin")
    elif args.finish == "read-eof":
        try:
            rest = s.recv(65536)
            out("eof clean" if not rest else "error unexpected data %r" % rest[:40])
            ok = ok and not rest
        except ssl.SSLError as e:
            out("eof ragged" if truncated(e) else "error %s" % reason(e))
            ok = False
        except (ssl.SSLError, OSError) as e:
            out("error %s" % reason(e))
            ok = False
    s.close()
    return 0 if ok else 1


def exchange(s, data, deadline):
    """Send data and read the same number of bytes back, interleaved.
    (tls_clients.py imports it: ssl is its own import here, not main()'s.)"""
    import ssl
    s.setblocking(False)
    sent, got = 0, bytearray()
    while len(got) < len(data) or sent < len(data):
        if time.time() > deadline:
            raise OSError("timeout: sent %d of %d, got %d" % (sent, len(data), len(got)))
        want_w = sent < len(data)
        if s.pending() == 0:
            select.select([s], [s] if want_w else [], [], 0.5)
        if want_w:
            try:
                sent += s.send(data[sent:sent + 16384])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        while len(got) < len(data):
            try:
                chunk = s.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not chunk:
                raise EOFError("peer closed after %d of %d bytes" % (len(got), len(data)))
            got += chunk
    return bytes(got)


# ---------------------------------------------------------------- relay

def relay(args):
    ls = listener(args.port, 16, 1)
    out("ready")
    # Bounded (the test stops it long before), scaled like every bound.
    scale = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
    end = time.time() + 120 * scale
    while time.time() < end:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        try:
            u = socket.create_connection(("127.0.0.1", args.to), timeout=10)
        except OSError:
            c.close()
            continue
        for a, b, suffix in ((c, u, ".c2s"), (u, c, ".s2c")):
            threading.Thread(target=pipe, args=(a, b, args.record and args.record + suffix),
                             daemon=True).start()
    return 0


def pipe(a, b, path):
    # An idle direction is normal (a server waiting for its cue); only a
    # silence longer than any test is the end.
    a.settimeout(60 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1")))
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            append(path, d)
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass


# ---------------------------------------------------------------- raw

def raw(args):
    s = socket.create_connection((args.host, args.port), timeout=args.timeout,
                                 source_address=(args.source, 0) if args.source else None)
    if args.send:
        try:
            s.sendall(args.send.encode())
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    got, how = b"", "eof"
    end = time.time() + args.timeout
    try:
        while time.time() < end:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except socket.timeout:
        how = "timeout"
    except OSError:
        how = "reset"
    append(args.record, got)
    out("received %d" % len(got))
    out(how)
    return 0


# ---------------------------------------------------------------- silent

def silent(args):
    s = socket.create_connection((args.host, args.port), timeout=args.hold)
    try:
        d = s.recv(65536)
        while d:
            d = s.recv(65536)
        out("closed")
    except socket.timeout:
        out("held")
    except OSError:
        out("closed")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("server", "client", "relay", "silent", "raw"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--timeout", type=float, default=15)
        if name in ("server", "client"):
            p.add_argument("--cert")
            p.add_argument("--key")
            p.add_argument("--ca")
            p.add_argument("--tls12", action="store_true")
            p.add_argument("--tls13", action="store_true")
            p.add_argument("--alpn", help="comma-separated ALPN protocol names")
    s = sub.choices["server"]
    s.add_argument("--require-cert", action="store_true")
    s.add_argument("--plain", action="store_true")
    s.add_argument("--mode", choices=("echo", "greet", "record", "count"), default="echo")
    s.add_argument("--greeting", default="hello from the server\n")
    s.add_argument("--close", choices=("notify", "fin"), default="notify")
    s.add_argument("--strict-eof", action="store_true")
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--record")
    s.add_argument("--status")
    c = sub.choices["client"]
    c.add_argument("--server-name")
    c.add_argument("--no-verify", action="store_true")
    c.add_argument("--send")
    c.add_argument("--random", type=int, default=1000)
    c.add_argument("--finish", choices=("unwrap", "fin", "read-eof", "none"), default="unwrap")
    r = sub.choices["relay"]
    r.add_argument("--to", type=int, required=True)
    r.add_argument("--record")
    sub.choices["silent"].add_argument("--hold", type=float, default=20)
    sub.choices["raw"].add_argument("--send")
    sub.choices["raw"].add_argument("--record")
    sub.choices["raw"].add_argument("--source")
    args = ap.parse_args()
    global ssl, threading
    if args.cmd in ("server", "client"):
        import ssl
    if args.cmd == "relay":
        import threading
    # every time limit is a bound: scaled on a busy machine (tests/lib.sh)
    args.timeout *= float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
    return {"server": serve, "client": client, "relay": relay, "silent": silent,
            "raw": raw}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
