"""outq_client.py PORT DONE-FILE COUNT-FILE — under the shim (tests/preload/
flags.sh), against stall_server.py (which reads nothing until DONE-FILE
exists, then writes its count to COUNT-FILE): non-blocking writes until
EAGAIN, then DONE-FILE, then ioctl(SIOCOUTQ) until it says 0 (at most 10 s),
as a program does before it hangs up.  By then the server must get every
byte the writes took (at most 5 s): the library said 0 while it still held
a record, and nothing sent it.  Prints "sent N outq0 received M".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))
import array, errno, fcntl, os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setblocking(False)
sent, chunk = 0, b"o" * 65536
for i in range(2000):                           # at most 128 MiB, bounded
    try:
        sent += s.send(chunk)
    except BlockingIOError:
        break
open(sys.argv[2], "w").close()
q = array.array("i", [1])
end = time.time() + 10 * S
while time.time() < end:
    fcntl.ioctl(s.fileno(), 0x5411, q)           # SIOCOUTQ
    if q[0] == 0:
        break
    time.sleep(0.01)
got, end = 0, time.time() + 5 * S
while time.time() < end and got < sent:
    try:
        got = int(open(sys.argv[3]).read() or 0)
    except (OSError, ValueError):
        pass
    time.sleep(0.02)
print("sent %d outq%d received %d" % (sent, q[0], got), flush=True)
s.close()
