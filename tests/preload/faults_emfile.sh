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
#
# ENFILE (the system-wide file table full) cannot be caused safely on a
# shared machine, so it is injected where the kernel would report it:
# tests/progs/preload_enfile.so, preloaded AFTER the library, makes the
# library's own real accept()/accept4() fail with ENFILE on chosen calls
# (TLSSHIM_TEST_ENFILE=3,2,5: three calls fail, one goes through, ...),
# without taking the connection from the listen queue, as the kernel.
#   * emfile_server enfile, shimmed (TLS clients) and not shimmed (the
#     injector alone, plaintext clients): the program sees the same
#     sequence of accept results in both (-1/ENFILE exactly N times, then
#     the connection), is served, and its steady descriptor count is the
#     same before the last two connections and at the end;
#   * redis-server (a real epoll daemon) shimmed, 4 then 3 ENFILE: it logs
#     each failed accept, retries (level-triggered), serves TLS clients
#     (PING, SET/GET) and its descriptor count after them is the one
#     before; nothing crosses in clear (the wire audit).
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

# --- ENFILE at accept (injected) -------------------------------------------
INJ=$PROGS/preload_enfile.so
ENF="3 2 5"
name=enfile_at_accept_same_as_plain_tcp_no_leak
if [ ! -f "$INJ" ]; then
	fail "$name" "$INJ missing (make test-build)"
	exit 0
fi
P=$(free_port); PP=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
# shellcheck disable=SC2086
bg env TLSSHIM_TEST_ENFILE="$(echo $ENF | tr ' ' ',')" LD_PRELOAD="$SHIM_PRELOAD $INJ" TLSSHIM_CONFIG="$POLICY" \
	"$PROGS/emfile_server" enfile "$P" $ENF >"$T/$name.out" 2>"$T/$name.err"
srv=$!
# the same program and injection without the shim (its port is in no rule)
# shellcheck disable=SC2086
bg env TLSSHIM_TEST_ENFILE="$(echo $ENF | tr ' ' ',')" LD_PRELOAD="$INJ" \
	"$PROGS/emfile_server" enfile "$PP" $ENF >"$T/$name.plain" 2>"$T/$name.plain.err"
psrv=$!
if ! wait_for "$T/$name.out" '^listening' 10 || ! wait_for "$T/$name.plain" '^listening' 10; then
	fail "$name" "emfile_server enfile never listened$(show "$T/$name.err" "$T/$name.plain.err")"
	exit 0
fi
i=0 served=0 pserved=0
for n in $ENF; do
	i=$((i + 1))
	peer client --port "$P" --ca "$CERTS/ca.crt" --send "enfile round $i secret-$$" \
		--timeout $((20 * TS)) >"$T/$name.cli$i" 2>&1
	grep -q '^echo ok' "$T/$name.cli$i" && served=$((served + 1))
	peer raw --port "$PP" --send "plain round $i" --record "$T/$name.praw$i" \
		--timeout $((20 * TS)) >"$T/$name.pcli$i" 2>&1
	[ "$(cat "$T/$name.praw$i" 2>/dev/null)" = "plain round $i" ] && pserved=$((pserved + 1))
done
wait_exit "$srv" 30; rc=$?
wait_exit "$psrv" 30; prc=$?
nr=$(echo $ENF | wc -w)
want=$(for n in $ENF; do echo "accepted after $n ENFILE"; done)
seq_of() { grep -E '^(accept|accepted|closed|read|write)' "$1"; }
if [ "$served" -ne "$nr" ] || [ "$pserved" -ne "$nr" ]; then
	fail "$name" "$served of $nr TLS clients, $pserved of $nr plain clients served$(show "$T/$name.out" "$T/$name.cli1" "$T/$name.plain" "$T/$name.pcli1" "$TLSSHIM_LOG_FILE")"
elif [ "$(grep '^accepted after' "$T/$name.out")" != "$want" ]; then
	fail "$name" "the shimmed program did not see accept() fail with ENFILE exactly $ENF times$(show "$T/$name.out")"
