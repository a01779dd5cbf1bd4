"""broadcast_server.py PORT CONNS — a plain asyncio server that knows nothing
about TLS (tests/preload/epoll_idle.sh), run under the shim: every line a
client sends is written to every connected client (most of them idle, so
the writes happen outside any event of theirs).  Prints "listening", exits
0 once CONNS connections have come and gone (1 on an error).
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import asyncio, sys
port, conns = int(sys.argv[1]), int(sys.argv[2])
errors = []


async def main():
    done = asyncio.Event()
    writers = set()
    count = [0]

    async def handle(reader, writer):
        writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                for w in list(writers):
                    w.write(line)
                for w in list(writers):
                    await w.drain()
        except (OSError, ValueError) as e:
            errors.append(repr(e))
        finally:
            writers.discard(writer)
            writer.close()
            count[0] += 1
            if count[0] >= conns:
                done.set()

    srv = await asyncio.start_server(handle, "127.0.0.1", port, limit=1 << 22)
    print("listening", flush=True)
    await asyncio.wait_for(done.wait(), 60 * S)
    srv.close()

asyncio.run(main())
if errors:
    print("errors: " + "; ".join(errors[:3]), file=sys.stderr)
    sys.exit(1)
