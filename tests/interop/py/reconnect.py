"""reconnect.py HOST PORT COUNT TEXT [fork] — a plain TCP client (no TLS: the shim
adds it) that connects COUNT times in a row from the same process, each
time sends TEXT and a newline, reads until a newline comes back, prints
that line and closes.  Exit 2 when a connect fails, 3 when a reply is
missing.  For tests/interop/resume.sh: the second connection of one
process resumes the first one's session.
"""
import os, socket, sys
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
host, port, count, text = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
do_fork = len(sys.argv) > 5 and sys.argv[5] == "fork"
for i in range(count):
    if do_fork and i == 1:
        pid = os.fork()
        if pid:
            _, st = os.waitpid(pid, 0)
            sys.exit(os.waitstatus_to_exitcode(st))
    try:
        s = socket.create_connection((host, port), timeout=20 * S)
    except OSError as e:
        print("reconnect: connect %d: %s" % (i + 1, e.strerror or e), file=sys.stderr)
        sys.exit(2)
    try:
        s.sendall(text.encode() + b"\n")
        got = b""
        while not got.endswith(b"\n"):
            b = s.recv(4096)
            if not b:
                break
            got += b
    except OSError as e:
        print("reconnect: %d: %s" % (i + 1, e.strerror or e), file=sys.stderr)
        sys.exit(3)
    s.close()
    if not got.endswith(b"\n"):
        print("reconnect: %d: no reply" % (i + 1), file=sys.stderr)
        sys.exit(3)
    sys.stdout.write(got.decode(errors="replace"))
    sys.stdout.flush()