elif [ "$(seq_of "$T/$name.out")" != "$(seq_of "$T/$name.plain")" ]; then
	fail "$name" "accept results differ from plain TCP: shimmed [$(seq_of "$T/$name.out" | tr '\n' '|')] plain [$(seq_of "$T/$name.plain" | tr '\n' '|')]"
elif [ "$rc" -ne 0 ] || [ "$prc" -ne 0 ]; then
	fail "$name" "emfile_server enfile exited $rc (plain: $prc): descriptors leaked or a check failed$(show "$T/$name.out" "$T/$name.plain")"
elif grep -q "secret-$$" "$TLSSHIM_LOG_FILE" 2>/dev/null; then
	fail "$name" "program data in the shim's log"
else
	pass "$name ($(echo $ENF | tr ' ' ',') ENFILE then served, as plain TCP; $(grep -E '^fds before' "$T/$name.out"))"
fi

name=redis_enfile_at_accept_keeps_serving
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	fail "$name" "redis-server / redis-cli not installed (redis-server, redis-tools)"
	exit 0
fi
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "redis"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
export TLSSHIM_LOG_FILE="$T/$name.log"
mkdir -p "$T/redis.d"
# the first accept goes through (a run of 0), then 4 fail, one works, 3 fail
bg env TLSSHIM_TEST_ENFILE=0,4,3 LD_PRELOAD="$SHIM_PRELOAD $INJ" TLSSHIM_CONFIG="$POLICY" \
	redis-server --save '' --appendonly no --bind 127.0.0.1 --daemonize no --port "$P" \
	--dir "$T/redis.d" --logfile '' --loglevel notice >"$T/redis.out" 2>&1
rsrv=$!
rcli() { timeout $((30 * TS)) redis-cli --tls --cacert "$CERTS/ca.crt" --sni localhost -h 127.0.0.1 -p "$P" "$@"; }
if ! wait_for "$T/redis.out" 'Ready to accept connections' 15; then
	fail "$name" "shimmed redis-server did not start$(show "$T/redis.out" "$TLSSHIM_LOG_FILE")"
	exit 0
fi
fdcount() { ls "/proc/$rsrv/fd" 2>/dev/null | wc -l; }
# steady: the descriptor count once unchanged for 0.5 s (the lingering
# close lets go of a socket at the peer's FIN, or within 5 s)
steady() {
	_s_last=$(fdcount) _s_same=0 _s_n=0
	while [ $_s_same -lt 5 ] && [ $_s_n -lt $((100 * TS)) ]; do
		sleep 0.1; _s_now=$(fdcount)
		if [ "$_s_now" = "$_s_last" ]; then _s_same=$((_s_same + 1)); else _s_same=0; fi
		_s_last=$_s_now _s_n=$((_s_n + 1))
	done
	echo "$_s_last"
}
# the first connection (no fault) warms the library up (its wake-up
# eventfd, the lingering close's thread)
first=$(rcli PING 2>&1)
before=$(steady)
out1=$(rcli SET k "v-secret-$$" 2>&1)
out2=$(rcli GET k 2>&1)
after=$(steady)
pong=$(rcli PING 2>&1)
nlog=$(lines "$T/redis.out" 'Accepting client connection: .*Too many open files in system')
if [ "$first" != PONG ] || [ "$out1" != OK ] || [ "$out2" != "v-secret-$$" ] || [ "$pong" != PONG ]; then
	fail "$name" "redis did not serve TLS clients around the ENFILE failures ('$first' '$out1' '$out2' '$pong')$(show "$T/redis.out" "$TLSSHIM_LOG_FILE")"
elif [ "$nlog" -ne 7 ]; then
	fail "$name" "redis logged $nlog failed accepts with ENFILE (want 4 + 3)$(show "$T/redis.out")"
elif [ "$before" != "$after" ]; then
	fail "$name" "redis-server's descriptors: $before before the ENFILE connections, $after after"
elif ! alive "$rsrv"; then
	fail "$name" "redis-server died$(show "$T/redis.out")"
elif grep -q "secret-$$" "$TLSSHIM_LOG_FILE" 2>/dev/null; then
	fail "$name" "program data in the shim's log"
else
	pass "$name (4 + 3 accepts failed with ENFILE, each logged by redis, which served on; fds $before before, $after after)"
fi
stop "$rsrv"
