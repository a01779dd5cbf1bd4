"""accept_addr_server.py PORT — accept() as a C program calls it (through
ctypes, so the library's accept wrapper is the one called), three times:
with no address buffer, with a sockaddr_in-sized one, and with a 4-byte
one (the kernel truncates and reports the full length).  For each
connection: prints "accepted MODE len L family F port P" (what the buffer
says; "-" for no buffer), then echoes one line and closes.  Prints
"listening" first.
"""
import ctypes
import os
import socket
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.accept.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
port = int(sys.argv[1])
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(8)
print("listening", flush=True)
for mode, size in (("null", 0), ("full", 16), ("short", 4)):
    buf = ctypes.create_string_buffer(16)
    ln = ctypes.c_uint32(size)
    if size:
        fd = libc.accept(ls.fileno(), ctypes.addressof(buf), ctypes.addressof(ln))
    else:
        fd = libc.accept(ls.fileno(), None, None)
    if fd < 0:
        print("accept %s: %s" % (mode, os.strerror(ctypes.get_errno())), flush=True)
        sys.exit(1)
    if size:
        fam = struct.unpack_from("=H", buf.raw, 0)[0]
        p = struct.unpack_from("!H", buf.raw, 2)[0]
        rest = buf.raw[4:] if size < 16 else b""
        print("accepted %s len %d family %d port %d%s" % (
            mode, ln.value, fam, p, " untouched" if rest == b"\0" * 12 else (" written" if rest else "")), flush=True)
    else:
        print("accepted null", flush=True)
    data = b""
    while not data.endswith(b"\n"):
        b = os.read(fd, 100)
        if not b:
            break
        data += b
    os.write(fd, data)
    os.close(fd)
