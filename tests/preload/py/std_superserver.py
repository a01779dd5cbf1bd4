"""std_superserver.py PORT READ PROG LIB POLICY LOG [BIND] — an inetd that
does not run the library (tests/preload/adopt_std.sh): accept one
connection on BIND:PORT (default 127.0.0.1; its listener is closed
before the exec, as a one-shot super-server's), read READ bytes of it first (0: none, as inetd; 1: a
server that sniffs the protocol), put it on fds 0 and 1, and exec PROG
with LD_PRELOAD=LIB and TLSSHIM_CONFIG=POLICY added to the environment,
so only the service adopts the socket, at its start-up.  Prints "ready"
once listening; gives up after 20 s (x TLSSHIM_TIME_SCALE) without one.
"""
import os, socket, sys
S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))
port, nread, prog, lib, pol, log = sys.argv[1:7]
bind = sys.argv[7] if len(sys.argv) > 7 else "127.0.0.1"
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((bind, int(port)))
ls.listen(4)
ls.settimeout(20 * S)
print("ready", flush=True)
c, _ = ls.accept()
c.settimeout(10 * S)
if int(nread):
    c.recv(int(nread))
c.setblocking(True)     # the timeout made it non-blocking: stdio wants it blocking
fd = c.detach()
os.dup2(fd, 0)
os.dup2(fd, 1)
os.close(fd)
ls.close()
env = dict(os.environ, LD_PRELOAD=lib, TLSSHIM_CONFIG=pol, TLSSHIM_LOG="info", TLSSHIM_LOG_FILE=log)
os.execve(prog, [prog], env)
