#!/bin/sh
# tests/preload/asyncio.sh — epoll readiness on TLS fds, seen by real event
# loops: Python's asyncio (a plain echo server, run under the shim, and a
# plain asyncio client with a connect rule) and our own epoll_server
# (level-triggered, edge-triggered, EPOLLONESHOT; 1- and 7-byte reads per
# wake-up; epoll_wait, epoll_pwait, epoll_pwait2), each talked to by a
# Python ssl client that sends 200 lines (50 on the ASan build) in one
# write and wants them back.
# Tiny reads leave most of a record's plain text inside the TLS layer: the
# servers only go on if epoll reports that buffered plain text (and, for
# edge-triggered ones, if reading to EAGAIN really drains it); no wake-up
# may be empty (EPOLLIN, then EAGAIN).  Also: stalled handshakes time out
# on non-blocking sockets while others are served; a 4 MB echo with
# back-pressure; buffered plain text is an edge, not a level, for EPOLLET;
# ioctl(FIONREAD) counts plain text; a closed fd leaves every epoll
# instance; half a TLS record is not readable (no echo, no busy loop: CPU
# time of the server, not wall-clock time, is measured), the second half is.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
need_shim asyncio_setup
if [ ! -x "$PROGS/epoll_server" ]; then
	fail asyncio_setup "$PROGS/epoll_server missing (make test-build)"; exit 1
fi

