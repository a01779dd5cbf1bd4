#!/usr/bin/env python3
"""mail_client.py — an IMAP or POP3 client for a mail server whose port
the shim makes TLS (tests/interop/dovecot.sh): TLS from the first byte
(implicit, verified against CA for "127.0.0.1", a name of the
test certificate; the server knows nothing
of TLS, so no STARTTLS/STLS), then a login and the first message fetched.

  mail_client.py imap|pop3 PORT CA USER PASSWORD

Prints "greeting LINE", then "login ok" or "login failed: WHY", then
"fetched BYTES SHA256" (the first message, its bytes as the server sent
them) and "logout ok".  Every socket has a 15 s timeout (x
TLSSHIM_TIME_SCALE).  Exit 0 when every step worked, 1 when the login (or
what follows) failed, 2 when even the greeting did not come over TLS.
"""
import hashlib
import imaplib
import os
import poplib
import sys
from strict_tls import strict_client_ctx

TIMEOUT = 15 * float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))


def imap(port, ctx, user, password):
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=TIMEOUT)
    print("greeting", m.welcome.decode(errors="replace").strip(), flush=True)
    try:
        m.login(user, password)
    except Exception as e:
        print("login failed:", type(e).__name__, e, flush=True)
        return 1
    print("login ok", flush=True)
    m.select("INBOX")
    typ, data = m.fetch("1", "(BODY[])")
    body = data[0][1]
    print("fetched", len(body), hashlib.sha256(body).hexdigest(), flush=True)
    m.logout()
    print("logout ok", flush=True)
    return 0


def pop3(port, ctx, user, password):
    p = poplib.POP3_SSL("127.0.0.1", port, context=ctx, timeout=TIMEOUT)
    print("greeting", p.getwelcome().decode(errors="replace").strip(), flush=True)
    try:
        p.user(user)
        p.pass_(password)
    except Exception as e:
        print("login failed:", type(e).__name__, e, flush=True)
        return 1
    print("login ok", flush=True)
    resp, lines, octets = p.retr(1)
    body = b"\r\n".join(lines) + b"\r\n"
    print("fetched", len(body), hashlib.sha256(body).hexdigest(), flush=True)
    p.quit()
    print("logout ok", flush=True)
    return 0


def main():
    proto, port, ca, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    ctx = strict_client_ctx(ca)
    try:
        return (imap if proto == "imap" else pop3)(port, ctx, user, password)
    except Exception as e:
        print("failed:", type(e).__name__, e, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
