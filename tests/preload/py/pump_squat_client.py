"""A pump killed while its channel's end waits (tests/preload/pump_squat.sh).

    pump_squat_client.py PORT silent|refused=GO|cross   (run with the library)
    pump_squat_client.py --silent PORT                  (the silent server)
    pump_squat_client.py --wrong PORT CERT KEY GO       (the refused case's)

The program (this process, with the library) connects to 127.0.0.1:PORT,
which a connect rule makes TLS, without blocking, and at once (connect()
said EINPROGRESS, no handshake started: danted does this) passes the
socket with SCM_RIGHTS over a socketpair to a copy of itself started
without the library (the receiver), then waits for it.  The session goes
to a pump as a connect in progress: the receiver's end is SYN_SENT, its
peer the pump's listener on 127.254.0.1 (shim/pump.c, pending_channel).
The receiver prints what it sees:

  silent: the server reads the ClientHello and says nothing, so the pump
    waits in the handshake.  The receiver checks that its end is in
    progress ("pending revents none so_error 0"), finds the pump (the
    holder of the listener its end connects to), SIGKILLs it, starts a
    squatter as user 65534 (setpriv) that binds that address and port as
    soon as it is free and accepts ("squatter: bound", or "squatter:
    never bound"), then waits for its end's next SYN, sent while the
    squatter listened ("syn after bind": TCP_INFO's retransmits), and
    2 s more for a connection.  Connected: it writes SECRET, as a program
    would ("connected: sent SECRET"), and the squatter prints "squatter:
    accepted" and "squatter: got b'SECRET'".  Not: "not connected", then
    it lets the kernel give up at the next SYN (TCP_SYNCNT: the number
    sent so far; it gives up at 127 s otherwise) and prints "ended ERRNO".
  refused=GO: as silent, but the server's certificate names another host
    and it takes the ClientHello only once the file GO exists, which the
    receiver makes just after its end has sent a SYN again (the next one
    is 2 s or more away): the handshake fails, the pump waits for the
    end's refusal, and the receiver SIGKILLs it once its listener is gone
    ("listener gone"; "refused before the kill" if the refusal came
    first).  The rest as silent.
  cross: the server is a TLS echo server.  The receiver waits for its end
    to connect, sends "ping" and reads it back ("echo ok"), prints "md5
    keys N" (the keys come off once connected: 0), SIGKILLs the
    pump (the holder of its end's peer), and reads: "after kill EOF" or
    "after kill ERRNO", never "after kill timeout" (10 s).
"""
import errno
import glob
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
PUMP = "0100FE7F"       # 127.254.0.1 as /proc/net/tcp writes it
SECRET = b"SECRET"


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def name(e):
    return errno.errorcode.get(e, str(e)) if e else "0"


def tcp_rows():
    return [ln.split() for ln in open("/proc/net/tcp").read().splitlines()[1:]]


def holder(ino):
    """The process, other than this one, that holds socket inode ino."""
    for link in glob.glob("/proc/[0-9]*/fd/*"):
        pid = int(link.split("/")[2])
        if pid == os.getpid():
            continue
        try:
            if os.readlink(link) == "socket:[%s]" % ino:
                return pid
        except OSError:
            pass
    return None


def info(s):
    """(state, retransmits) from TCP_INFO."""
    b = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return b[0], b[2]


def md5_keys():
    """TCP sockets on 127.254.0.1 that carry a TCP-MD5 key (ss, as root)."""
    try:
        r = subprocess.run(["ss", "-Htnie", "src", "127.254.0.1"], capture_output=True, text=True,
                           timeout=10 * S)
    except (OSError, subprocess.TimeoutExpired):
        return -1
    return r.stdout.count("md5keys:")


def writable(s, ms):
    p = select.poll()
    p.register(s, select.POLLOUT)
    r = p.poll(ms)
    return r[0][1] if r else 0


