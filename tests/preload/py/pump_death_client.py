"""pump_death_client.py PORT HOW: connect (a connect rule makes it TLS),
say "hello" (the session is live), put the session where the library
hands it to a pump, write "part one" there, print "pumped" on stderr,
then end as HOW says:
  kill    dup2 onto fd 1; SIGKILL itself (a crash mid-reply)
  abort   dup2 onto fd 1; abort() (SIGABRT)
  exit    dup2 onto fd 1; exit normally without closing anything
  _exit   dup2 onto fd 1; os._exit(0)
  close   dup2 onto fd 1; close fd 1 and the socket, then exit
  fclose  the C library's fdopen() on the socket, fputs, fclose, exit
  forked  dup2 onto fd 1; fork; the child writes "part two" and exits;
          the parent waits for it, then is SIGKILLed (nothing written
          after the child's graceful end: a close)
  forked_kill   dup2 onto fd 1; fork; the parent closes its numbers and
          tells the child (a pipe), which then writes "part two" and is
          SIGKILLed (bytes after the last graceful end)
  forked_close  dup2 onto fd 1; fork; the child writes "part two" and
          closes its numbers, the parent waits for it and closes its own
  exec_kill     dup2 onto fd 1; exec a Python program (the library still
          preloaded) that writes "part two" and is SIGKILLed
  exec_exit     the same, but it exits normally
  exec_nolib    the same as exec_exit, without LD_PRELOAD: no library
          to tell the pump of the end (the exec tells it not to wait)
  linger0       dup2 onto fd 1; fork, the child exits; the parent writes
          "part two", sets SO_LINGER {1, 0} on the socket and closes its
          numbers (an abortive close asked for)
"""
import ctypes
import os
import signal
import socket
import struct
import sys

port, how = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
s.sendall(b"hello\n")
if how == "fclose":
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fdopen.restype = ctypes.c_void_p
    libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
    libc.fputs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    f = libc.fdopen(s.detach(), b"w")
    if not f or libc.fputs(b"part one\n", f) < 0:
        sys.exit("fdopen/fputs failed: errno %d" % ctypes.get_errno())
    sys.stderr.write("pumped\n")
    sys.stderr.flush()
    sys.exit(0 if libc.fclose(f) == 0 else 1)
os.dup2(s.fileno(), 1)
os.write(1, b"part one\n")
sys.stderr.write("pumped\n")
sys.stderr.flush()
if how == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
elif how == "abort":
    os.abort()
elif how == "_exit":
    os._exit(0)
elif how == "close":
    os.close(1)
    s.close()
elif how == "forked":
    pid = os.fork()
    if pid == 0:
        os.write(1, b"part two\n")
        os._exit(0)
    os.waitpid(pid, 0)
    os.kill(os.getpid(), signal.SIGKILL)
elif how == "forked_kill":
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        if os.read(r, 1) != b"x":
            os._exit(3)
        os.write(1, b"part two\n")
        os.kill(os.getpid(), signal.SIGKILL)
    os.close(r)
    os.close(1)
    s.close()
    os.write(w, b"x")
    os.waitpid(pid, 0)
elif how == "forked_close":
    pid = os.fork()
    if pid == 0:
        os.write(1, b"part two\n")
        os.close(1)
        s.close()
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(1)
    s.close()
elif how.startswith("exec_"):
    end = "os.kill(os.getpid(), signal.SIGKILL)" if how == "exec_kill" else "pass"
    env = dict(os.environ)
    if how == "exec_nolib":
        env.pop("LD_PRELOAD", None)
    os.execve(sys.executable, [sys.executable, "-c", "import os, signal\n"
                               "os.write(1, b'part two\\n')\n" + end], env)
elif how == "linger0":
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    os.write(1, b"part two\n")
    # (one socket under both numbers: the option is the socket's)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    os.close(1)
    s.close()
sys.exit(0)
