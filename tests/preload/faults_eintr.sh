#!/bin/sh
# tests/preload/faults_eintr.sh — blocking TLS transfers in a signal storm.
#
# eintr_bulk (tests/progs) under the shim on both sides: a client (connect
# rule) sends 8 MB to a server (accept rule), which checks every byte and
# sends them back, checked by the client.  In each process a SIGALRM
# interval timer fires every 250 us from before the connection to its
# close (handshake included).
#   * handler without SA_RESTART: blocking calls return EINTR, as POSIX
#     says (reads and writes on the TLS connection count them: there
#     must be some; the server sends the stream back only once a read of
#     the client's, waiting for it, said EINTR: eintr_bulk -w), the
#     program retries, and every byte arrives intact both ways;
#   * handler with SA_RESTART: the shim restarts its waits itself, so no
#     call returns EINTR, and every byte arrives intact;
#   * the same with a SIGSEGV handler without SA_RESTART installed too (a
#     crash reporter; ASan installs one as well): still no EINTR (a fault
#     signal cannot interrupt a wait; it once made every wait fail).
# No error in the shim's log either way.  (tests/preload/failclosed_signal.sh
# covers handlers that call _exit(), write() or close() mid-write.)
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim faults_eintr_setup
N=8000000

for restart in no yes yes+segv; do
	name=signal_storm_250us_sa_restart_${restart}_8MB_both_ways_intact
	# without SA_RESTART: the server sends the stream back only once a
	# read of the client's said EINTR (its cue file): a wait with nothing
	# to come, which the storm must interrupt (a count of EINTRs left to
	# scheduling was 3 in one run and could be none on a loaded machine)
	flag="-w $T/$name.cue"
	case $restart in yes) flag=-r ;; yes+segv) flag="-r -s" ;; esac
	P=$(free_port)
	policy "$T/$name.conf" <<EOF
rules = (
  { name = "in"; direction = "accept"; port = $P; cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; }
);
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	# shellcheck disable=SC2086
	shimbg "$PROGS/eintr_bulk" $flag server "$P" "$N" >"$T/$name.srv" 2>"$T/$name.srv.err"
	srv=$!
	if ! wait_for "$T/$name.srv" '^listening' 10; then
		fail "$name" "server never listened$(show "$T/$name.srv.err")"; stop "$srv"; continue
	fi
	# shellcheck disable=SC2086
	shimmed "$PROGS/eintr_bulk" $flag client localhost "$P" "$N" >"$T/$name.cli" 2>"$T/$name.cli.err"
	crc=$?
	wait_exit "$srv" 30; src=$?
	se=$(sed -n 's/^ok .* eintr=\([0-9]*\) .*/\1/p' "$T/$name.srv")
	ce=$(sed -n 's/^ok .* eintr=\([0-9]*\) .*/\1/p' "$T/$name.cli")
	# the EINTRs of TLS reads and writes (not accept's or connect's)
	rw=$(cat "$T/$name.srv" "$T/$name.cli" | sed -n 's/^ok .*(read \([0-9]*\), write \([0-9]*\)).*/\1 \2/p' |
		awk '{ n += $1 + $2 } END { print n + 0 }')
	if [ "$crc" -ne 0 ] || [ "$src" -ne 0 ]; then
		fail "$name" "client exit $crc, server exit $src$(show "$T/$name.cli.err" "$T/$name.srv.err" "$TLSSHIM_LOG_FILE")"
	elif [ -z "$se" ] || [ -z "$ce" ]; then
		fail "$name" "a side did not report its data intact$(show "$T/$name.srv" "$T/$name.cli")"
	elif [ "$restart" = no ] && [ "$rw" -eq 0 ]; then
		fail "$name" "no TLS read or write returned EINTR: the storm proves nothing, or EINTR is swallowed$(show "$T/$name.srv" "$T/$name.cli")"
	elif [ "$restart" != no ] && { [ "$se" -ne 0 ] || [ "$ce" -ne 0 ]; }; then
		fail "$name" "calls returned EINTR under SA_RESTART (server $se, client $ce)"
	elif [ "$(lines "$TLSSHIM_LOG_FILE" 'error|warn')" -ne 0 ]; then
		fail "$name" "the shim logged a problem$(show "$TLSSHIM_LOG_FILE")"
	else
		pass "$name (server: $(sed -n 's/^ok //p' "$T/$name.srv"); client: $(sed -n 's/^ok //p' "$T/$name.cli"))"
	fi
done
