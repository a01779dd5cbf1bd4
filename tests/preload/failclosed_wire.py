#!/usr/bin/env python3
"""failclosed_wire.py — the peers and the wiretap of tests/preload/failclosed_*.sh.

Real TLS peers (Python's ssl module) and a recording relay that keeps every
connection's raw bytes in files of their own, so a sentinel can never hide
across two connections' interleaved chunks.  Every socket operation has a
timeout, every loop a deadline: a broken shim makes a case fail, never hang.

  failclosed_wire.py relay --port P --to Q --dir D [--host H] [--to-host H2]
                     [--backlog N] [--gate FILE] [--max-time S]
      Plain TCP relay H:P -> H2:Q.  Connection number N (from 1) records
      D/cN.c2s (client to server) and D/cN.s2c.  With --gate, nothing is
      accepted until FILE exists (with --backlog 0 a connection that waits
      in the queue keeps the next SYN unanswered: a connect in progress).
      Prints "ready".

  failclosed_wire.py server --port Q --cert C --key K --dir D [--host H]
                     [--mode echo|record|count|greet|greet-echo|greet-reply]
                     [--greeting TEXT] [--close notify|fin] [--max-time S]
      TLS server, one thread per connection.  Connection N writes the
      decrypted bytes it received to D/sN.data and its events to
      D/sN.status ("tls VERSION", "handshake-error R", "eof clean",
      "eof ragged", "error R", "sent fin", "unwrap ok|error R").
      echo: echo until end of data.  record: read until end of data.
      count: read to the end, then send "received N bytes\\n".
      greet: send the greeting, then end the connection at once (--close).
      greet-echo: send the greeting, then echo until end of data.
      greet-reply: send the greeting, read one line, answer "reply to: LINE",
      then end the connection at once (--close fin: a truncation).
      Prints "ready".

  failclosed_wire.py client --port P --ca CA [--host H] [--server-name N]
                     [--expect TEXT] [--send TEXT] [--reply TEXT]
      TLS client: handshake; read until TEXT (--expect) arrived; send;
      read until the reply is exactly --reply; close_notify, and wait for
      the server's (a bare FIN instead is a truncation: "error unwrap R").
      Prints "handshake ok", "greeting ok", "reply ok", "unwrap ok" or
      "error R"; exit 0 when every step worked.

  failclosed_wire.py hold --port P [--host H] [--secs S]
      A plain TCP connection that sends nothing: prints "connected", then
      holds it until the other side closes or S seconds (default 20).

  The relay's captures are checked by tests/tools/wireaudit --files D
  (failclosed_common.inc's fc_wire: TLS records only, no sentinel).

  failclosed_wire.py lines --dir D --sentinel S --prog FILE
                     [--exact] [--expect-conns N]
      The race tests' bookkeeping.  The program wrote lines "S I K\\n"
      (connection I, line K = 0, 1, ...) and printed "conn I ok=W ..." for
      each connection.  Each server connection must have received lines
      0..m-1 of one I, in order, nothing else (no partial line, no gap);
      with --exact m == W, else m <= W (when W is known).  Prints
      "lines ok conns=N lines=L" or "lines BAD: reason".
"""
import argparse
import os
import re
import socket
import sys
import time

from strict_tls import listener, strict_client_ctx, strict_server_ctx, truncated

# A server's or relay's longest life: a bound, scaled like the tests' own
# (tests/lib.sh: TLSSHIM_TIME_SCALE); a script whose cases outlast it on a
# busy machine got ECONNREFUSED in its last cases.
MAX_TIME = 170 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))


def out(*a):
    print(*a, flush=True)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class Counter:
    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            self.n += 1
            return self.n


def append(path, data):
    with open(path, "ab") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---------------------------------------------------------------- relay

