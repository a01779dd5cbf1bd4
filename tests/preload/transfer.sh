#!/bin/sh
# tests/preload/transfer.sh — both ends shimmed, both ends our plain programs:
# bulk (20 MB in 16 KiB writes, checksummed) and pingpong (many short
# connections: a handshake, 32 bytes each way, close_notify, in a row).
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim bulk_setup

# both_policy PORT: accept and connect rules for PORT (both ends shimmed).
both_policy() {
	policy "$T/p.conf" <<EOF
rules = (
  { name = "bulk-in"; direction = "accept"; port = $1;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "bulk-out"; direction = "connect"; port = $1; ca = "$CERTS/ca.crt"; }
);
EOF
}

# (At log level info each end logs its protocol: proof that TLS was used.)
name=bulk_20MB_both_ends_shimmed
P=$(free_port)
both_policy "$P"
export TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$name.log"
shimbg "$PROGS/bulk" recv "$P" >"$T/$name.recv" 2>"$T/$name.rerr"
rpid=$!
if wait_for "$T/$name.recv" '^listening'; then
	shimmed "$PROGS/bulk" send localhost "$P" 20000000 >"$T/$name.send" 2>"$T/$name.serr"
	src=$?
	wait_exit "$rpid" 20; rrc=$?
	sent=$(grep '^bytes ' "$T/$name.send")
	got=$(grep '^bytes ' "$T/$name.recv")
	if [ "$src" -ne 0 ] || [ "$rrc" -ne 0 ]; then
		fail "$name" "send exit $src, recv exit $rrc$(show "$T/$name.serr" "$T/$name.rerr" "$T/$name.log")"
	elif [ "$sent" != "bytes 20000000 ${sent#bytes 20000000 }" ] || [ "$sent" != "$got" ]; then
		fail "$name" "sent '$sent', received '$got'"
	elif [ "$(lines "$T/$name.log" 'TLSv1\.3')" -lt 2 ]; then
		fail "$name" "the log does not show a TLS 1.3 session at both ends$(show "$T/$name.log")"
	else
		pass "$name"
	fi
else
	fail "$name" "bulk recv never listened$(show "$T/$name.rerr")"
fi
stop "$rpid"
unset TLSSHIM_LOG

# bulk send closes right after its last write(): everything written must
# still arrive (write() returning n promises the n bytes reach the peer),
# then close_notify.  With TLS 1.3 the server sends session tickets the
# writer never reads; a close() with unread input makes the kernel send a
# RST and drop unsent data, so the shim must deal with them.  Three
# rounds, both ends shimmed.
name=bulk_close_right_after_write_both_ends_shimmed
P=$(free_port)
both_policy "$P"
export TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$name.log"
bad=""
for i in 1 2 3; do
	shimbg "$PROGS/bulk" recv "$P" >"$T/$name.recv$i" 2>"$T/$name.rerr$i"
	rpid=$!
	if ! wait_for "$T/$name.recv$i" '^listening'; then
		bad="round $i: bulk recv never listened$(show "$T/$name.rerr$i")"; stop "$rpid"; break
	fi
	shimmed "$PROGS/bulk" send 127.0.0.1 "$P" 1000003 >"$T/$name.send$i" 2>"$T/$name.serr$i"
	src=$?
	wait_exit "$rpid" 20; rrc=$?
	sent=$(grep '^bytes ' "$T/$name.send$i")
	got=$(grep '^bytes ' "$T/$name.recv$i")
	if [ "$src" -ne 0 ] || [ "$rrc" -ne 0 ] || [ -z "$sent" ] || [ "$sent" != "$got" ]; then
		bad="round $i: send exit $src '$sent', recv exit $rrc '$got'$(show "$T/$name.serr$i" "$T/$name.rerr$i" "$T/$name.log")"
		break
	fi
done
unset TLSSHIM_LOG
if [ -z "$bad" ] && [ "$(lines "$T/$name.log" 'TLSv1\.3')" -lt 6 ]; then
	bad="the log does not show TLS 1.3 sessions at both ends$(show "$T/$name.log")"
fi
if [ -z "$bad" ]; then pass "$name"; else fail "$name" "$bad"; fi

# The same against a Python ssl receiver (OpenSSL's default: two TLS 1.3
# session tickets after the handshake): it must see every byte and a clean
# close_notify.
name=bulk_close_right_after_write_to_python_receiver
P=$(free_port)
policy "$T/p.conf" <<EOF
rules = ( { name = "bulk-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
if start_peer "$name.peer" server --port "$P" --cert "$CERTS/server.crt" --key "$CERTS/server.key" \
	--mode record --record "$T/$name.rec" --status "$T/$name.st"; then
	shimmed "$PROGS/bulk" send localhost "$P" 1000000 >"$T/$name.send" 2>"$T/$name.serr"
	src=$?
	wait_exit "$PEER" 20
	size=$(wc -c <"$T/$name.rec" 2>/dev/null || echo 0)
	if [ "$src" -ne 0 ]; then
		fail "$name" "bulk send exited $src$(show "$T/$name.serr" "$T/$name.log")"
	elif [ "$size" -ne 1000000 ] || ! grep -q '^eof clean$' "$T/$name.st"; then
		fail "$name" "the receiver got $size of 1000000 bytes$(show "$T/$name.st" "$T/$name.log")"
	else
		pass "$name"
	fi
else
	fail "$name" "receiver did not start"
fi

# 200 sequential connections, each a full handshake, one ping-pong and a
# close, both ends shimmed.
name=pingpong_200_connections_both_ends_shimmed
P=$(free_port)
both_policy "$P"
export TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/$name.log"
shimbg "$PROGS/pingpong" server "$P" >"$T/$name.srv" 2>"$T/$name.serr"
spid=$!
if wait_for "$T/$name.srv" '^listening'; then
	shimmed "$PROGS/pingpong" client localhost "$P" 200 >"$T/$name.cli" 2>"$T/$name.cerr"
	rc=$?
	stop "$spid"
	if [ "$rc" -eq 0 ] && grep -q '^200 connections in ' "$T/$name.cli" && [ ! -s "$T/$name.serr" ] &&
		[ "$(lines "$T/$name.log" 'TLSv1\.3')" -ge 400 ]; then
		pass "$name"
	else
		fail "$name" "client exit $rc, $(lines "$T/$name.log" 'TLSv1\.3') TLS 1.3 sessions logged (want 400)$(show "$T/$name.cli" "$T/$name.cerr" "$T/$name.serr" "$T/$name.log")"
	fi
else
	fail "$name" "pingpong server never listened$(show "$T/$name.serr")"
	stop "$spid"
fi
