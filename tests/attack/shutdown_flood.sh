#!/bin/sh
# tests/attack/shutdown_flood.sh — a TLS client (any client: the server
# asks for no certificate) that keeps sending as fast as it can, against
# a shimmed plain server that shuts the connection down both ways
# (shutdown(SHUT_RDWR), as servers do before close) while it does.
#
#   Python ssl client (sends 256 KiB at a time, up to 128 MiB or 10*TS s;
#   says "go" in a FIFO once the kernel's queues are full)
#     -> shut_flood (plain, under the shim; accept rule): reads 4 MiB,
#        waits for the go, then shutdown(SHUT_RDWR), close
#
# shutdown(SHUT_RD) keeps what has arrived readable (as TCP's queue): the
# library decrypted into its stage for as long as the kernel had more,
# so the call took in everything the client kept sending, until the
# client stopped (main before: 128 MiB and 0.5-0.7 s here, the client
# cut off by nothing but its own limit; 6 s and 1.1-1.4 GB for a client
# that sent for 6 s).
# Now it takes in what the kernel held (SIOCINQ) and what OpenSSL read
# ahead: the call returns at once (the client is then cut off by the
# server, long before its limit); the process grows by less than 32 MiB.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/attack.inc"

if [ ! -f "$TLSSHIM_LIB" ] || [ ! -x "$PROGS/shut_flood" ]; then
	fail attack/shutdown-flood "not built: $TLSSHIM_LIB or $PROGS/shut_flood missing (make test-build)"
	exit 0
fi

begin attack/shutdown-flood
d=$T/flood
mkdir -p "$d"
sp=$(free_port)
policy "$d/policy.conf" <<EOP
rules = ( { name = "in"; direction = "accept"; port = $sp;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOP
mkfifo "$d/go"
bg env TLSSHIM_LOG=warn TLSSHIM_LOG_FILE="$d/shim.log" LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$POLICY" "$PROGS/shut_flood" "$sp" 4194304 "$d/go" >"$d/server.out" 2>"$d/server.err"
spid=$!
if ! wait_grep "$d/server.out" '^listening' 50; then
	need "shut_flood never listened" false
	stop "$spid"
	finish "$d"
	exit 0
fi
timeout $((20 * TS)) "$PY" - 127.0.0.1 "$sp" "$CERTS/ca.crt" $((10 * TS)) $((128 << 20)) "$d/go" \
	>"$d/client.out" 2>"$d/client.err" <<'EOP'
import select, socket, ssl, sys, time
host, port, ca, limit, most, go = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), \
    int(sys.argv[5]), sys.argv[6]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname="localhost")
buf = b"y" * (256 * 1024)
sent, t0, how = 0, time.monotonic(), "its limit"
try:
    # Past the server's first 4 MiB, until the kernel's queues are full;
    # then the go line, and on at full speed.
    s.setblocking(False)
    while time.monotonic() - t0 < limit:
        try:
            sent += s.send(buf)
        except (ssl.SSLWantWriteError, BlockingIOError):
            if sent > (6 << 20):
                break
            select.select([], [s], [], 0.1)
    with open(go, "w") as f:
        f.write("go\n")
    s.settimeout(limit / 3)
    while time.monotonic() - t0 < limit and sent < most:
        s.sendall(buf)
        sent += len(buf)
except socket.timeout:
    how = "a stall"
except OSError:
    how = "the server"
print("ended by %s after %.1f s, %d MiB sent" % (how, time.monotonic() - t0, sent >> 20))
EOP
wait_exit "$spid" 100
grew=$(sed -n 's/^shutdown .* grew \([0-9-]*\) kB$/\1/p' "$d/server.out")
need "the client got nowhere: $(head -c 300 "$d/client.out" "$d/client.err" | tr '\n' '|')" \
	grep -q '^ended by' "$d/client.out"
need "shut_flood: $(tail -n 1 "$d/server.out") (exit $rc), want a growth under 32 MiB" \
	test "$rc" -eq 0 -a "${grew:-999999}" -lt 32768
finish "$d"
