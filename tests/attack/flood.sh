#!/bin/sh
# tests/attack/flood.sh — a hostile but authenticated TLS 1.3 client tries
# to exhaust or wedge a shimmed plain server with records that carry
# little or no program data.
#
#   flood.py (Python ssl handshake, then records it seals itself)
#     -> epoll_server -n 1 -b 65536 (plain event loop, under the shim)
#     -> fion_reader (plain; sizes every read with FIONREAD)
#
#  * fionread: an 8 MiB burst of data records, sealed before the first is
#    sent, against a reader that asks FIONREAD before each read.  FIONREAD
#    must stay bounded (at most 1 MiB and a record; TCP's own count stops
#    at its receive buffer) and every byte must still arrive.  It was not:
#    one FIONREAD decrypted everything that kept arriving into the
#    library's stage (a 65 MB burst: 65 MB counted, 0.6 s inside one
#    ioctl, the process from 8 to 71 MB).
#  * keyupdate: 2,000 KeyUpdates with update_requested: each answered
#    (OpenSSL's behaviour, as a program linking it), the program never
#    woken for them, the echo comes back.
#  * tiny: 2,000 one-byte records: all echoed.
#  * empty, warn, ccs: OpenSSL's own limits hold through the library (32
#    empty records, 5 warning alerts, a ChangeCipherSpec after the
#    handshake): a fatal alert, the connection closed, a warn line naming
#    the reason, nothing reaches the program.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/attack.inc"

if [ ! -f "$TLSSHIM_LIB" ] || [ ! -x "$PROGS/fion_reader" ]; then
	fail attack/flood "not built: $TLSSHIM_LIB or $PROGS/fion_reader missing (make test-build)"
	exit 0
fi

# flood_run DIR PROG CASE COUNT [env...]: PROG (with its args, the port
# last) under the shim, flood.py against it; its output in DIR/flood.out.
flood_run() {
	_d=$1 _prog=$2 _kind=$3 _count=$4
	shift 4
	mkdir -p "$_d"
	sp=$(free_port)
	policy "$_d/policy.conf" <<EOP
rules = ( { name = "in"; direction = "accept"; port = $sp;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOP
	bg env TLSSHIM_LOG=warn TLSSHIM_LOG_FILE="$_d/shim.log" LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" $_prog "$sp" >"$_d/server.out" 2>"$_d/server.err"
	spid=$!
	if ! wait_grep "$_d/server.out" '^listening' 50; then
		need "the server never listened" false
		stop "$spid"
		return
	fi
	env "$@" timeout $((30 * TS)) "$PY" "$A/flood.py" 127.0.0.1 "$sp" "$CERTS/ca.crt" localhost \
		"$_kind" "$_count" $((10 * TS)) >"$_d/flood.out" 2>"$_d/flood.err"
}

# fionread: the burst, then the reader's own figures.
begin attack/flood-fionread
d=$T/fionread
flood_run "$d" "$PROGS/fion_reader" bulk 512 FLOOD_PRE=1 FLOOD_CLOSE=1
wait_exit "$spid" 100
total=$(sed -n 's/^total \([0-9]*\) .*/\1/p' "$d/server.out")
maxn=$(sed -n 's/.* max_fionread \([0-9]*\) .*/\1/p' "$d/server.out")
need "the reader got ${total:-nothing} bytes, want $((512 * 16384 + 10))" \
	test "${total:-0}" -eq $((512 * 16384 + 10))
need "FIONREAD counted up to ${maxn:-?} bytes, want at most 1 MiB and a record ($((1048576 + 16384)))" \
	test "${maxn:-99999999}" -le $((1048576 + 16384))
need "the flood did not end cleanly" grep -q '^eof' "$d/flood.out"
need "the shim logged a warning" no_shim_line "$d/shim.log"
finish "$d"

# keyupdate: all answered, no wake-up of the program, the echo back.
begin attack/flood-keyupdate
d=$T/keyupdate
flood_run "$d" "$PROGS/epoll_server -n 1 -b 65536" keyupdate 2000
wait_exit "$spid" 50
need "no echo of the end line" grep -q '^echoed 10 ' "$d/flood.out"
need "$(grep '^keyupdates' "$d/flood.out") KeyUpdates answered, want 2000" \
	grep -q -x 'keyupdates 2000' "$d/flood.out"
need "the program was woken for nothing: $(grep closed "$d/server.err")" \
	grep -q 'spurious=0 bytes=10$' "$d/server.err"
finish "$d"

# tiny: every byte echoed.
begin attack/flood-tiny
d=$T/tiny
flood_run "$d" "$PROGS/epoll_server -n 1 -b 65536" tiny 2000
wait_exit "$spid" 50
need "not all echoed: $(head -n 1 "$d/flood.out")" grep -q '^echoed 2010 ' "$d/flood.out"
finish "$d"

# OpenSSL's limits: a fatal unexpected_message (10), the end, the reason.
for c in "empty 100 record too small" "warn 100 too many warn alerts" "ccs 1 bad record type"; do
	set -- $c
	kind=$1 count=$2
	shift 2
	begin "attack/flood-$kind"
	d=$T/$kind
	flood_run "$d" "$PROGS/epoll_server -n 1 -b 65536" "$kind" "$count"
	wait_exit "$spid" 50
	need "no fatal unexpected_message alert" grep -q -x 'alert 2 10' "$d/flood.out"
	need "the connection was not closed" grep -q '^eof' "$d/flood.out"
	need "no warn line saying '$*'" shim_log_line "$d/shim.log" "$*"
	need "the program got data" grep -q 'bytes=0$' "$d/server.err"
	finish "$d"
done
