"""Run under the shim with a connect rule for PORT: fork must give the
child a wake-up eventfd of its own (shim/wait.c).

The script listens on 127.0.0.1:PORT itself and never answers.  The parent
connects there: the TLS handshake waits inside the shim for a ServerHello
that never comes (until the rule's handshake_timeout_ms), which makes the
thread's wake-up eventfd.  Then fork; the child does the same (it waits
too) and reports the eventfds it holds.  Eventfds are told apart by the
kernel's eventfd-id (/proc/PID/fdinfo).

usage: fork_evfd_client.py PORT
prints: "parent ID..." and "child ID..." (eventfd-ids, one line each);
"no-id" for an eventfd without one (an older kernel).
"""
import os
import socket
import sys


def evfd_ids():
    ids = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink("/proc/self/fd/" + fd) != "anon_inode:[eventfd]":
                continue
            with open("/proc/self/fdinfo/" + fd) as f:
                for line in f:
                    if line.startswith("eventfd-id:"):
                        ids.append(line.split()[1])
                        break
                else:
                    ids.append("no-id")
        except OSError:
            pass
    return sorted(ids)


def wait_once(port):
    # A blocking connect: the shim's handshake waits for the ServerHello
    # until the rule's handshake_timeout_ms, then the connect fails.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.connect(("127.0.0.1", port))
        s.recv(100)
    except OSError:
        pass
    s.close()


def main():
    port = int(sys.argv[1])
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(8)
    wait_once(port)
    print("parent " + " ".join(evfd_ids()), flush=True)
    pid = os.fork()
    if pid == 0:
        wait_once(port)
        print("child " + " ".join(evfd_ids()), flush=True)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return 0 if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else 1


sys.exit(main())