accept_policy() {
	policy "$T/p.conf" <<EOF
rules = ( { name = "epoll-in"; direction = "accept"; port = $1;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
}

# The client: 200 lines in one write (one TLS record), read them back,
# close_notify both ways.  On the ASan build 50 lines (2,100 bytes, still
# one record, most of it left inside the TLS layer by each tiny read):
# every 1-byte read is a wake-up through the instrumented library, and
# the 200 lines' 8,400 wake-ups a case took 1 to 1.7 s of CPU there (10 s
# of the script's 19); each later wake-up repeats the paths of the first.
NL=200
asan_build && NL=50

# A plain asyncio echo server (it knows nothing about TLS).
#   stream:   asyncio.start_server, reader.read(1), writer.write, drain
#   buffered: a BufferedProtocol whose buffer is 1 byte long, so that the
#             selector transport's recv_into() reads 1 byte per wake-up
#             (with start_server the transport reads up to 256 KiB per
#             wake-up; only the StreamReader's reads are 1 byte long)
# Prints "listening", serves N connections, exits 0 (1 on an error).

# lines_case NAME SERVER-PID SERVER-OUT SERVER-ERR: run the lines client
# against the server started on $P, then the server must exit 0.
lines_case() {
	_lc_name=$1 _lc_pid=$2 _lc_out=$3 _lc_err=$4
	timeout $((40 * TS)) "$PY" "$PYD/lines_client.py" "$P" "$CERTS/ca.crt" "$NL" >"$T/$_lc_name.cli" 2>&1
	_lc_crc=$?
	wait_exit "$_lc_pid" 15; _lc_rc=$?
	if [ "$_lc_crc" -ne 0 ] || ! grep -q '^echo ok$' "$T/$_lc_name.cli"; then
		fail "$_lc_name" "$NL lines not echoed exactly (client exit $_lc_crc)$(show "$T/$_lc_name.cli" "$_lc_out" "$_lc_err" "$TLSSHIM_LOG_FILE")"
	elif [ "$_lc_rc" -ne 0 ]; then
		fail "$_lc_name" "server exited $_lc_rc after the connection$(show "$_lc_out" "$_lc_err" "$TLSSHIM_LOG_FILE")"
	elif grep -q 'spurious=[1-9]' "$_lc_err"; then
		fail "$_lc_name" "epoll reported EPOLLIN and the read that followed said EAGAIN (handshake or half record shown as readable)$(show "$_lc_err")"
	elif ! grep -q '^unwrap ok$' "$T/$_lc_name.cli"; then
		fail "$_lc_name" "echo ok, but no close_notify back from the server$(show "$T/$_lc_name.cli" "$_lc_err" "$TLSSHIM_LOG_FILE")"
	else
		pass "$_lc_name"
	fi
}

# --- Python asyncio -----------------------------------------------------
for mode in stream buffered; do
	name=asyncio_${mode}_1byte_reads_${NL}_lines
	P=$(free_port); accept_policy "$P"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	shimbg "$PY" "$PYD/asyncio_echo_server.py" "$mode" "$P" 1 >"$T/$name.out" 2>"$T/$name.err"
	srv=$!
	if ! wait_for "$T/$name.out" '^listening' 15; then
		fail "$name" "asyncio server never listened$(show "$T/$name.out" "$T/$name.err")"
		stop "$srv"; continue
	fi
	if ! grep -q 'listening EpollSelector' "$T/$name.out"; then
		fail "$name" "asyncio does not use epoll here$(show "$T/$name.out")"
		stop "$srv"; continue
	fi
	lines_case "$name" "$srv" "$T/$name.out" "$T/$name.err"
done

# --- an asyncio CLIENT under the shim (connect rule) ---------------------
# asyncio.open_connection("localhost"): getaddrinfo, a non-blocking
# connect, the socket registered for EPOLLOUT, then SO_ERROR: writable
# only once the server is verified; a wrongly named server makes it
# ECONNREFUSED, logged, nothing sent.
for cert in server wrongname; do
	name=asyncio_client_open_connection_verified_echo
	[ "$cert" = wrongname ] && name=asyncio_client_open_connection_wrong_name_refused
	P=$(free_port)
	policy "$T/c.conf" <<EOF
rules = ( { name = "asyncio-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	if ! start_peer "$name.srv" server --port "$P" --cert "$CERTS/$cert.crt" --key "$CERTS/$cert.key" \
		--record "$T/$name.rec" --status "$T/$name.status"; then
		fail "$name" "TLS echo server did not start"; continue
	fi
	timeout $((40 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/c.conf" "$PY" "$PYD/asyncio_client.py" "$P" \
		>"$T/$name.cli" 2>&1
	crc=$?
	wait_exit "$PEER" 20
	if [ "$cert" = server ]; then
		if [ "$crc" -eq 0 ] && grep -q '^echo ok$' "$T/$name.cli" && grep -q '^eof clean$' "$T/$name.status"; then
			pass "$name"
		else
			fail "$name" "client exit $crc$(show "$T/$name.cli" "$T/$name.status" "$TLSSHIM_LOG_FILE")"
		fi
	else
		if [ "$crc" -eq 2 ] && grep -q "Errno 111.*'127.0.0.1'" "$T/$name.cli" &&
		   [ "$(lines "$TLSSHIM_LOG_FILE" 'hostname mismatch')" -eq 1 ] && ! grep -q SECRET "$T/$name.rec" 2>/dev/null; then
			pass "$name"
		else
			fail "$name" "expected ECONNREFUSED and one log line; client exit $crc$(show "$T/$name.cli" "$TLSSHIM_LOG_FILE")"
		fi
	fi
done

# --- epoll_server: LT, ET, ET+ONESHOT (and LT+ONESHOT), 1 and 7 bytes ----
for m in lt: et:-e et_oneshot:-e,-o lt_oneshot:-o lt_pwait:-w,pwait et_pwait2:-e,-w,pwait2; do
	label=${m%%:*}
	flags=$(echo "${m#*:}" | tr ',' ' ')
	for b in 1 7; do
		case "$label" in *pwait*) [ "$b" = 7 ] && continue ;; esac
		name=epoll_${label}_${b}byte_reads_${NL}_lines
		P=$(free_port); accept_policy "$P"
		export TLSSHIM_LOG_FILE="$T/$name.log"
		# shellcheck disable=SC2086
		shimbg "$PROGS/epoll_server" $flags -b "$b" -n 1 "$P" >"$T/$name.out" 2>"$T/$name.err"
		srv=$!
		if ! wait_for "$T/$name.out" '^listening' 10; then
			fail "$name" "epoll_server never listened$(show "$T/$name.err")"
			stop "$srv"; continue
		fi
		lines_case "$name" "$srv" "$T/$name.out" "$T/$name.err"
	done
done

# Stalled handshakes with handshake_timeout_ms = 1000 * TS (long enough for
# the TLS client's own handshake on a busy machine): a silent client (TCP
# only, nothing sent) and a client that sends half a ClientHello and then
# nothing.  The event loop goes on serving a TLS client meanwhile (the
# handshakes are the shim's business, invisible to the program: no
# wake-up whose read says EAGAIN), and both handshakes fail after the
# timeout (counted from the accept) even on this non-blocking socket:
# epoll reports the fd, its read says ECONNRESET, the server closes it,
# and a log line names the timeout, for each.  (The silent client would
# give up by itself after 8*TS s: it must see the close before that.)
for m in lt: et_oneshot:-e,-o; do
	label=${m%%:*}
	flags=$(echo "${m#*:}" | tr ',' ' ')
	name=epoll_${label}_stalled_handshake_times_out_others_served
	P=$(free_port)
	policy "$T/p.conf" <<EOF
rules = ( { name = "epoll-in"; direction = "accept"; port = $P; handshake_timeout_ms = $((1000 * TS));
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOF
	export TLSSHIM_LOG_FILE="$T/$name.log"
	# shellcheck disable=SC2086
	shimbg "$PROGS/epoll_server" $flags -b 7 -n 3 "$P" >"$T/$name.out" 2>"$T/$name.err"
	srv=$!
	if ! wait_for "$T/$name.out" '^listening' 10; then
		fail "$name" "epoll_server never listened$(show "$T/$name.err")"; stop "$srv"; continue
	fi
	bg "$PY" "$TLSPEER" silent --port "$P" --hold $((8 * TS)) >"$T/$name.silent" 2>&1
	silent=$!
	bg "$PY" "$PYD/half_hello.py" "$P" $((15 * TS)) >"$T/$name.stalled" 2>&1
	stalled=$!
	timeout $((40 * TS)) "$PY" "$PYD/lines_client.py" "$P" "$CERTS/ca.crt" "$NL" >"$T/$name.cli" 2>&1
	wait_exit "$stalled" 20
	wait_exit "$silent" 20
	wait_exit "$srv" 10; rc=$?
	if ! grep -q '^echo ok$' "$T/$name.cli"; then
		fail "$name" "the TLS client next to the stalled ones was not served$(show "$T/$name.cli" "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	elif ! grep -q '^closed$' "$T/$name.stalled"; then
		fail "$name" "the half-ClientHello connection was not closed$(show "$T/$name.stalled" "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	elif ! grep -q '^epoll_server: read: Connection reset by peer$' "$T/$name.err"; then
		fail "$name" "the stalled connection's read did not fail with ECONNRESET$(show "$T/$name.err")"
	elif ! grep -q '^closed$' "$T/$name.silent"; then
		fail "$name" "the client that never sent a ClientHello was not timed out$(show "$T/$name.silent" "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	elif [ "$(lines "$TLSSHIM_LOG_FILE" 'handshake timeout')" -ne 2 ]; then
		fail "$name" "expected two log lines naming the timeout (the silent and the stalled client)$(show "$TLSSHIM_LOG_FILE")"
	elif grep -q 'spurious=[1-9]' "$T/$name.err"; then
		fail "$name" "epoll reported EPOLLIN during a handshake and read() said EAGAIN$(show "$T/$name.err")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "server exited $rc$(show "$T/$name.err")"
	else
		pass "$name"
	fi
done

# A bulk echo through the edge-triggered server: 4 MB of random data, the
# echo buffered in the server while the socket is full (EPOLLOUT interest,
# reading paused and resumed).
name=epoll_et_bulk_4MB_echo_with_backpressure
P=$(free_port); accept_policy "$P"
export TLSSHIM_LOG_FILE="$T/$name.log"
shimbg "$PROGS/epoll_server" -e -b 16384 -n 1 "$P" >"$T/$name.out" 2>"$T/$name.err"
srv=$!
if wait_for "$T/$name.out" '^listening' 10; then
	peer client --port "$P" --ca "$CERTS/ca.crt" --server-name localhost --random 4000000 \
		--timeout $((40 * TS)) >"$T/$name.cli" 2>&1
	crc=$?
	wait_exit "$srv" 15; rc=$?
	if [ "$crc" -ne 0 ] || ! grep -q '^echo ok 4000000$' "$T/$name.cli"; then
		fail "$name" "client exit $crc$(show "$T/$name.cli" "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "server exited $rc$(show "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	else
		pass "$name"
	fi
else
	fail "$name" "epoll_server never listened$(show "$T/$name.err")"; stop "$srv"
fi

# --- edge-triggered: buffered plain text is an edge, not a level ---------
# A plain Python server registers the connection EPOLLIN|EPOLLET, reads 1
# byte of a 1000-byte record, then (as an edge-triggered program that has
# its own "still readable" flag may: nginx does, while it cannot take more)
# does not read for 1 s and keeps calling epoll_wait.  With the kernel's
# TCP that is silence (no new data, no new edge); under the shim the 999
# buffered bytes must not be reported again and again (a busy loop): at
# most 2 wake-ups (CPU time of the server under 0.5 s).  Then it reads to
# EAGAIN and must get the 999 bytes.
name=epoll_et_unread_plaintext_not_reported_forever
P=$(free_port); accept_policy "$P"
export TLSSHIM_LOG_FILE="$T/$name.log"
shimbg "$PY" "$PYD/et_server.py" "$P" >"$T/$name.out" 2>"$T/$name.err"
srv=$!
if wait_for "$T/$name.out" '^listening' 15; then
	timeout $((30 * TS)) "$PY" "$PYD/et_client.py" "$P" "$CERTS/ca.crt" >"$T/$name.cli" 2>&1
	wait_exit "$srv" 10; rc=$?
	wk=$(sed -n 's/^wakeups //p' "$T/$name.out")
	cpu=$(sed -n 's/^cpu //p' "$T/$name.out")
	if ! grep -q "^first b'x'$" "$T/$name.out" || [ -z "$wk" ]; then
		fail "$name" "the server did not get its first byte$(show "$T/$name.out" "$T/$name.err" "$T/$name.cli")"
	elif [ "$wk" -gt 2 ] || ! awk -v c="$cpu" 'BEGIN { exit !(c < 0.5) }'; then
		fail "$name" "epoll_wait reported the same buffered plain text $wk times in 1 s (${cpu}s CPU) to an EPOLLET registration that did not read: a busy loop (the kernel reports nothing)"
	elif ! grep -q '^rest 999$' "$T/$name.out" || [ "$rc" -ne 0 ]; then
		fail "$name" "reading to EAGAIN afterwards did not give the 999 bytes (exit $rc)$(show "$T/$name.out" "$T/$name.err")"
	else
		pass "$name ($wk wake-ups)"
	fi
else
	fail "$name" "server never listened$(show "$T/$name.out" "$T/$name.err")"; stop "$srv"
fi

# --- ioctl(FIONREAD) counts plain text ------------------------------------
# One 1000-byte write from the client (one record): once epoll says
# readable, FIONREAD says 1000 (not the record's ciphertext size); after
# a 1-byte read 999; after reading those, 0.  Then the client sends half a
# record and waits for the server to say so: FIONREAD must be 0 (the kernel
# holds ciphertext, the program has nothing to read).
name=fionread_counts_plaintext_not_ciphertext
P=$(free_port); accept_policy "$P"
export TLSSHIM_LOG_FILE="$T/$name.log"
shimbg "$PY" "$PYD/fionread_server.py" "$P" "$T/$name.half" >"$T/$name.out" 2>"$T/$name.err"
srv=$!
if wait_for "$T/$name.out" '^listening' 15; then
	timeout $((30 * TS)) "$PY" "$PYD/fionread_client.py" "$P" "$CERTS/ca.crt" "$T/$name.half" >"$T/$name.cli" 2>&1
	wait_exit "$srv" 15; rc=$?
	if ! grep -q '^fionread 1000 999 0 (read 1000)$' "$T/$name.out"; then
		fail "$name" "expected 'fionread 1000 999 0 (read 1000)'$(show "$T/$name.out" "$T/$name.err" "$T/$name.cli")"
	elif ! grep -q '^half sent True$' "$T/$name.out"; then
		fail "$name" "the client never said it sent half a record$(show "$T/$name.out" "$T/$name.cli")"
	elif ! grep -q '^half 0$' "$T/$name.out"; then
		fail "$name" "FIONREAD with half a record in the kernel: $(grep '^half' "$T/$name.out") (expected 0)"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "server exited $rc$(show "$T/$name.err")"
	else
		pass "$name"
	fi
else
	fail "$name" "server never listened$(show "$T/$name.out" "$T/$name.err")"; stop "$srv"
fi

# --- a closed fd leaves every epoll instance -----------------------------
# The kernel drops a closed fd from the epoll instances it was in, so
# programs close without EPOLL_CTL_DEL (nginx does).  Here: two instances;
# conn 1 registered in A, closed without DEL; conn 2 gets the same fd
# number and is registered in B only; after B reported it and 1 byte was
# read (plain text left), A must report nothing: an event carrying conn
# 1's epoll_data (a freed pointer, in C) would be a use-after-free.
name=epoll_closed_fd_leaves_instance_no_stale_events
P=$(free_port); accept_policy "$P"
export TLSSHIM_LOG_FILE="$T/$name.log"
shimbg "$PY" "$PYD/epoll_stale_server.py" "$P" >"$T/$name.out" 2>"$T/$name.err"
srv=$!
if wait_for "$T/$name.out" '^listening' 15; then
	timeout $((30 * TS)) "$PY" "$PYD/two_conns_client.py" "$P" "$CERTS/ca.crt" >"$T/$name.cli" 2>&1
	wait_exit "$srv" 15; rc=$?
	if ! grep -q "^c1 b'f'$" "$T/$name.out" || ! grep -q "^c2 b's'$" "$T/$name.out"; then
		fail "$name" "the two connections were not served$(show "$T/$name.out" "$T/$name.err" "$T/$name.cli")"
	elif ! grep -q '^same fd number True$' "$T/$name.out"; then
		fail "$name" "inconclusive: conn 2 did not get conn 1's fd number$(show "$T/$name.out")"
	elif ! grep -q '^A \[\]$' "$T/$name.out"; then
		fail "$name" "instance A reported an fd closed without EPOLL_CTL_DEL whose number now belongs to a connection registered only in B: $(grep '^A ' "$T/$name.out")"
	elif ! grep -q '^B \[1\]$' "$T/$name.out"; then
		fail "$name" "instance B did not report conn 2's buffered plain text$(show "$T/$name.out")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "server exited $rc$(show "$T/$name.err")"
	else
		pass "$name"
	fi
else
	fail "$name" "server never listened$(show "$T/$name.out" "$T/$name.err")"; stop "$srv"
fi

# --- half a record ------------------------------------------------------
# A TLS client built on MemoryBIO over a raw socket: handshake, then one
# application-data record cut in two.  After the first half: for 1 s, no
# echo must come back and the server must not spin (its CPU time over that
# second, utime+stime from /proc/PID/stat, stays under 0.5 s).  After the
# second half: the echo.

for m in lt: et:-e et_oneshot:-e,-o; do
	label=${m%%:*}
	flags=$(echo "${m#*:}" | tr ',' ' ')
	name=epoll_${label}_half_record_not_readable
	P=$(free_port); accept_policy "$P"
	export TLSSHIM_LOG_FILE="$T/$name.log"
	# shellcheck disable=SC2086
	shimbg "$PROGS/epoll_server" $flags -b 1 -n 1 "$P" >"$T/$name.out" 2>"$T/$name.err"
	srv=$!
	if ! wait_for "$T/$name.out" '^listening' 10; then
		fail "$name" "epoll_server never listened$(show "$T/$name.err")"
		stop "$srv"; continue
	fi
	timeout $((30 * TS)) "$PY" "$PYD/half_record_client.py" "$P" "$CERTS/ca.crt" "$srv" >"$T/$name.cli" 2>&1
	wait_exit "$srv" 10; rc=$?
	early=$(sed -n 's/^early //p' "$T/$name.cli")
	cpu=$(sed -n 's/^cpu //p' "$T/$name.cli")
	if [ -z "$early" ] || [ -z "$cpu" ]; then
		fail "$name" "the half-record client did not get that far$(show "$T/$name.cli" "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	elif [ "$early" != 0 ]; then
		fail "$name" "echo came back ($early bytes) with only half a record sent$(show "$T/$name.cli")"
	elif ! awk -v c="$cpu" 'BEGIN { exit !(c < 0.5) }'; then
		fail "$name" "the server used ${cpu}s of CPU in the second it held half a record (busy loop?)$(show "$T/$name.cli" "$T/$name.err")"
	elif ! grep -q '^echo ok$' "$T/$name.cli"; then
		fail "$name" "no echo after the second half$(show "$T/$name.cli" "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	elif ! grep -q '^closed 1: .* spurious=0 ' "$T/$name.err"; then
		fail "$name" "epoll reported EPOLLIN and read() then said EAGAIN$(show "$T/$name.err")"
	elif [ "$rc" -ne 0 ]; then
		fail "$name" "server exited $rc$(show "$T/$name.err" "$TLSSHIM_LOG_FILE")"
	else
		pass "$name"
	fi
done
