"""rcvtimeo_trickle_client.py PORT [SECONDS] — under the shim
(tests/preload/flags.sh), against rawtls.py's server mode "trickle" (one
record, 3 bytes every 0.1 s): with SO_RCVTIMEO 0.4 s a blocking read must
end with EAGAIN once 0.4 s have passed without plain text, as the kernel
bounds one recv() (the library waited again for each piece and returned the
record after about 1 s); then, without the time-out, the record.  With
SECONDS, SO_RCVTIMEO is that long, and the first read must get the record
(4294968 s came out of the library's int as 704 ms).  Prints "first errno
NAME" or "first data ...", "elapsed S", then "then REPLY".
"""
import errno, socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"go\n")
secs = int(sys.argv[2]) if len(sys.argv) > 2 else 0
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", secs, 0 if secs else 400000))
t = time.monotonic()
try:
    print("first data %r" % s.recv(100))
except OSError as e:
    print("first errno", errno.errorcode.get(e.errno))
print("elapsed %.2f" % (time.monotonic() - t))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 0))
print("then %r" % s.recv(100))
s.close()
