"""MPTCP connections whose first subflow is reset while a second carries on
(tests/preload/mptcp.sh).  TCP_INFO on an MPTCP socket describes the first
subflow only: TCP_CLOSE and zero counters once it is gone.

  mptcp_subflow.py server ADDR PORT DIR: an MPTCP listener (no shim); one
    connection: says "hi" (the client becomes fully established and opens
    its second subflow), waits for that subflow, resets the first one
    (ss -K: the adversary on the path), writes DIR/killed, and prints what
    the client sends next ("got plaintext" or "got tls").
  mptcp_subflow.py client ADDR PORT DIR: (under the shim, a connect rule
    names ADDR:PORT) a non-blocking MPTCP connect; once DIR/killed exists,
    connect() again, twice (the idiom that asks how a non-blocking connect
    went until it says EISCONN), then a secret line: it must leave as TLS.
  mptcp_subflow.py used ADDR PORT LOG: (no shim) the client of an MPTCP
    connection sends a byte, the server reads it, the first subflow is
    reset, and the
    accepted socket goes to a program under the shim (fd 3; the library
    from MPTCP_PRELOAD, TLSSHIM_CONFIG from the environment, log to LOG)
    after the client closed (its DATA_FIN: SIOCINQ says 1 byte unread when
    none is): it already carried a byte, so it must be
    refused, not adopted; prints the child's answer.
  mptcp_subflow.py echo ADDR PORT DIR: (under the shim, an accept rule and
    a connect rule name ADDR:PORT) a TLS echo over MPTCP in one process: a
    line; once the second subflow is up, prints "reset SRC DST" (the first
    subflow, for the script's ss -K) and waits for DIR/killed; then 100 KB
    over the second; prints "echo ok" (the wire audit places both
    subflows' bytes).  With a fifth argument "plain" (no shim): a
    TLS-shaped record, then plain text over the second subflow.
  mptcp_subflow.py fallback ADDR PORT LOG [read1]: (no shim) an MPTCP client
    connects to a plain TCP listener (the connection falls back to TCP:
    SOL_MPTCP answers EOPNOTSUPP on IPv4, ENOPROTOOPT on IPv6; SIOCOUTQ
    says 1 before any data); with "read1" the server sends "abc" and
    closes, the client reads one byte (SIOCINQ counts the FIN: 3 for the
    2 unread); the client socket goes to a program under the shim as in
    "used" (a connect rule names ADDR:PORT); prints "child: done".
"""
import errno, os, socket, struct, subprocess, sys, time

MPTCP, SOL_MPTCP, MPTCP_INFO = 262, 284, 1
mode, addr, port, arg = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def subflows(s):
    return s.getsockopt(SOL_MPTCP, MPTCP_INFO, 96)[0]


def until(cond, what, limit=10.0):
    end = time.monotonic() + limit
    while not cond():
        if time.monotonic() > end:
            print("timeout:", what, flush=True)
            sys.exit(2)
        time.sleep(0.01)


def reset_first(a):
    """Reset the first subflow of socket a (its addresses are the first
    subflow's) once a second one is up."""
    until(lambda: subflows(a) >= 1, "second subflow")
    (la, lp), (pa, pp) = a.getsockname()[:2], a.getpeername()[:2]
    subprocess.run(["ss", "-K", "-tn", "src", "%s:%d" % (la, lp), "dst", "%s:%d" % (pa, pp)],
                   stdout=subprocess.DEVNULL, check=True)
    info = lambda: a.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    until(lambda: info() == 7, "first subflow closed")


def listener():
    l = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM, MPTCP)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port))
    l.listen(4)
    return l


if mode == "server":
    l = listener()
    print("ready", flush=True)
    a, _ = l.accept()
    a.sendall(b"hi")
    reset_first(a)
    open(os.path.join(arg, "killed"), "w").close()
    a.settimeout(10)
    data = a.recv(4096)
    print("got", "plaintext" if b"SECRET" in data else "tls" if data[:1] == b"\x16" else repr(data[:16]),
          flush=True)
elif mode == "echo":
    import threading
    l = listener()

    def serve():
        a, _ = l.accept()
        while True:
            b = a.recv(65536)
            if not b:
                break
            a.sendall(b)
        a.close()

    threading.Thread(target=serve, daemon=True).start()
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM, MPTCP)
    c.settimeout(10)
    c.connect((addr, port))

    def echo(data):
        c.sendall(data)
        got = b""
        while len(got) < len(data):
            b = c.recv(65536)
            if not b:
                break
            got += b
        return got == data

    # plain (no shim, tests/infra/wireaudit.sh): a TLS-shaped record first,
    # then plain text over the second subflow, for the audit to find there
    plain = sys.argv[5:] == ["plain"]
    first = echo(b"\x16\x03\x03\x00\x04abcd" if plain else b"one\n")
    # (ss from the script: a fork here would hand the sessions to pumps)
    until(lambda: subflows(c) >= 1, "second subflow")
    print("reset %s:%d %s:%d" % (c.getsockname()[:2] + c.getpeername()[:2]), flush=True)
    until(lambda: os.path.exists(os.path.join(arg, "killed")), "the reset")
    more = b"plain text after the reset\n" * 4000 if plain else os.urandom(100000)
    print("echo ok" if first and echo(more) else "echo failed", flush=True)
    c.close()
elif mode == "client":
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM, MPTCP)
    c.setblocking(False)
    print("connect:", errno.errorcode.get(c.connect_ex((addr, port)), "ok"), flush=True)
    until(lambda: os.path.exists(os.path.join(arg, "killed")), "the reset")
    # 0 the first time after a non-blocking connect completed, EISCONN after
    # 0 the first time after a non-blocking connect completed, EISCONN after
    for i in range(2):
        print("again:", errno.errorcode.get(c.connect_ex((addr, port)), "ok"), flush=True)
    c.setblocking(True)
    c.settimeout(10)
    try:
        c.sendall(b"SECRET line\n")
        print("sent", flush=True)
    except OSError as e:
        print("send:", errno.errorcode.get(e.errno, e), flush=True)
elif mode in ("used", "fallback"):
    if mode == "fallback":
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        l = socket.socket(fam, socket.SOCK_STREAM)
        l.bind((addr, port))
        l.listen(1)
        a = socket.socket(fam, socket.SOCK_STREAM, MPTCP)
        a.connect((addr, port))
        peer, _ = l.accept()
        if sys.argv[5:] == ["read1"]:
            peer.sendall(b"abc")
            peer.shutdown(socket.SHUT_WR)
            a.settimeout(10)
            a.recv(1, socket.MSG_PEEK)
            until(lambda: a.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == 8, "the FIN")
            a.recv(1)
    else:
        l = listener()
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM, MPTCP)
        c.connect((addr, port))
        a, _ = l.accept()
        c.sendall(b"x")
        a.recv(1)
        reset_first(a)
        c.close()
    env = dict(os.environ, LD_PRELOAD=os.environ["MPTCP_PRELOAD"], TLSSHIM_LOG_FILE=arg, TLSSHIM_LOG="info")
    code = "import os\ntry:\n    os.write(3, b'z'); print('child: wrote')\nexcept OSError as e:\n" \
           "    print('child:', os.strerror(e.errno))\n"
    if mode == "fallback":
        code = "print('child: done')\n"
    if a.fileno() != 3:
        os.dup2(a.fileno(), 3)
    r = subprocess.run([sys.executable, "-c", code], pass_fds=(3,), env=env, timeout=20,
                       stdout=subprocess.PIPE, text=True)
    print(r.stdout.strip(), flush=True)
