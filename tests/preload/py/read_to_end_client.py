"""read_to_end_client.py PORT PING N — N plain connections (made TLS by the
shim's connect rule): each sends PING, reads to the end of the stream (the
echo, then the server's close_notify and FIN) and checks the echo, then
closes.  Prints "ok"."""
import socket, sys
port, ping = int(sys.argv[1]), sys.argv[2].encode()
for i in range(int(sys.argv[3])):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(ping)
    got = b""
    while True:              # the pong, then the end of the stream
        b = s.recv(100)
        if not b:
            break
        got += b
    if got != ping:
        print("connection %d: got %r" % (i, got))
        sys.exit(1)
    s.close()
print("ok")
