"""asyncio_echo_server.py MODE PORT CONNS — a plain asyncio echo server that
knows nothing about TLS (tests/preload/asyncio.sh), run under the shim.
  stream:   asyncio.start_server, reader.read(1), writer.write, drain
  buffered: a BufferedProtocol whose buffer is 1 byte long, so that the
            selector transport's recv_into() reads 1 byte per wake-up
Prints "listening SELECTOR", serves CONNS connections, exits 0 (1 on an error).
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import asyncio, sys
mode, port, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
errors = []

async def main():
    done = asyncio.Event()
    count = [0]
    def closed():
        count[0] += 1
        if count[0] >= conns:
            done.set()

    async def handle(reader, writer):
        try:
            while True:
                b = await reader.read(1)
                if not b:
                    break
                writer.write(b)
                await writer.drain()
        except OSError as e:
            errors.append("stream: %r" % e)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
            closed()

    class Echo(asyncio.BufferedProtocol):
        def connection_made(self, t):
            self.t = t
            self.buf = bytearray(1)
        def get_buffer(self, sizehint):
            return self.buf
        def buffer_updated(self, n):
            self.t.write(bytes(self.buf[:n]))
        def eof_received(self):
            return False          # close the transport
        def connection_lost(self, exc):
            if exc:
                errors.append("buffered: %r" % exc)
            closed()

    loop = asyncio.get_running_loop()
    if mode == "stream":
        srv = await asyncio.start_server(handle, "127.0.0.1", port)
    else:
        srv = await loop.create_server(Echo, "127.0.0.1", port)
    print("listening", type(loop._selector).__name__, flush=True)
    try:
        await asyncio.wait_for(done.wait(), 60 * S)
    except asyncio.TimeoutError:
        errors.append("timeout: %d of %d connections closed" % (count[0], conns))
    srv.close()
    await srv.wait_closed()

asyncio.run(main())
for e in errors:
    print("error", e, flush=True)
sys.exit(1 if errors else 0)
