#!/usr/bin/env python3
"""irc_clients.py — IRC clients over TLS (tests/interop/ngircd.sh): N
clients, verified against CA for "localhost", connect one after the
other and register (NICK, USER: each waits for the welcome, 001), join
the channel #t (each waits for the end of the names list, 366); then each
sends one PRIVMSG to #t, and each must receive the N-1 messages of the
others, exact; then each sends QUIT and reads to the end (the server
closes: a clean TLS close).

  irc_clients.py PORT CA N
  irc_clients.py PORT CA N at-once

at-once: the N clients connect at the same time (the server's forks
meet handshakes under way), each registers, quits and reads to the end.

Prints "ok K of N" and the first errors; exit 0 when all N worked
(fanout.py).
"""
import sys

import fanout


class Client:
    def __init__(self, ctx, port, i):
        self.s = fanout.connect(ctx, port)
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

    def quit(self):
        self.s.sendall(b"QUIT :bye\r\n")
        while self.s.recv(65536):
            pass
        self.s.close()

    def talk(self, n):
        want = {b"hello from %d" % j for j in range(n) if j != self.i}
        mine = {g.split(b" :", 1)[1] for g in self.got if b" :" in g}
        while not want <= mine:
            parts = self.line().split(b" ", 3)
            if len(parts) == 4 and parts[1] == b"PRIVMSG":
                mine.add(parts[3][1:])
        self.quit()


def main():
    port, ca, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    ctx = fanout.context(ca)
    if sys.argv[4:] == ["at-once"]:
        def one(i):
            c = Client(ctx, port, i)
            c.s.sendall(b"NICK n%d\r\nUSER u%d 0 * :client %d\r\n" % (i, i, i))
            c.until(b"001")
            c.quit()
        fanout.run(n, one)
    clients = []
    try:
        for i in range(n):
            c = Client(ctx, port, i)
            c.register()
            clients.append(c)
        for c in clients:
            c.s.sendall(b"PRIVMSG #t :hello from %d\r\n" % c.i)
    except Exception as e:  # noqa: BLE001 - reported
        fanout.finish(0, n, ["setup: client %d: %s: %s" % (len(clients), type(e).__name__, e)])
    fanout.run(n, lambda i: clients[i].talk(n))


main()
