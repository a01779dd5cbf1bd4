"""stale_fd.py PORT FILE — under the shim (tests/preload/lifecycle.sh): an
accepted TLS connection's fd is closed with a raw close system call (behind
the shim), and open() gets the same number for FILE: it must read as the
plain file.  Prints "True CONTENTS" (same number, the file's text).
"""
import ctypes, os, socket, sys
ls = socket.socket(); ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1)
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
a, _ = ls.accept()                      # a TLS connection to the shim
n = a.detach()
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall(3, n)                      # SYS_close, behind the shim
fd = os.open(sys.argv[2], os.O_RDONLY)  # the kernel hands the number out again
print(fd == n, os.read(fd, 100).decode().strip())
