"""forking_echo_server.py PORT N — Python's socketserver.ForkingTCPServer,
a plain echo server run under the shim (tests/preload/forking.sh); serves
N connections, then waits for its children.  Prints "listening" and
"served N".
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import os, socketserver, sys
port, n = int(sys.argv[1]), int(sys.argv[2])

class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(60 * S)
        while True:
            d = self.request.recv(65536)
            if not d:
                break
            self.request.sendall(d)

class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    request_queue_size = 64
    block_on_close = True       # server_close() waits for the children

    def handle_error(self, request, client_address):
        sys.stderr.write("handler error in pid %d\n" % os.getpid())
        super().handle_error(request, client_address)

s = Server(("127.0.0.1", port), Echo)
s.timeout = 30
print("listening", flush=True)
for _ in range(n):
    s.handle_request()
s.server_close()
print("served %d" % n, flush=True)
