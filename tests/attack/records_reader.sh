#!/bin/sh
# tests/attack/records_reader.sh — a bad record or a truncation right
# behind good data, against a shimmed plain server that reads to the end
# (tests/progs/stage_reader.c), in the ways a program may read.
#
#   records.py (a TLS 1.3 client that writes its own records: the good
#   request "GET /good-1 ...", then in the same TCP segment a record with
#   one bit flipped, or half a record and the FIN, or, as the control, a
#   close_notify and the FIN)
#     -> stage_reader (plain, under the shim; accept rule, cert + key)
#
# Asserted for every attack: the program gets exactly the good request
# (no byte of the bad record), then its next read fails with ECONNRESET,
# never end of file; the shim logs a warn line naming the reason.  For
# the control: the good request, then end of file, and no warn line.
#  * pumped: stage_reader greets (the session is live), then forks; the
#    child reads, so the session runs in a pump (libtlsshim(7), "The
#    pump").  The pump met the failure in the same turn as the good
#    record, and ended the channel as if cleanly: end of file, no log.
#  * staged: before reading, FIONREAD or recv(MSG_PEEK) decrypts what is
#    there, and meets the failure behind the good record.  That plaintext
#    must still come first, on every read path (read, recv, readv,
#    recvmsg, recvmmsg); FIONREAD and the peek count it; poll, select and
#    epoll (level and edge) report it readable, and not as an error, until
#    it has been read.  It was lost: the read failed at once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/attack.inc"

if [ ! -f "$TLSSHIM_LIB" ] || [ ! -x "$PROGS/stage_reader" ]; then
	fail attack/records-reader "not built: $TLSSHIM_LIB or $PROGS/stage_reader missing (make test-build)"
	exit 0
fi
GOOD=$(printf 'GET /good-1 HTTP/1.1\r\nHost: localhost\r\n\r\n_' | wc -c)
GOOD=$((GOOD - 1))
printf 'GET /good-1 HTTP/1.1\r\nHost: localhost\r\n\r\n' >"$T/good"

# rr_case KIND STAGE WAIT READ [fork]
rr_case() {
	kind=$1 stage=$2 wait=$3 how=$4 fork=${5:-}
	name=records-reader-$kind-$stage-$wait-$how${fork:+-pumped}
	d=$T/$name
	mkdir -p "$d"
	begin "attack/$name"
	sp=$(free_port)
	policy "$d/policy.conf" <<EOP
rules = ( { name = "in"; direction = "accept"; port = $sp;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOP
	bg env TLSSHIM_LOG=warn TLSSHIM_LOG_FILE="$d/shim.log" LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$POLICY" "$PROGS/stage_reader" "$sp" "$stage" "$wait" "$how" \
		"$d/got" $fork >"$d/reader.out" 2>"$d/reader.err"
	rpid=$!
	if ! wait_grep "$d/reader.out" '^listening' 50; then
		need "stage_reader never listened" false
		stop "$rpid"
		finish "$d"
		return
	fi
	timeout $((20 * TS)) "$PY" "$A/records.py" 127.0.0.1 "$sp" "$CERTS/ca.crt" localhost \
		"${kind}_with_data" $((10 * TS)) >"$d/peer.out" 2>"$d/peer.err"
	wait_exit "$rpid" 100
	end=$(grep '^end:' "$d/reader.out")
	need "the peer did not get through its handshake and send" grep -q '^response' "$d/peer.out"
	need "the program got '$(head -c 80 "$d/got" 2>/dev/null | tr '\r\n' '..')', want exactly the good request" \
		cmp -s "$d/got" "$T/good"
	need "a byte of the bad record reached the program" has_no "$d/got" evil
	case $stage in
	fionread|peek)
		need "'$stage N' does not count the $GOOD bytes a read returns" \
			grep -q -x "$stage $GOOD" "$d/reader.out" ;;
	esac
	if [ "$kind" = close ]; then
		need "the end was '$end' (exit $rc), want end of file" test "$end" = "end: eof" -a "$rc" -eq 0
		need "the shim logged a warning on a clean close" no_shim_line "$d/shim.log"
	else
		need "the end was '${end:-none}' (exit $rc), want the read to fail with ECONNRESET" \
			test "$end" = "end: error: Connection reset by peer" -a "$rc" -eq 1
		need "no shim warn line naming the reason (/$(reason_re $kind)/)" \
			shim_log_line "$d/shim.log" "$(reason_re $kind)"
		# Without a pump the readiness is the shim's own: the good bytes
		# are readable, not an error, until they have been read.
		if [ -z "$fork" ] && [ "$wait" != block ]; then
			need "the first wait said '$(grep -m 1 '^ready' "$d/reader.out")', want readable and no error while the good bytes wait" \
				sh -c "grep -m 1 '^ready' '$d/reader.out' | grep -q -x 'ready in\\( rdhup\\)\\?'"
		fi
	fi
	stop "$rpid"
	finish "$d"
}

# A pumped session (bug: end of file, no log line, when the failure came
# in the same segment as the good record).
for kind in bitflip truncate close; do
	rr_case "$kind" none block read fork
done
rr_case bitflip none poll recv fork
rr_case bitflip fionread block read fork

# Staged by FIONREAD or MSG_PEEK before the first read (bug: the staged
# plaintext was lost, the first read failed).
for how in read recv readv recvmsg recvmmsg; do
	rr_case bitflip fionread block "$how"
done
rr_case truncate fionread block read
rr_case bitflip peek block read
rr_case truncate peek block recvmsg
for wait in poll select epoll epollet; do
	rr_case bitflip fionread "$wait" read
done
rr_case truncate peek epollet recv
rr_case truncate peek poll readv
# The controls: a clean close_notify behind good data reads as end of file.
rr_case close fionread block read
rr_case close peek epoll read
