"""peerenv_spawner.py PORT OUTDIR — a server under the shim (accept rule)
that, for one TLS client, runs children that print their TLS_* and
REMOTE_* variables to files in OUTDIR (tests/preload/peerenv_spawn.sh):
with the connection inheritable on a descriptor above 2, through
os.posix_spawn (posix_spawn(3): the first exec completes the lazy
handshake), os.system (system(3): the session is pumped by now, the values
come from what was kept beside the pump) and popen(3) (through ctypes); its own environment
has forged values.  Then it answers the client "done" over the
connection.
"""
import ctypes, os, socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(1)
print("listening", flush=True)
c, peer = ls.accept()
print("peer_port=%d" % peer[1], flush=True)
fd = c.fileno()
os.set_inheritable(fd, True)
env = dict(os.environ, TLS_PEER_SUBJECT="CN=forged", REMOTE_ADDR="6.6.6.6", TLS_CIPHER="NULL")
os.environ.update(TLS_PEER_SUBJECT="CN=forged", REMOTE_ADDR="6.6.6.6", TLS_CIPHER="NULL")
dump = "env | grep -E '^(TLS_[A-Z0-9_]*|REMOTE_ADDR|REMOTE_PORT)=' | sort"
pid = os.posix_spawn("/bin/sh", ["sh", "-c", dump + " >%s/spawn.env" % out], env)
os.waitpid(pid, 0)
os.system(dump + " >%s/system.env" % out)
libc = ctypes.CDLL(None)
libc.popen.restype = ctypes.c_void_p
libc.popen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.pclose.argtypes = [ctypes.c_void_p]
fp = libc.popen((dump + " >%s/popen.env" % out).encode(), b"r")
libc.pclose(fp)
c.sendall(b"done\n")
c.shutdown(socket.SHUT_WR)
while c.recv(4096):
    pass
print("finished", flush=True)
