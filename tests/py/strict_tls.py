"""strict_tls — the TLS set-up every Python test peer shares.

Debian 12's Python 3.11.2 sets ssl.OP_IGNORE_UNEXPECTED_EOF on every
context: a TCP end without close_notify then reads as a clean end of file
(and even "unwrap ok"), so a peer would take a library that ends its
sessions with a bare FIN for a correct one.  Every context made here
clears it: a bare FIN is a truncation (ssl.SSLEOFError, or an SSLError
whose reason is UNEXPECTED_EOF_WHILE_READING: see truncated()).  Make
every test context with strict_server_ctx() or strict_client_ctx(), or
pass one made another way through strict().

tests/lib.sh puts this directory on PYTHONPATH; a peer run by hand needs
PYTHONPATH=tests/py too.

ssl is imported by the functions that use it, not at the top: a peer in a
mode without TLS (a relay, a raw client, a capture check) takes listener()
from here without loading ssl, about 30 ms of CPU per start.
"""
import socket


def strict(ctx):
    """Clear OP_IGNORE_UNEXPECTED_EOF on CTX (a bare FIN is a truncation);
    CTX again."""
    import ssl
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    return ctx


def _versions(ctx, minv, maxv):
    if minv is not None:
        ctx.minimum_version = minv
    if maxv is not None:
        ctx.maximum_version = maxv


def strict_server_ctx(cert=None, key=None, *, tickets=None, minv=None, maxv=None):
    """A strict ssl.PROTOCOL_TLS_SERVER context with CERT/KEY loaded (when
    CERT is given); TICKETS: its num_tickets; MINV/MAXV: an
    ssl.TLSVersion for its minimum_version/maximum_version."""
    import ssl
    ctx = strict(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    if cert:
        ctx.load_cert_chain(cert, key)
    if tickets is not None:
        ctx.num_tickets = tickets
    _versions(ctx, minv, maxv)
    return ctx


def strict_client_ctx(ca=None, cert=None, key=None, *, bare=False, minv=None, maxv=None):
    """A strict client context that verifies the server: by default
    ssl.create_default_context(cafile=CA) (no CA: the system's roots);
    BARE: a plain ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) that trusts CA
    alone (nothing without CA), reads no SSLKEYLOGFILE and takes none of a
    newer Python's default verify flags.  CERT/KEY: a client certificate.
    MINV/MAXV as for strict_server_ctx()."""
    import ssl
    if bare:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if ca:
            ctx.load_verify_locations(ca)
    else:
        ctx = ssl.create_default_context(cafile=ca)
    strict(ctx)
    if cert:
        ctx.load_cert_chain(cert, key)
    _versions(ctx, minv, maxv)
    return ctx


def listener(port, backlog, timeout=None, host="127.0.0.1", family=socket.AF_INET):
    """A TCP socket listening on HOST:PORT (SO_REUSEADDR) with BACKLOG;
    TIMEOUT: its accept() time limit."""
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(backlog)
    if timeout is not None:
        ls.settimeout(timeout)
    return ls


def connect(ctx, port, timeout, host="127.0.0.1", name="localhost"):
    """A TLS connection with CTX to HOST:PORT (TCP connect and handshake
    each within TIMEOUT), verified for NAME; a bare FIN from the server
    raises (suppress_ragged_eofs=False)."""
    return ctx.wrap_socket(socket.create_connection((host, port), timeout=timeout),
                           server_hostname=name, suppress_ragged_eofs=False)


def truncated(e):
    """A TCP end without close_notify: ssl.SSLEOFError, or (Debian 12's
    Python 3.11.2) an SSLError whose reason is UNEXPECTED_EOF_WHILE_READING."""
    import ssl
    return isinstance(e, ssl.SSLEOFError) or getattr(e, "reason", None) == "UNEXPECTED_EOF_WHILE_READING"
