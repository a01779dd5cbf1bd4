"""connect_exec.py PORT OUT — a client under the shim (connect rule) that
connects to 127.0.0.1:PORT, sends "hi", and with the connection inheritable
runs a child that writes its TLS_* and REMOTE_* variables to OUT (sorted);
its own environment has a forged TLS_PEER_SUBJECT.  Prints "done"
(tests/preload/peerenv_spawn.sh: the exec'd program of a connection made
out, with verify = "none" and "full")."""
import os, socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
s.sendall(b"hi\n")
os.set_inheritable(s.fileno(), True)
os.environ["TLS_PEER_SUBJECT"] = "CN=forged"
os.system("env | grep -E '^(TLS_[A-Z0-9_]*|REMOTE_ADDR|REMOTE_PORT)=' | sort >%s" % out)
print("done", flush=True)
