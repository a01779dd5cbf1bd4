#!/bin/sh
# tests/attack/shim_client.sh — a man in the middle tampers with the records
# a TLS server sends to a shimmed plain client.
#
#   client (plain, under the shim; connect rule, ca + server_name)
#     -> mitm.py --direction s2c --mode MODE
#       -> tls_peer.py server (Python ssl: three app-data records
#          "AAA..", "BBB..", "CCC..", then close_notify; no session tickets)
#
# pass: the client prints all the data and exits 0; the shim logs nothing
# (TLSSHIM_LOG=warn).  drop, replay, reorder, alter, truncate (each over
# TLS 1.3 and TLS 1.2): the proxy really applied the mode; the client's read
# fails with ECONNRESET ("client: read: Connection reset by peer", exit 3);
# what it printed is a prefix of the true data (nothing dropped, duplicated,
# reordered or altered is delivered) and, but for truncate, not all of it;
# the shim logged a warn line naming the reason (record authentication /
# truncation).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/attack.inc"

s2c_case() { # s2c_case MODE tls13|tls12
	mode=$1 ver=$2
	d=$T/s2c-$mode-$ver
	mkdir -p "$d"
	begin "attack/shim-client-$mode-$ver"
	extra=""
	[ "$ver" = tls12 ] && extra=--tls12
	start_server "$d" $extra
	sp=$SP speer=$SPID
	start_mitm "$d" "$mode" s2c "$sp"
	policy "$d/policy.conf" <<EOP
rules = ( { name = "out"; direction = "connect"; port = $MP;
            ca = "$CERTS/ca.crt"; server_name = "localhost"; } );
EOP
	timeout $((10 * TS)) env TLSSHIM_LOG=warn TLSSHIM_LOG_FILE="$d/shim.log" \
		LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$POLICY" \
		"$PROGS/client" 127.0.0.1 "$MP" </dev/null >"$d/out" 2>"$d/client.err"
	crc=$?
	wait_exit "$speer" 50
	wait_grep "$d/mitm.log" "conn [0-9]+: closed" 50   # the proxy has finished the connection
	stop "$MITM_PID"
	need "client output is not a prefix of the data the server sent (altered data delivered)" \
		is_prefix "$d/out" "$T/expected"
	if [ "$mode" = pass ]; then
		need "client exit status $crc, want 0" [ "$crc" -eq 0 ]
		need "client did not receive all the data" cmp -s "$d/out" "$T/expected"
		need "mitm log shows tampering in pass mode" has_no "$d/mitm.log" applied
		need "the shim logged a warning/error on a clean connection" no_shim_line "$d/shim.log"
	else
		need "mitm did not apply $mode" grep -q "applied $mode" "$d/mitm.log"
		need "client exit status $crc, want 3 (read error)" [ "$crc" -eq 3 ]
		need "client stderr lacks 'client: read: Connection reset by peer'" \
			grep -q 'client: read: Connection reset by peer' "$d/client.err"
		need "no tlsshim log line (TLSSHIM_LOG=warn) naming the reason (/$(reason_re $mode)/)" \
			shim_log_line "$d/shim.log" "$(reason_re $mode)"
		need "client received all the data in full although a record was dropped/replayed/reordered/altered" \
			sh -c "[ $mode = truncate ] || ! cmp -s '$d/out' '$T/expected'"
	fi
	finish "$d"
}

if [ ! -f "$TLSSHIM_LIB" ] || [ ! -x "$PROGS/client" ]; then
	fail attack/shim-client "not built: $TLSSHIM_LIB or $PROGS/client missing (make test-build)"
	exit 0
fi
for ver in tls13 tls12; do
	for mode in pass drop replay reorder alter truncate; do
		s2c_case "$mode" "$ver"
	done
done
