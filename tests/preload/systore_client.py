"""A plain TCP client for tests/preload/systore.sh, run under the shim (a
connect rule on the system trust store): it knows nothing about TLS.

    systore_client.py MODE GOFILE PORT [PORT2]

Prints "ready" once the library has loaded the policy (it is running),
waits (at most 50 s) for GOFILE to exist, then:
  one    connects to PORT, sends a line, prints "reply one: LINE" (the
         echo) or "error one: REASON";
  race   two threads, released at the same moment by a barrier, connect
         to PORT and to PORT2: "reply a: ..." and "reply b: ..." (their
         handshakes verify the servers at the same time, each the first
         verification of its thread);
  fork   forks before any connection: the child connects to PORT
         ("reply child: ..."), exits, then the parent to PORT2 ("reply
         parent: ...");
  emfile the first connection to PORT with no descriptor left (the
         soft RLIMIT_NOFILE lowered, every number under it taken, one
         freed for the socket): "emfile: ..." as "one"; then the
         numbers freed and the limit put back, a second connection to
         PORT2: "reply again: ..." or "error again: ...";
  nobody drops its privileges (setgroups, setgid, setuid to 65534)
         before the first connection, to PORT, whose store's file only
         root may read: "reply nobody: ..." or "error nobody: ...";
  setenv connects to PORT ("reply first: ..."), then sets what
         SYSTORE_SET names ("NAME=VALUE;NAME=VALUE": the program's own
         setenv(), here SSL_CERT_FILE or SSL_CERT_DIR to an attacker's
         CA) and renames SYSTORE_RELOAD.new over SYSTORE_RELOAD (the
         rule's crl: a reload, at the next handshake), then connects to
         PORT2: "reply after: ..." or "error after: ...";
  clearenv
         the same, with the C library's clearenv() instead of a set;
  exec   execs itself in mode "one" on PORT, with an environment of the
         variables SYSTORE_EXEC_KEEP names (space-separated: the
         library's own) and those SYSTORE_SET sets, nothing else;
  many   three connections to PORT, one after another: "reply manyN:
         ..." or "error manyN: ..." (N 1 to 3);
  torn   connects to PORT ("reply torn1: ..." or "error torn1: ..."),
         says "waiting", waits (at most 50 s) for GOFILE.2, then
         connects to PORT2 (tag torn2);
  flip   the store's file (SYSTORE_FLIP names it, a copy of the CA
         file) flapping: SYSTORE_FLIPS times (default 12) it is removed
         (missing) or made a directory in its place, by turns, and a
         connection to PORT made ("error flipN: ..." or "reply flipN:
         ..."); then the copy renamed back over it and a last connection
         to PORT2 ("reply back: ..." or "error back: ...");
  landlock
         puts on a Landlock domain refusing every file read (a ruleset
         handling LANDLOCK_ACCESS_FS_READ_FILE, no rule), through the C
         library's syscall() as a program would, then connects to PORT
         ("landlocked", then as "one" with the tag "landlock"); "no
         landlock" when the kernel has none.
"""
import os
import resource
import socket
import sys
import threading
import time

mode, gofile, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
port2 = int(sys.argv[4]) if len(sys.argv) > 4 else port


out = threading.Lock()


def say(line):
    with out:  # (print writes the line and its newline apart: threads interleaved them)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def one(tag, p, barrier=None):
    try:
        if barrier:
            barrier.wait(20)
        s = socket.create_connection(("127.0.0.1", p), timeout=20)
        s.sendall(b"hello-" + tag.encode() + b"\n")
        got = b""
        while not got.endswith(b"\n"):
            d = s.recv(4096)
            if not d:
                break
            got += d
        s.close()
        say("reply %s: %s" % (tag, got.decode(errors="replace").strip()))
    except Exception as e:  # what the program sees when the shim refuses
        say("error %s: %s" % (tag, e))


