#!/bin/sh
# tests/attack/shim_server.sh — a man in the middle tampers with the records
# a TLS client sends to a shimmed plain server.
#
#   tls_peer.py client (Python ssl; sends "AAA..", "BBB..", "CCC..", one
#   record each, reads the echo, then close_notify + FIN)
#     -> mitm.py --direction c2s --mode MODE
#       -> echo_server -1 (plain, under the shim; accept rule, cert + key)
#
# pass: everything echoed, the server sees a clean EOF (exit 0), the shim
# logs nothing (TLSSHIM_LOG=warn).
# drop, replay, reorder, alter, truncate (TLS 1.3 and TLS 1.2): the proxy
# really applied the mode; the server's read (or the write of its echo of
# the last good record) fails with ECONNRESET ("echo_server: read:
# Connection reset by peer", exit 1); the shim logged a
# warn line naming the reason (record authentication / truncation); what
# came back to the client is a prefix of what it sent (the server never
# echoed altered, duplicated or reordered data) and, but for truncate, not
# all of it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/attack.inc"

c2s_case() { # c2s_case MODE tls13|tls12
	mode=$1 ver=$2
	d=$T/c2s-$mode-$ver
	mkdir -p "$d"
	begin "attack/shim-server-$mode-$ver"
	sp=$(free_port)
	extra=""
	[ "$ver" = tls12 ] && extra=--tls12
	policy "$d/policy.conf" <<EOP
rules = ( { name = "in"; direction = "accept"; port = $sp;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOP
	bg env TLSSHIM_LOG=warn TLSSHIM_LOG_FILE="$d/shim.log" LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" "$PROGS/echo_server" -1 "$sp" >"$d/echo.out" 2>"$d/echo.err"
	epid=$!
	wait_grep "$d/echo.out" "listening on" 50
	start_mitm "$d" "$mode" c2s "$sp"
	timeout $((15 * TS)) $PEER client --port "$MP" --ca "$CERTS/ca.crt" --timeout $((3 * TS)) $extra \
		>"$d/out" 2>"$d/client.err"
	crc=$?
	wait_exit "$epid" 50
	erc=$rc
	wait_grep "$d/mitm.log" "conn [0-9]+: closed" 50   # the proxy has finished the connection
	stop "$MITM_PID"
	need "what came back is not a prefix of what was sent (altered data echoed)" \
		is_prefix "$d/out" "$T/expected"
	if [ "$mode" = pass ]; then
		need "client exit status $crc, want 0" [ "$crc" -eq 0 ]
		need "not everything was echoed" cmp -s "$d/out" "$T/expected"
		need "echo_server exit status $erc, want 0 (clean EOF)" [ "$erc" -eq 0 ]
		need "mitm log shows tampering in pass mode" has_no "$d/mitm.log" applied
		need "the shim logged a warning/error on a clean connection" no_shim_line "$d/shim.log"
	else
		need "mitm did not apply $mode" grep -q "applied $mode" "$d/mitm.log"
		need "echo_server exit status $erc, want 1 (read error)" [ "$erc" -eq 1 ]
		# read, or write when the bad record came in one segment with the
		# good one before it: the read-ahead took both, the read returned the
		# good data, and the echo's write finds the connection failed.
		need "echo_server stderr lacks 'echo_server: read|write: Connection reset by peer'" \
			grep -Eq 'echo_server: (read|write): Connection reset by peer' "$d/echo.err"
		need "no tlsshim log line (TLSSHIM_LOG=warn) naming the reason (/$(reason_re $mode)/)" \
			shim_log_line "$d/shim.log" "$(reason_re $mode)"
		if [ "$mode" != truncate ]; then
			need "all the data was echoed although a record was dropped/replayed/reordered/altered" \
				sh -c "! cmp -s '$d/out' '$T/expected'"
		fi
	fi
	finish "$d"
}

if [ ! -f "$TLSSHIM_LIB" ] || [ ! -x "$PROGS/echo_server" ]; then
	fail attack/shim-server "not built: $TLSSHIM_LIB or $PROGS/echo_server missing (make test-build)"
	exit 0
fi
for ver in tls13 tls12; do
	for mode in pass drop replay reorder alter truncate; do
		c2s_case "$mode" "$ver"
	done
done
