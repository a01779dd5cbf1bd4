#!/usr/bin/env python3
"""ftps_client.py — an FTP client for a server whose connections the shim
makes TLS (tests/interop/vsftpd.sh): TLS from the first byte on the
control connection (implicit, verified against CA for "localhost") and on
every passive data connection, which the client starts by itself (the
server knows nothing of TLS: no AUTH, PBSZ or PROT).  A data connection's
handshake starts only after the command that uses it has been sent: the
server accepts the connection only then (libtlsshim(7), LIMITATIONS).

  ftps_client.py PORT CA NAME ROUNDS OUT

Logs in anonymously, lists the directory (prints "list NAMES"), then
downloads NAME ROUNDS times into OUT.1 ... OUT.ROUNDS (prints "retr I
BYTES" each), and quits ("quit 221", then close_notify).  Every socket has a 15 s timeout
(x TLSSHIM_TIME_SCALE).  Exit 0 when every step worked.
"""
import ftplib
import os
import socket
import ssl
from strict_tls import strict_client_ctx
import sys

TIMEOUT = 15 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))


class ImplicitTLS(ftplib.FTP):
    def __init__(self, ctx):
        super().__init__(timeout=TIMEOUT)
        self.ctx = ctx

    def connect(self, host="", port=0, timeout=-999, source_address=None):
        self.host, self.port = host, port
        raw = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock = self.ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def ntransfercmd(self, cmd, rest=None):
        host, port = self.makepasv()
        conn = socket.create_connection((host, port), timeout=TIMEOUT)
        try:
            resp = self.sendcmd(cmd)
            if resp[0] != "1":
                raise ftplib.error_reply(resp)
            return self.ctx.wrap_socket(conn, server_hostname="localhost", suppress_ragged_eofs=False), None
        except BaseException:
            conn.close()
            raise


def main():
    port, ca, name, rounds, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    ctx = strict_client_ctx(ca)
    f = ImplicitTLS(ctx)
    print("welcome", f.connect("127.0.0.1", port), flush=True)
    print("login", f.login(), flush=True)
    print("list", " ".join(sorted(f.nlst())), flush=True)
    for i in range(1, rounds + 1):
        buf = bytearray()
        f.retrbinary("RETR " + name, buf.extend)
        with open("%s.%d" % (out, i), "wb") as o:
            o.write(buf)
        print("retr", i, len(buf), flush=True)
    # ftplib's quit() closes the control connection without close_notify
    # (a truncation, in the server's log): QUIT, then our close_notify.
    resp = f.sendcmd("QUIT")
    try:
        f.sock.unwrap()
    except (OSError, ValueError):
        pass
    f.close()
    print("quit", resp[:3], flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - reported, exit 1
        print("error", type(e).__name__, e, flush=True)
        sys.exit(1)
