"""asyncio_client.py PORT — a plain asyncio client under the shim (a connect
rule; tests/preload/asyncio.sh): open_connection("localhost"), 200 lines,
the echo read back.  Prints "echo ok"; exit 2 when the connection fails.
"""
S = float(__import__("os").environ.get("TLSSHIM_TIME_SCALE", "1"))  # bounds scale (tests/lib.sh)
import asyncio, sys
async def main(port):
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("localhost", port), 15 * S)
    except OSError as e:
        print("connect error: %s" % e)
        return 2
    msg = b"".join(b"SECRET asyncio client line %04d\n" % i for i in range(200))
    w.write(msg)
    await w.drain()
    got = await asyncio.wait_for(r.readexactly(len(msg)), 15 * S)
    print("echo ok" if got == msg else "echo MISMATCH")
    w.close()
    await w.wait_closed()
    return 0
sys.exit(asyncio.run(main(int(sys.argv[1]))))
