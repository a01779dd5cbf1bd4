#!/usr/bin/env python3
"""tls_peer.py - TLS (and plaintext) peers with known data, for attack tests.

  tls_peer.py data [--records N]
      print the known data: N lines "AAA...A", "BBB...B", ... (64 bytes each)

  tls_peer.py server --port P --cert C --key K [--records N] [--tls12]
                     [--ready FILE] [--conns N] [--timeout S]
      TLS server on 127.0.0.1:P (0: any; "port N" is written to FILE once
      listening).  Per connection: handshake, send each line
      of the known data as its own application-data record, send
      close_notify, shut down the TCP write side, wait for the client to
      close, close.  No session tickets (they would look like app data).

  tls_peer.py echo --port P --cert C --key K [--conns N] [--timeout S]
      TLS echo server (a reference for the shimmed echo_server): echoes
      every byte; reports "echo: error: ..." or "echo: eof" per connection.

  tls_peer.py client --port P --ca CA [--server-name NAME] [--records N]
                     [--tls12] [--timeout S]
      TLS client: handshake, send the known data, one record per line,
      read the echo until all of it came back (or EOF / error / timeout),
      send close_notify and FIN at once, wait for the peer's close_notify
      (strict: a bare FIN instead is a truncation), then for it to close.
      Received plaintext goes to stdout; a status line to stderr:
        "peer: handshake failed: ..."  exit 3
        "peer: read error: ..."        exit 1
        "peer: timeout ..."            exit 2
        "peer: no close_notify from the peer: ..."  exit 5
        "peer: eof after N bytes"      exit 0 if all the data came back, else 4

  tls_peer.py plainserver --port P [--send TEXT] [--ready FILE] [--timeout S]
      plaintext server: accept one connection, send TEXT, read what the
      client sends (bounded) and write it to stdout, close.

  tls_peer.py plain --port P [--send TEXT] [--timeout S]
      plaintext client: send TEXT (default "GET / HTTP/1.0\\r\\n\\r\\n"),
      write every byte received to stdout until EOF / reset / timeout.
"""

import argparse
import os
import socket
import ssl
from strict_tls import strict_server_ctx, strict_client_ctx, listener
import sys
import time


def known(n):
    return b"".join(bytes([ord("A") + i]) * 63 + b"\n" for i in range(n))


def status(msg):
    sys.stderr.write("peer: %s\n" % msg)
    sys.stderr.flush()


def send_close_notify(s):
    """Send close_notify without waiting for the peer's, then FIN."""
    s.settimeout(0)
    try:
        s.unwrap()
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        pass
    except (ssl.SSLError, OSError) as e:
        status("close_notify: %s" % e)
    try:
        raw = socket.socket(fileno=s.detach())
    except OSError:
        return None
    try:
        raw.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    return raw


def drain(raw, timeout):
    """Wait (bounded) for the peer to close, discarding what comes."""
    if raw is None:
        return
    raw.settimeout(timeout)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            if not raw.recv(65536):
                break
    except OSError:
        pass
    raw.close()


def server(a):
    ctx = strict_server_ctx(a.cert, a.key, tickets=0, maxv=ssl.TLSVersion.TLSv1_2 if a.tls12 else None)
    ls = listener(a.port, 8, a.timeout)
    if a.ready:
        with open(a.ready + ".tmp", "w") as f:
            f.write("port %d\n" % ls.getsockname()[1])
        os.rename(a.ready + ".tmp", a.ready)
    data = known(a.records)
    for _ in range(a.conns):
        try:
            c, _ = ls.accept()
        except socket.timeout:
            status("no connection within %ss" % a.timeout)
            return 2
        c.settimeout(a.timeout)
        try:
            s = ctx.wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
            status("handshake ok %s %s" % (s.version(), s.cipher()[0]))
            for i in range(a.records):
                s.sendall(data[64 * i:64 * (i + 1)])
                time.sleep(0.01)   # one record per TCP segment, no coalescing
            raw = send_close_notify(s)
            drain(raw, a.timeout)
            status("sent %d records and close_notify" % a.records)
        except (ssl.SSLError, OSError) as e:
            status("error: %s" % e)
            c.close()
    return 0


def echo(a):
    ctx = strict_server_ctx(a.cert, a.key)
    ls = listener(a.port, 8, a.timeout)
    for _ in range(a.conns):
        try:
            c, _ = ls.accept()
        except socket.timeout:
            status("no connection within %ss" % a.timeout)
            return 2
        c.settimeout(a.timeout)
        n = 0
        try:
            s = ctx.wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
            status("echo: handshake ok %s %s" % (s.version(), s.cipher()[0]))
            while True:
                b = s.recv(65536)
                if not b:
                    status("echo: eof after %d bytes" % n)
                    break
                n += len(b)
                s.sendall(b)
            drain(send_close_notify(s), 1)
        except (ssl.SSLError, OSError) as e:
            status("echo: error: %s (after %d bytes)" % (e, n))
            c.close()
    return 0


