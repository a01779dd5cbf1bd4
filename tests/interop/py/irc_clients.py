#!/usr/bin/env python3
"""irc_clients.py — IRC clients over TLS (tests/interop/ngircd.sh): N
clients, verified against CA for "localhost", connect one after the
other and register (NICK, USER: each waits for the welcome, 001), join
the channel #t (each waits for the end of the names list, 366); then each
sends one PRIVMSG to #t, and each must receive the N-1 messages of the
others, exact; then each sends QUIT and reads to the end (the server
closes: a clean TLS close).

  irc_clients.py PORT CA N

Prints "ok K of N" and the first errors; exit 0 when all N worked.  Every
socket has a 20 s timeout (x TLSSHIM_TIME_SCALE).
"""
import os
import socket
import ssl
import sys
import threading

TIMEOUT = 20 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))


class Client:
    def __init__(self, ctx, port, i):
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
        self.i, self.buf, self.got = i, b"", []

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("end of stream")
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        if l.startswith(b"PING "):
            self.s.sendall(b"PONG " + l[5:] + b"\r\n")
        return l

    def until(self, code):
        while True:
            parts = self.line().split(b" ")
            if len(parts) > 1 and parts[1] == code:
                return
            if len(parts) > 1 and parts[1] == b"PRIVMSG":
                self.got.append(b" ".join(parts))

    def register(self):
        self.s.sendall(b"NICK n%d\r\nUSER u%d 0 * :client %d\r\n" % (self.i, self.i, self.i))
        self.until(b"001")
        self.s.sendall(b"JOIN #t\r\n")
        self.until(b"366")

    def talk(self, n, errs, oks):
        try:
            want = {b"hello from %d" % j for j in range(n) if j != self.i}
            mine = {g.split(b" :", 1)[1] for g in self.got if b" :" in g}
            while not want <= mine:
                parts = self.line().split(b" ", 3)
                if len(parts) == 4 and parts[1] == b"PRIVMSG":
                    mine.add(parts[3][1:])
            self.s.sendall(b"QUIT :bye\r\n")
            while self.s.recv(65536):
                pass
            self.s.close()
            oks.append(self.i)
        except Exception as e:  # noqa: BLE001 - reported
            errs.append("client %d: %s: %s" % (self.i, type(e).__name__, e))


def main():
    port, ca, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    ctx = ssl.create_default_context(cafile=ca)
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    errs, oks, clients = [], [], []
    try:
        for i in range(n):
            c = Client(ctx, port, i)
            c.register()
            clients.append(c)
        for c in clients:
            c.s.sendall(b"PRIVMSG #t :hello from %d\r\n" % c.i)
    except Exception as e:  # noqa: BLE001 - reported
        errs.append("setup: client %d: %s: %s" % (len(clients), type(e).__name__, e))
    ts = [threading.Thread(target=c.talk, args=(n, errs, oks)) for c in clients]
    for t in ts:
        t.start()
    for t in ts:
        t.join(TIMEOUT * 2)
    print("ok %d of %d" % (len(oks), n))
    for e in errs[:5]:
        print(e)
    sys.exit(0 if len(oks) == n else 1)


main()