def squatter(port):
    """As user 65534: bind 127.254.0.1:PORT as soon as it is free, listen,
    and report what comes, until standard input ends (60 s at most).
    SQUAT in the environment: "any", bound to 0.0.0.0 with SO_REUSEPORT
    and TCP_FASTOPEN; "v6", bound to [::], dual-stack (IPV6_V6ONLY 0)."""
    end = time.time() + 20 * S
    how = os.environ.get("SQUAT", "")
    while True:
        l = socket.socket(socket.AF_INET6 if how == "v6" else socket.AF_INET)
        l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if how == "any":
            l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            l.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 8)
        elif how == "v6":
            l.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            l.bind(("::" if how == "v6" else "0.0.0.0" if how == "any" else "127.254.0.1", port))
            l.listen(8)
            break
        except OSError:
            l.close()
            if time.time() > end:
                out("squatter: never bound")
                return
            time.sleep(0.01)
    out("squatter: bound")
    end = time.time() + 60 * S
    l.setblocking(False)
    while time.time() < end:
        r, _, _ = select.select([l, sys.stdin], [], [], 1)
        # (what came before the end of standard input first)
        while True:
            try:
                c, a = l.accept()
            except BlockingIOError:
                break
            out("squatter: accepted %s:%d" % a)
            c.settimeout(2 * S)
            try:
                out("squatter: got %r" % c.recv(100))
            except OSError as e:
                out("squatter: read %s" % e)
            c.close()
        if sys.stdin in r:
            return


def receive_silent(fd, go=None):
    rows = tcp_rows()
    ino = str(os.fstat(fd.fileno()).st_ino)
    me = [r for r in rows if r[9] == ino]
    if not me or me[0][3] != "02":
        out("not connecting: %s" % (me[0][3] if me else "no row"))
        return
    peer = me[0][2]
    listener = [r for r in rows if r[1] == peer and r[3] == "0A"]
    pump = holder(listener[0][9]) if listener else None
    if not peer.startswith(PUMP + ":") or not pump:
        out("no pump's listener at %s" % peer)
        return
    e = fd.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    out("pending revents %s so_error %s" % (writable(fd, 0) or "none", name(e)))
    port = int(peer.split(":")[1], 16)
    out("md5 keys %d" % md5_keys())
    if go:
        # refused: the handshake fails just after a SYN (the next is 2 s
        # or more away); the pump is killed once its listener is gone
        # (it waits for the refusal then)
        _, r0 = info(fd)
        end = time.time() + 20 * S
        while time.time() < end and info(fd)[1] == r0:
            time.sleep(0.01)
        open(go, "w").close()
        end = time.time() + 20 * S
        while (time.time() < end and not writable(fd, 0) and
               any(r[1] == peer and r[3] == "0A" for r in tcp_rows())):
            time.sleep(0.01)
        if writable(fd, 0):
            out("refused before the kill")
            return
        out("listener gone")
    os.kill(pump, signal.SIGKILL)
    out("pump killed")
    sq = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           sys.executable, os.path.abspath(__file__), "--squat", str(port)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = sq.stdout.readline().strip()
    if first == "squatter: bound":
        _, r0 = info(fd)
        end = time.time() + 20 * S
        while time.time() < end and info(fd)[1] == r0 and not writable(fd, 50):
            pass
        if info(fd)[1] != r0:
            out("syn after bind")
        rev = writable(fd, 2000)
        state, sent = info(fd)
        e = fd.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if rev & select.POLLOUT and not e and state == 1:
            fd.setblocking(True)
            fd.send(SECRET)
            out("connected: sent %s" % SECRET.decode())
        else:
            out("not connected: state %d so_error %s" % (state, name(e)))
            if not e:
                fd.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, max(sent, 1))
                writable(fd, int(70000 * S))
                e = fd.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            out("ended %s" % name(e))
    try:
        rest, _ = sq.communicate(input="", timeout=10 * S)
    except subprocess.TimeoutExpired:
        sq.kill()
        rest, _ = sq.communicate()
    for line in [first] + rest.splitlines():
        out(line)


