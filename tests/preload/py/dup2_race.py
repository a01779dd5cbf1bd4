"""dup2_race.py PORT PLAIN REFUSED MODE — under the library, with
preload_dup2race.so after it (tests/preload/dup2_race.sh): a TLS
connection to PORT (a TLS echo server; a connect rule names it), the
handshake done and a line echoed, then one more call that would connect
the number again to PLAIN (a plain rule names it), with
TLSSHIM_TEST_DUP2_RACE set: the race maker puts a fresh non-blocking TCP
socket at the number (dup2, as another thread of the program would)
just after the library's look at IP_OPTIONS, before its connect() with
the multicast host (shim/connect.c, nowhere_len).  MODE: WHERE_KIND,
WHERE one of
  again:    connect() on the TLS number itself (again());
  pumped:   a fork, the child's connect() on the pumped number
            (pumped_connect);
  fastopen: a fork, the child's sendto(MSG_FASTOPEN) there
            (shim_pumped_fastopen);
and KIND srr (the fresh socket carries a loose source route via
127.0.0.1: tcp_v4_connect routes it by the hop, past the multicast host)
or plain (none), or opt (no fresh socket: the end itself is given the
source route, setsockopt(IP_OPTIONS), just after the look, and
preload_unspecrace.so disconnects it just after the library's look at
its TCP state: the kernel routed the multicast host by the hop).
Prints "call ERROR" (or "call ok"), then "state N":
the TCP state of the socket now at the number (2: SYN_SENT, 7: CLOSE).
MODE session, afresh, bound: a fresh socket's connect() to PORT, and the
race maker puts the TLS connection at its number (dup2(), TLSSHIM_TEST_
DUP2_AT) inside the library's connect():
  session: just before the kernel's connect (the new session placed);
  afresh:  the fresh socket's connect to REFUSED (a tls rule, nothing
           listens) refused first, before its handshake started; the
           dup2 just after again()'s look (getpeername) found it failed;
  bound:   to 0.0.0.0, the dup2 just after shim_dest_bound's
           getsockname, before the new session is placed.
Prints "call ERROR" (or "call ok"), then "echo LINE": what a line
written on the number brought back (the session's echo, "after")."""
import errno
import os
import select
import socket
import sys

port, plain, refused, how = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
where, kind = (how.split("_") + [""])[:2]
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))

s = socket.socket()
s.settimeout(10 * S)
s.connect(("127.0.0.1", port))
s.sendall(b"hello\n")
s.recv(100)
if where in ("session", "afresh", "bound"):
    # (a connect() once more: the kernel's SS_CONNECTED, EISCONN from here
    # on, where a non-blocking connect that completed says 0 first)
    s.connect_ex(("127.0.0.1", port))
    t = socket.socket()
    t.setblocking(False)
    if where == "afresh":
        # refused before its handshake started: CLOSE, connect()ed afresh
        t.connect_ex(("127.0.0.1", refused))
        select.select([], [t], [], 10 * S)
    at = {"session": "connect", "afresh": "getpeername", "bound": "getsockname"}[where]
    os.environ["TLSSHIM_TEST_DUP2_AT"] = "%s:%d:%d" % (at, s.fileno(), t.fileno())
    try:
        t.connect(("0.0.0.0" if where == "bound" else "127.0.0.1", port))
        print("call ok", flush=True)
    except OSError as e:
        print("call %s" % errno.errorcode.get(e.errno, e.errno), flush=True)
    del os.environ["TLSSHIM_TEST_DUP2_AT"]
    t.settimeout(10 * S)
    t.sendall(b"after\n")
    print("echo %s" % t.recv(100).decode(errors="replace").strip(), flush=True)
    sys.exit(0)
pid = os.fork() if where != "again" else 0
if pid == 0:
    s.setblocking(False)
    os.environ["TLSSHIM_TEST_DUP2_RACE"] = "%s:%d" % (kind, s.fileno())
    if kind == "opt":
        os.environ["TLSSHIM_TEST_UNSPEC_RACE"] = "1"
    try:
        if where == "fastopen":
            s.sendto(b"secret plaintext\n", socket.MSG_FASTOPEN, ("127.0.0.1", plain))
        else:
            s.connect(("127.0.0.1", plain))
        print("call ok", flush=True)
    except OSError as e:
        print("call %s" % errno.errorcode.get(e.errno, e.errno), flush=True)
    del os.environ["TLSSHIM_TEST_DUP2_RACE"]
    print("state %d" % s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0], flush=True)
    if where != "again":
        os._exit(0)
    sys.exit(0)
_, st = os.waitpid(pid, 0)
sys.exit(os.WEXITSTATUS(st))