# (read before the program may clear its environment)
reload_path = os.environ.get("SYSTORE_RELOAD", "")
print("ready", flush=True)
deadline = time.monotonic() + 50
while not os.path.exists(gofile):
    if time.monotonic() > deadline:
        print("error: no go", flush=True)
        sys.exit(1)
    time.sleep(0.01)
if mode == "one":
    one("one", port)
elif mode == "race":
    b = threading.Barrier(2)
    ts = [threading.Thread(target=one, args=(t, p, b)) for t, p in (("a", port), ("b", port2))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(40)
elif mode == "fork":
    pid = os.fork()
    if pid == 0:
        one("child", port)
        os._exit(0)
    os.waitpid(pid, 0)
    one("parent", port2)
elif mode == "emfile":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    held = []
    try:
        while len(held) < 64:
            held.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
    os.close(held.pop())  # the socket's number: nothing else is free
    one("emfile", port)
    for fd in held:
        os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    one("again", port2)
elif mode == "nobody":
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    one("nobody", port)
elif mode == "many":
    for n in (1, 2, 3):
        one("many%d" % n, port)
elif mode == "torn":
    one("torn1", port)
    say("waiting")
    deadline = time.monotonic() + 50
    while not os.path.exists(gofile + ".2"):
        if time.monotonic() > deadline:
            say("error: no second go")
            sys.exit(1)
        time.sleep(0.01)
    one("torn2", port2)
elif mode in ("setenv", "clearenv"):
    one("first", port)
    if mode == "clearenv":
        import ctypes
        if ctypes.CDLL(None).clearenv() != 0:
            say("error: clearenv")
    else:
        for kv in os.environ["SYSTORE_SET"].split(";"):
            k, v = kv.split("=", 1)
            os.environ[k] = v  # (putenv: the C library's environment)
    os.rename(reload_path + ".new", reload_path)
    one("after", port2)
elif mode == "exec":
    keep = os.environ.get("SYSTORE_EXEC_KEEP", "").split()
    env = {k: os.environ[k] for k in keep if k in os.environ}
    for kv in filter(None, os.environ.get("SYSTORE_SET", "").split(";")):
        k, v = kv.split("=", 1)
        env[k] = v
    sys.stdout.flush()
    os.execve(sys.executable,
              [sys.executable, os.path.abspath(__file__), "one", gofile, str(port)], env)
elif mode == "flip":
    store = os.environ["SYSTORE_FLIP"]
    with open(store, "rb") as f:
        good = f.read()
    os.unlink(store)
    for n in range(1, int(os.environ.get("SYSTORE_FLIPS", "12")) + 1):
        if n % 2:
            if os.path.isdir(store):
                os.rmdir(store)  # missing
        else:
            os.mkdir(store)  # "Is a directory"
        one("flip%d" % n, port)
    if os.path.isdir(store):
        os.rmdir(store)
    with open(store + ".new", "wb") as f:
        f.write(good)
    os.rename(store + ".new", store)
    one("back", port2)
elif mode == "landlock":
    import ctypes
    "localhost".encode("idna")  # (create_connection imports it: before the domain)
    socket.getaddrinfo("127.0.0.1", port)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    attr = ctypes.c_uint64(1 << 2)  # handled_access_fs: LANDLOCK_ACCESS_FS_READ_FILE
    # landlock_create_ruleset (444), prctl(PR_SET_NO_NEW_PRIVS), landlock_restrict_self (446)
    fd = libc.syscall(ctypes.c_long(444), ctypes.byref(attr), ctypes.c_size_t(8), ctypes.c_uint32(0))
    if fd < 0:
        say("no landlock: errno %d" % ctypes.get_errno())
        sys.exit(0)
    if libc.prctl(38, 1, 0, 0, 0) != 0 or \
            libc.syscall(ctypes.c_long(446), ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
        say("error landlock: restrict: errno %d" % ctypes.get_errno())
        sys.exit(0)
    try:
        open(gofile).close()
        say("error landlock: a file read after the domain went on")
        sys.exit(0)
    except OSError:
        pass
    say("landlocked")
    one("landlock", port)