def receive_cross(fd):
    if not writable(fd, int(20000 * S)) & select.POLLOUT:
        out("never connected")
        return
    e = fd.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if e:
        out("connect failed %s" % name(e))
        return
    fd.setblocking(True)
    fd.settimeout(10 * S)
    fd.sendall(b"ping\n")
    got = b""
    while len(got) < 5:
        d = fd.recv(16)
        if not d:
            break
        got += d
    out("echo ok" if got == b"ping\n" else "echo %r" % got)
    out("md5 keys %d" % md5_keys())
    rows = tcp_rows()
    ino = str(os.fstat(fd.fileno()).st_ino)
    me = [r for r in rows if r[9] == ino][0]
    other = [r[9] for r in rows if r[1] == me[2] and r[2] == me[1]]
    pump = holder(other[0]) if other else None
    if not pump:
        out("no pump found")
        return
    os.kill(pump, signal.SIGKILL)
    out("pump killed")
    fd.settimeout(10 * S)
    try:
        d = fd.recv(16)
        out("after kill EOF" if not d else "after kill data %r" % d)
    except socket.timeout:
        out("after kill timeout")
    except OSError as e:
        out("after kill %s" % name(e.errno))


def receiver(u, how):
    msg, anc, _, _ = u.recvmsg(1, socket.CMSG_SPACE(4))
    fds = [struct.unpack("i", d[:4])[0] for lv, t, d in anc
           if lv == socket.SOL_SOCKET and t == socket.SCM_RIGHTS]
    if not fds:
        out("no descriptor came")
        return 1
    fd = socket.socket(fileno=fds[0])
    if how == "silent":
        receive_silent(fd)
    elif how.startswith("refused="):
        receive_silent(fd, how[len("refused="):])
    else:
        receive_cross(fd)
    fd.close()
    return 0


def accept_one(port):
    """Listen on 127.0.0.1:PORT, say "ready", and return the first
    connection (30 s at most)."""
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", port))
    l.listen(1)
    out("ready")
    l.settimeout(30 * S)
    c, _ = l.accept()
    return c


def silent(port):
    """A server that reads the ClientHello and says nothing (60 s at most)."""
    c = accept_one(port)
    c.settimeout(60 * S)
    n = 0
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            n += len(d)
            out("silent: %d bytes" % n)
    except OSError:
        pass
    out("silent: end")


def wrong(port, cert, key, go):
    """A TLS server (CERT names another host) that takes the ClientHello
    only once GO exists (60 s at most)."""
    import ssl
    c = accept_one(port)
    end = time.time() + 60 * S
    while not os.path.exists(go) and time.time() < end:
        time.sleep(0.01)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    c.settimeout(30 * S)
    try:
        ctx.wrap_socket(c, server_side=True).recv(1)
    except (OSError, ssl.SSLError) as e:
        out("wrong: %s" % e)
    out("wrong: end")


def main():
    if sys.argv[1] == "--silent":
        silent(int(sys.argv[2]))
        return 0
    if sys.argv[1] == "--wrong":
        wrong(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
        return 0
    if sys.argv[1] == "--squat":
        squatter(int(sys.argv[2]))
        return 0
    if sys.argv[1] == "--receive":
        return receiver(socket.socket(fileno=int(sys.argv[2])), sys.argv[3])
    port, how = int(sys.argv[1]), sys.argv[2]
    a, b = socket.socketpair()
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--receive",
                              str(b.fileno()), how], pass_fds=[b.fileno()], env=env)
    b.close()
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    a.sendmsg([b"f"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", s.fileno()))])
    s.close()
    out("sender: passed")
    try:
        return child.wait(timeout=150 * S)
    except subprocess.TimeoutExpired:
        child.kill()
        return 3


sys.exit(main())
