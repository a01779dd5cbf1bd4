#!/bin/sh
# tests/preload/faults_emfile.sh — a shimmed server that runs out of file
# descriptors (RLIMIT_NOFILE 64, every free one taken) at accept().
#
# emfile_server (tests/progs) fills its descriptor table, so accept() fails
# with EMFILE (the shim passes the error through, the pending TLS client
# waits in the listen queue); then it frees 1, 2, 5, 64 and 64 descriptors
# in turn and accepts again: with a single free descriptor (the accepted
# socket takes it) the handshake and the echo still work, the library's
# own descriptors (a thread's wake-up eventfd, the lingering close's copy
# and pipe) doing without; they are made on a later call that finds room
# (the eventfd must exist at the end).  The steady descriptor count is the
# same before the last two connections and at the end (nothing leaked,
# also when there was no room for the lingering close), and at the end a
# socketpair reusing the freed numbers carries plain bytes unchanged (no
# stale table entry turns it into TLS).  The wire audit checks that every
# byte on the TLS port was a TLS record (no plaintext fallback).
# (ENFILE, the system-wide table, cannot be exhausted safely on a shared
# machine: not tested.)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim faults_emfile_setup
name=emfile_at_accept_server_recovers_no_leak
ROUNDS="1 2 5 64 64"
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
# shellcheck disable=SC2086
shimbg "$PROGS/emfile_server" "$P" $ROUNDS >"$T/$name.out" 2>"$T/$name.err"
srv=$!
if ! wait_for "$T/$name.out" '^listening' 10; then
	fail "$name" "emfile_server never listened$(show "$T/$name.err")"
	exit 0
fi
i=0 served=0
for n in $ROUNDS; do
	i=$((i + 1))
	peer client --port "$P" --ca "$CERTS/ca.crt" --send "round $i with $n free" \
		--timeout $((20 * TS)) >"$T/$name.cli$i" 2>&1
	grep -q '^echo ok' "$T/$name.cli$i" && served=$((served + 1))
done
wait_exit "$srv" 30; rc=$?
nr=$(echo $ROUNDS | wc -w)
if [ "$served" -ne "$nr" ]; then
	fail "$name" "$served of $nr TLS clients served$(show "$T/$name.out" "$T/$name.cli1" "$T/$name.cli2" "$TLSSHIM_LOG_FILE")"
elif [ "$(lines "$T/$name.out" '^accept: EMFILE$')" -ne "$nr" ]; then
	fail "$name" "accept() did not fail with EMFILE in every round$(show "$T/$name.out")"
elif [ "$(lines "$T/$name.out" '^closed$')" -ne "$nr" ]; then
	fail "$name" "not every connection ended with a clean EOF$(show "$T/$name.out")"
elif ! grep -q '^socketpair plain ok$' "$T/$name.out"; then
	fail "$name" "a socketpair on the freed numbers did not carry plain bytes$(show "$T/$name.out")"
elif ! grep -q '^eventfd present$' "$T/$name.out"; then
	fail "$name" "the library never made its wake-up eventfd after the first wait found no room$(show "$T/$name.out")"
elif [ "$rc" -ne 0 ]; then
	fail "$name" "emfile_server exited $rc (descriptors leaked?)$(show "$T/$name.out" "$T/$name.err")"
else
	pass "$name ($(grep -E '^fds ' "$T/$name.out" | tr '\n' ';'))"
fi