def client(a):
    ctx = strict_client_ctx(a.ca, bare=True, maxv=ssl.TLSVersion.TLSv1_2 if a.tls12 else None)
    data = known(a.records)
    out = sys.stdout.buffer
    try:
        c = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    except OSError as e:
        status("connect: %s" % e)
        return 3
    try:
        s = ctx.wrap_socket(c, server_hostname=a.server_name, suppress_ragged_eofs=False)
    except (ssl.SSLError, OSError) as e:
        status("handshake failed: %s" % e)
        return 3
    status("handshake ok %s %s" % (s.version(), s.cipher()[0]))
    got = b""
    rc = None
    try:
        for i in range(a.records):
            s.sendall(data[64 * i:64 * (i + 1)])
        while len(got) < len(data):
            b = s.recv(65536)
            if not b:
                break
            got += b
            out.write(b)
            out.flush()
    except socket.timeout:
        status("timeout after %d bytes" % len(got))
        rc = 2
    except (ssl.SSLError, OSError) as e:
        status("read error: %s (after %d bytes)" % (e, len(got)))
        rc = 1
    if rc is None:
        # close_notify and FIN at once (what mitm.py's truncate works on),
        # then wait for the peer's close_notify: strict EOF (above), a bare
        # FIN or a reset instead is a truncation, never a clean end.
        try:
            s.settimeout(0)
            try:
                raw = s.unwrap()            # the peer's came already
            except ssl.SSLWantReadError:
                raw = None                  # ours is out: FIN, then wait
            except ssl.SSLWantWriteError:
                s.settimeout(a.timeout)     # ours first, whole: then FIN
                raw = s.unwrap()
            fin = socket.socket(fileno=os.dup(s.fileno()))
            try:
                fin.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            fin.close()
            if raw is None:
                s.settimeout(a.timeout)
                raw = s.unwrap()
        except (ssl.SSLError, OSError) as e:
            status("no close_notify from the peer: %s (after %d bytes)" % (e, len(got)))
            s.close()
            return 5
        drain(raw, a.timeout)
        status("eof after %d bytes" % len(got))
        return 0 if got == data else 4
    s.close()
    return rc


def plainserver(a):
    ls = listener(a.port, 8, a.timeout)
    if a.ready:
        open(a.ready, "w").write("ready\n")
    try:
        c, _ = ls.accept()
    except socket.timeout:
        status("no connection within %ss" % a.timeout)
        return 2
    c.settimeout(a.timeout)
    n = 0
    try:
        c.sendall(a.send.encode().decode("unicode_escape").encode("latin-1"))
        while True:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
            sys.stdout.buffer.write(b)
            sys.stdout.buffer.flush()
    except OSError as e:
        status("plainserver: %s" % e)
    status("plainserver: got %d bytes" % n)
    c.close()
    return 0


def plain(a):
    try:
        c = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    except OSError as e:
        status("connect: %s" % e)
        return 3
    c.sendall(a.send.encode().decode("unicode_escape").encode("latin-1"))
    out = sys.stdout.buffer
    n = 0
    try:
        while True:
            b = c.recv(65536)
            if not b:
                status("eof after %d bytes" % n)
                return 0
            n += len(b)
            out.write(b)
            out.flush()
    except socket.timeout:
        status("timeout after %d bytes" % n)
        return 2
    except OSError as e:
        status("read error: %s (after %d bytes)" % (e, n))
        return 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data")
    d.add_argument("--records", type=int, default=3)
    sv = sub.add_parser("server")
    sv.add_argument("--port", type=int, required=True)
    sv.add_argument("--cert", required=True)
    sv.add_argument("--key", required=True)
    sv.add_argument("--records", type=int, default=3)
    sv.add_argument("--tls12", action="store_true")
    sv.add_argument("--ready")
    sv.add_argument("--conns", type=int, default=1)
    sv.add_argument("--timeout", type=float, default=10)
    ec = sub.add_parser("echo")
    ec.add_argument("--port", type=int, required=True)
    ec.add_argument("--cert", required=True)
    ec.add_argument("--key", required=True)
    ec.add_argument("--conns", type=int, default=1)
    ec.add_argument("--timeout", type=float, default=10)
    cl = sub.add_parser("client")
    cl.add_argument("--port", type=int, required=True)
    cl.add_argument("--ca", required=True)
    cl.add_argument("--server-name", default="localhost")
    cl.add_argument("--records", type=int, default=3)
    cl.add_argument("--tls12", action="store_true")
    cl.add_argument("--timeout", type=float, default=5)
    ps = sub.add_parser("plainserver")
    ps.add_argument("--port", type=int, required=True)
    ps.add_argument("--send", default="HTTP/1.0 200 OK\\r\\n\\r\\nsecret plaintext\\n")
    ps.add_argument("--ready")
    ps.add_argument("--timeout", type=float, default=5)
    pl = sub.add_parser("plain")
    pl.add_argument("--port", type=int, required=True)
    pl.add_argument("--send", default="GET / HTTP/1.0\\r\\n\\r\\n")
    pl.add_argument("--timeout", type=float, default=5)
    a = ap.parse_args()
    # every time limit is a bound: scaled on a busy machine (tests/lib.sh)
    if hasattr(a, "timeout"):
        a.timeout *= float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
    if a.cmd == "data":
        sys.stdout.buffer.write(known(a.records))
        return 0
    return {"server": server, "echo": echo, "client": client, "plain": plain,
            "plainserver": plainserver}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
