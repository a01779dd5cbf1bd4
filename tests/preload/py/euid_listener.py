"""A TLS listening socket passed on by root whose effective uid is not its
real one, or after a change of working directory or of mounts
(tests/preload/exec.sh).

    euid_listener.py exec PORT    listen on 127.0.0.1:PORT (inheritable), set
                                  the effective uid to 65534, execv() itself
                                  with the fd: the kernel runs the new image in
                                  secure-execution mode
    euid_listener.py spawn PORT   the same, but posix_spawn(resetids=True) of
                                  itself: the child's effective uid is its real
                                  one (0) again before its exec; waits for it
    euid_listener.py chdir PORT DIR   listen as above, chdir(DIR), execv()
                                  itself with the fd and the environment as it
                                  is (a relative TLSSHIM_CONFIG now names
                                  DIR's file)
    euid_listener.py mount PORT SRC DST   listen as above, then in a mount
                                  namespace of its own bind-mount SRC over DST,
                                  and execv() itself with the fd
    euid_listener.py bound PORT   bind 127.0.0.1:PORT without listening, then
                                  execve() itself without LD_PRELOAD: the new
                                  image listens ("listening here") and serves
    euid_listener.py serve FD [listen]   (listen on FD first, then)
                                  accept one connection on FD, read a line,
                                  write it back

Prints "listening" once the socket listens, then the new image "served" or
"serve failed: ...".
"""
import os, socket, sys

mode, arg = sys.argv[1], int(sys.argv[2])
if mode == "serve":
    try:
        ls = socket.socket(fileno=arg)
        if sys.argv[3:] == ["listen"]:
            ls.listen(4)
            print("listening here", flush=True)
        ls.settimeout(20)
        c, _ = ls.accept()
        c.settimeout(20)
        got = b""
        while not got.endswith(b"\n"):
            b = c.recv(4096)
            if not b:
                break
            got += b
        c.sendall(got)
        c.close()
        print("served", flush=True)
    except OSError as e:
        print("serve failed:", e, flush=True)
    sys.exit(0)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", arg))
argv = [sys.executable, os.path.abspath(__file__), "serve", str(ls.fileno())]
ls.set_inheritable(True)
if mode == "bound":
    print("bound", flush=True)
    os.execve(sys.executable, argv + ["listen"],
              {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
ls.listen(4)
print("listening", flush=True)
if mode == "chdir":
    os.chdir(sys.argv[3])
    os.execv(sys.executable, argv)
if mode == "mount":
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x20000, 4096, 16384, 1 << 18
    if (libc.unshare(CLONE_NEWNS) != 0 or libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0 or
            libc.mount(sys.argv[3].encode(), sys.argv[4].encode(), None, MS_BIND, None) != 0):
        print("mount failed:", os.strerror(ctypes.get_errno()), flush=True)
        sys.exit(1)
    os.execv(sys.executable, argv)
os.seteuid(65534)
if mode == "exec":
    os.execv(sys.executable, argv)
pid = os.posix_spawn(sys.executable, argv, os.environ, resetids=True)
os.waitpid(pid, 0)
