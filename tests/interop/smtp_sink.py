#!/usr/bin/env python3
"""smtp_sink.py — a minimal SMTP server for tests/interop/exim.sh that
speaks SMTP inside TLS from the first byte (implicit TLS, as a relay made
TLS by tlsshim's connect rule expects), or in plain text with --plain.

  smtp_sink.py --port P [--cert C --key K | --plain] --out DIR
               [--count N] [--timeout S]

Serves N connections (default 1) one after the other, then exits.  Prints
"ready" once listening.  For each connection it appends to DIR/status:
  conn tls=TLSv1.3|plain
  mail from=<...> rcpt=<...>[,<...>] bytes=N
  quit | eof | error REASON
and writes each message (dot-unstuffed, CRLF kept) to DIR/msg.K.
Every socket operation has a timeout.
"""
import argparse
import os
import socket
import ssl
from strict_tls import strict_server_ctx, listener
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    ctx = None
    if not a.plain:
        ctx = strict_server_ctx(a.cert, a.key)
    ls = listener(a.port, 8, a.timeout)
    print("ready", flush=True)
    status = open(os.path.join(a.out, "status"), "a", buffering=1)
    nmsg = 0
    for _ in range(a.count):
        try:
            c, _addr = ls.accept()
        except socket.timeout:
            status.write("error accept timeout\n")
            return 1
        c.settimeout(a.timeout)
        try:
            if ctx:
                c = ctx.wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
                status.write("conn tls=%s\n" % c.version())
            else:
                status.write("conn tls=plain\n")
            f = c.makefile("rb")

            def send(line):
                c.sendall(line.encode() + b"\r\n")

            send("220 sink.test ESMTP tlsshim test sink")
            mail, rcpts = "", []
            while True:
                line = f.readline()
                if not line:
                    status.write("eof\n")
                    break
                cmd = line.decode(errors="replace").strip()
                verb = cmd.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    c.sendall(b"250-sink.test\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n")
                elif verb == "MAIL":
                    mail, rcpts = cmd[10:].split(" ")[0], []
                    send("250 OK")
                elif verb == "RCPT":
                    rcpts.append(cmd[8:].split(" ")[0])
                    send("250 Accepted")
                elif verb == "DATA":
                    send("354 Enter message, ending with \".\" on a line by itself")
                    body = []
                    while True:
                        l = f.readline()
                        if not l:
                            raise EOFError("eof in DATA")
                        if l == b".\r\n":
                            break
                        if l.startswith(b".."):
                            l = l[1:]
                        body.append(l)
                    data = b"".join(body)
                    nmsg += 1
                    with open(os.path.join(a.out, "msg.%d" % nmsg), "wb") as m:
                        m.write(data)
                    status.write("mail from=%s rcpt=%s bytes=%d\n" % (mail, ",".join(rcpts), len(data)))
                    send("250 OK id=sink%d" % nmsg)
                elif verb == "RSET":
                    send("250 Reset OK")
                elif verb == "NOOP":
                    send("250 OK")
                elif verb == "QUIT":
                    send("221 sink.test closing connection")
                    status.write("quit\n")
                    break
                else:
                    send("500 unrecognized command")
            if ctx:
                try:
                    c.unwrap()
                except (ssl.SSLError, OSError):
                    pass
        except (ssl.SSLError, OSError, EOFError) as e:
            status.write("error %s %s\n" % (type(e).__name__, e))
        finally:
            try:
                c.close()
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
