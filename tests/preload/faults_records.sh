#!/bin/sh
# tests/preload/faults_records.sh — malformed and oversized TLS records sent
# to a shimmed server (echo_server -1) by tests/preload/py/rawtls.py:
#   oversized-hello   a handshake record of 2^14+2048+1 bytes in place of
#                     the ClientHello
#   bad-length-hello  a ClientHello whose length field says 16 MiB - 1
#   oversized         after a good exchange, an application-data record of
#                     2^14+2048+1 bytes
#   bad-type          after a good exchange, a record of type 99
#   short-record      after a good exchange, a 1-byte application-data
#                     record (shorter than any AEAD tag)
# Each is refused: the program's read fails with ECONNRESET (exit 1), the
# shim logs a line naming the connection, the program never sees the
# record's bytes (they carry the marker GARBAGE-MARKER in clear, and a
# good record follows the bad one: neither comes back in the echo), and
# only the good data before the bad record was echoed.
# Not repeated here: plain HTTP instead of a ClientHello
# (tests/preload/server.sh server_plaintext_client_refused,
# tests/attack/handshake.sh plaintext-to-server, tests/interop/redis.sh
# redis_plain_client_refused); altered, replayed, reordered, dropped and
# truncated records (tests/attack/shim_server.sh, shim_client.sh).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim faults_records_setup
RAW=$PYD/rawtls.py

# rec_case MODE PEER-WANT ECHO-WANT ("-": raw bytes back, not checked but
# for the marker)
rec_case() {
	mode=$1 peer_want=$2 want_got=$3
	name=server_refuses_$mode
	P=$(free_port)
	policy "$T/$name.conf" <<EOF
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
	audit_exclude "$P" "$name: malformed TLS records sent on purpose"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_echo "$name" -1 "$P"; then
		fail "$name" "echo_server never listened$(show "$T/$name.err")"; stop "$SRV"; return
	fi
	timeout $((40 * TS)) "$PY" "$RAW" client "$mode" "$P" "$CERTS/ca.crt" "$T/$name.got" \
		>"$T/$name.peer" 2>&1
	wait_exit "$SRV" 20; rc=$?
	if ! grep -q "^sent $mode" "$T/$name.peer"; then
		fail "$name" "the peer did not send the bad record$(show "$T/$name.peer")"
	elif [ "$rc" -ne 1 ]; then
		fail "$name" "echo_server exited $rc, want 1 (read error)$(show "$T/$name.err" "$T/$name.peer" "$TLSSHIM_LOG_FILE")"
	elif ! grep -q '^echo_server: read: Connection reset by peer$' "$T/$name.err"; then
		fail "$name" "echo_server's read did not fail with ECONNRESET$(show "$T/$name.err")"
	elif ! grep -q -E -e "$peer_want" "$T/$name.peer"; then
		fail "$name" "the peer did not get /$peer_want/$(show "$T/$name.peer")"
	elif [ -f "$T/$name.got" ] && grep -q 'GARBAGE-MARKER' "$T/$name.got"; then
		fail "$name" "the bad record's bytes (or the record after it) reached the program and came back"
	elif [ "$want_got" != - ] && [ "$(cat "$T/$name.got" 2>/dev/null)" != "$want_got" ]; then
		fail "$name" "the echo was '$(head -c 100 "$T/$name.got")', want '$want_got'"
	elif ! grep -F "127.0.0.1" "$TLSSHIM_LOG_FILE" 2>/dev/null | grep -q -F '"in"'; then
		fail "$name" "no log line names the refused connection (rule \"in\", peer address)$(show "$TLSSHIM_LOG_FILE")"
	elif grep -q 'handshake timeout' "$TLSSHIM_LOG_FILE"; then
		fail "$name" "refused only by the handshake timeout, not for the bad record$(show "$TLSSHIM_LOG_FILE")"
	elif grep -q -i 'sanitizer\|runtime error' "$T/$name.err"; then
		fail "$name" "sanitizer report$(show "$T/$name.err")"
	else
		pass "$name (log: $(sed -n 's/^tlsshim\[[0-9]*\]: //p' "$TLSSHIM_LOG_FILE" | head -1 | cut -c1-160))"
	fi
}

rec_case oversized-hello '^(eof|reset)$' -
rec_case bad-length-hello '^(eof|reset)$' -
rec_case oversized '^echo GOOD-1$' GOOD-1
rec_case bad-type '^echo GOOD-1$' GOOD-1
rec_case short-record '^echo GOOD-1$' GOOD-1
