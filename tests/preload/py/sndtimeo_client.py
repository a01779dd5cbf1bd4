"""sndtimeo_client.py PORT — under the shim (tests/preload/flags.sh): with
SO_SNDTIMEO 0.3 s, blocking writes to a peer that never reads must end with
EAGAIN.  Prints "errno NAME" or "never timed out".
"""
import errno, socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 0, 300000))
chunk = b"x" * 65536
for i in range(2000):                       # at most 128 MiB, bounded
    try:
        n = s.send(chunk)
    except OSError as e:
        print("errno", errno.errorcode.get(e.errno)); break
else:
    print("never timed out")