def relay(args):
    ls = socket.socket(family_of(args.host), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(args.backlog)
    ls.settimeout(0.2)
    os.makedirs(args.dir, exist_ok=True)
    out("ready")
    end = time.time() + args.max_time
    if args.gate:
        while not os.path.exists(args.gate) and time.time() < end:
            time.sleep(0.05)
    count = Counter()
    while time.time() < end:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        except OSError:
            continue
        n = count.next()
        base = os.path.join(args.dir, "c%d" % n)
        open(base + ".c2s", "ab").close()
        open(base + ".s2c", "ab").close()
        try:
            u = socket.create_connection((args.to_host, args.to), timeout=10)
        except OSError:
            c.close()
            continue
        state = {"left": 2}
        lock = threading.Lock()
        for a, b, suffix in ((c, u, ".c2s"), (u, c, ".s2c")):
            threading.Thread(target=pipe, args=(a, b, base + suffix, state, lock, c, u),
                             daemon=True).start()
    return 0


def pipe(a, b, path, state, lock, c, u):
    a.settimeout(60)
    reset = False
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            append(path, d)
            b.sendall(d)
    except ConnectionResetError:
        reset = True
    except OSError:
        pass
    try:
        if reset:
            # Pass a reset on as a reset (SO_LINGER 0), as the wire would.
            # The other direction's thread is blocked in b.recv(): a close()
            # alone does not wake it, and the reset would go out only when
            # that recv() returns (the far end's timeout, 30 s later).
            # shutdown(SHUT_RD) sends nothing and wakes it (end of file).
            b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            try:
                b.shutdown(socket.SHUT_RD)
            except OSError:
                pass
            b.close()
        else:
            b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    with lock:
        state["left"] -= 1
        if state["left"] == 0:
            for s in (c, u):
                try:
                    s.close()
                except OSError:
                    pass


# ---------------------------------------------------------------- server

def server(args):
    ctx = strict_server_ctx(args.cert, args.key)
    ls = listener(args.port, 64, 0.2, args.host, family_of(args.host))
    os.makedirs(args.dir, exist_ok=True)
    out("ready")
    end = time.time() + args.max_time
    count = Counter()
    while time.time() < end:
        try:
            c, _ = ls.accept()
        except (socket.timeout, OSError):
            continue
        n = count.next()
        threading.Thread(target=serve_one, args=(args, ctx, c, n), daemon=True).start()
    return 0


def reason(e):
    if isinstance(e, ssl.SSLError):
        return "%s %s" % (e.reason or type(e).__name__, e)
    return "%s %s" % (type(e).__name__, e)


def serve_one(args, ctx, raw, n):
    base = os.path.join(args.dir, "s%d" % n)
    st = lambda line: append(base + ".status", line + "\n")
    open(base + ".data", "ab").close()
    raw.settimeout(args.timeout)
    try:
        c = ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
    except (ssl.SSLError, OSError) as e:
        st("handshake-error %s" % reason(e))
        raw.close()
        return
    st("tls %s" % c.version())
    total = 0
    try:
        if args.mode in ("greet", "greet-echo", "greet-reply"):
            c.sendall(args.greeting.encode())
        if args.mode == "greet-reply":
            got = b""
            while b"\n" not in got:
                d = c.recv(65536)
                if not d:
                    break
                got += d
            append(base + ".data", got)
            c.sendall(b"reply to: " + got)
        elif args.mode != "greet":
            while True:
                try:
                    d = c.recv(65536)
                except ssl.SSLError as e:
                    if not truncated(e):
                        raise
                    st("eof ragged")
                    break
                if not d:
                    st("eof clean")
                    break
                append(base + ".data", d)
                total += len(d)
                if args.mode in ("echo", "greet-echo"):
                    c.sendall(d)
        if args.mode == "count":
            c.sendall(b"received %d bytes\n" % total)
        if args.close == "fin":
            socket.socket.shutdown(c, socket.SHUT_RDWR)
            st("sent fin")
        else:
            try:
                c.unwrap()
                st("unwrap ok")
            except (ssl.SSLError, OSError) as e:
                st("unwrap error %s" % reason(e))
    except (ssl.SSLError, OSError) as e:
        st("error %s" % reason(e))
    finally:
        try:
            c.close()
        except OSError:
            pass


# ---------------------------------------------------------------- client

def client(args):
    ctx = strict_client_ctx(args.ca, bare=True)
    try:
        raw = socket.create_connection((args.host, args.port), timeout=args.timeout)
        s = ctx.wrap_socket(raw, server_hostname=args.server_name or args.host,
                            suppress_ragged_eofs=False)
    except (ssl.SSLError, OSError) as e:
        out("error handshake %s" % reason(e))
        return 1
    out("handshake ok")
    got = b""
    try:
        if args.expect is not None:
            want = args.expect.encode()
            while len(got) < len(want):
                d = s.recv(65536)
                if not d:
                    break
                got += d
            if got != want:
                out("error greeting %s" % show(got[:200]))
                return 1
            out("greeting ok")
        if args.send is not None:
            s.sendall(args.send.encode())
        if args.reply is not None:
            want, got = args.reply.encode(), b""
            while len(got) < len(want):
                d = s.recv(65536)
                if not d:
                    break
                got += d
            if got != want:
                out("error reply %s" % show(got[:200]))
                return 1
            out("reply ok")
        # The end: our close_notify, then the server's.  A bare FIN (or a
        # reset) instead of the server's close_notify is a truncation:
        # never taken for a clean end (strict EOF above).
        try:
            s.unwrap()
        except (ssl.SSLError, OSError) as e:
            out("error unwrap %s" % reason(e))
            return 1
        out("unwrap ok")
    except (ssl.SSLError, OSError) as e:
        out("error %s (after %s)" % (reason(e), show(got[:200])))
        return 1
    return 0


# ---------------------------------------------------------------- hold

def hold(args):
    s = socket.create_connection((args.host, args.port), timeout=args.secs)
    out("connected")
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    return 0


# ---------------------------------------------------------------- lines

def show(b):
    """Bytes for a one-line message: printable ASCII, the rest as '.'
    (no backslashes: the shell's echo would interpret them)."""
    return "'" + "".join(chr(c) if 32 <= c < 127 and c != 92 else "." for c in b) + "'"


def lines(args):
    prog = {}
    for ln in open(args.prog, errors="replace"):
        m = re.match(r"conn (\d+) ok=(\d+)", ln)
        if m:
            prog[int(m.group(1))] = int(m.group(2))
    sent = args.sentinel.encode()
    pat = re.compile(rb"^" + re.escape(sent) + rb" (\d+) (\d+)$")
    bad, seen, nlines = [], {}, 0
    datas = sorted(f for f in os.listdir(args.dir) if f.endswith(".data"))
    for f in datas:
        data = open(os.path.join(args.dir, f), "rb").read()
        if not data:
            continue
        if not data.endswith(b"\n"):
            bad.append("%s: ends with a partial line %s" % (f, show(data[-60:])))
            continue
        conn, k_expected = None, 0
        for raw in data.split(b"\n")[:-1]:
            m = pat.match(raw)
            if not m:
                bad.append("%s: unexpected line %s" % (f, show(raw[:80])))
                break
            i, k = int(m.group(1)), int(m.group(2))
            if conn is None:
                conn = i
            if i != conn or k != k_expected:
                bad.append("%s: line %s after %d lines of conn %s" % (f, show(raw[:80]), k_expected, conn))
                break
            k_expected += 1
        nlines += k_expected
        if conn is None:
            continue
        if conn in seen:
            bad.append("conn %d seen twice (%s, %s)" % (conn, seen[conn], f))
        seen[conn] = f
        if conn in prog:
            w = prog[conn]
            if k_expected > w or (args.exact and k_expected != w):
                bad.append("conn %d: the peer got %d lines, the program's writes returned %d%s" % (
                    conn, k_expected, w, " (must be equal)" if args.exact else ""))
    if args.exact:
        for i, w in prog.items():
            if w > 0 and i not in seen:
                bad.append("conn %d: %d writes succeeded, the peer got nothing" % (i, w))
    if args.expect_conns and len(prog) < args.expect_conns:
        bad.append("the program reported %d connections of %d" % (len(prog), args.expect_conns))
    if bad:
        out("lines BAD: " + "; ".join(bad[:5]) + (" (+%d more)" % (len(bad) - 5) if len(bad) > 5 else ""))
        return 1
    out("lines ok conns=%d lines=%d" % (len(seen), nlines))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("relay")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--to", type=int, required=True)
    r.add_argument("--dir", required=True)
    r.add_argument("--host", default="127.0.0.1")
    r.add_argument("--to-host", default="127.0.0.1")
    r.add_argument("--backlog", type=int, default=128)
    r.add_argument("--gate")
    r.add_argument("--max-time", type=float, default=MAX_TIME)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--dir", required=True)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--mode", default="echo", choices=("echo", "record", "count", "greet", "greet-echo", "greet-reply"))
    s.add_argument("--greeting", default="hello from the server\n")
    s.add_argument("--close", default="notify", choices=("notify", "fin"))
    s.add_argument("--timeout", type=float, default=30)
    s.add_argument("--max-time", type=float, default=MAX_TIME)
    c = sub.add_parser("client")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--ca", required=True)
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--server-name")
    c.add_argument("--expect")
    c.add_argument("--send")
    c.add_argument("--reply")
    c.add_argument("--timeout", type=float, default=15)
    h = sub.add_parser("hold")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--host", default="127.0.0.1")
    h.add_argument("--secs", type=float, default=20)
    ln = sub.add_parser("lines")
    ln.add_argument("--dir", required=True)
    ln.add_argument("--sentinel", required=True)
    ln.add_argument("--prog", required=True)
    ln.add_argument("--exact", action="store_true")
    ln.add_argument("--expect-conns", type=int, default=0)
    args = ap.parse_args()
    # ssl and threading only for the modes that use them: a relay or lines
    # then starts without ssl, about 30 ms of CPU less.
    global ssl, threading
    if args.cmd in ("server", "client"):
        import ssl
    if args.cmd in ("server", "relay"):
        import threading
    return {"relay": relay, "server": server, "client": client, "hold": hold,
            "lines": lines}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
