#!/bin/sh
# A blocking write that finds the peer gone while it waits for room in the
# socket buffer raises SIGPIPE with its EPIPE, as the kernel's TCP does
# (the library returned EPIPE without the signal, and the program's next
# write raised it: a program relying on SIGPIPE's default action ran one
# call longer).  tests/progs/sigpipe_wait fills a connection whose peer
# never reads (the library then holds a record), makes one blocking write,
# and once that write waits (in ppoll, /proc/PID/syscall) the peer sends
# its FIN and a reset: the socket is in CLOSE_WAIT, where Linux's send
# says EPIPE; so does the next write on the failed connection (it raised
# none either).  With MSG_NOSIGNAL: EPIPE and no signal.  A writev that
# sent part of its buffers before the reset returns that count without
# the signal (the library raised it: its later buffers' write failed at
# once); the next write raises it.  A peer that resets without a FIN: the
# waiting write gets ECONNRESET (no signal), and the next write EPIPE with
# SIGPIPE, as the kernel takes the reset's error once (the library said
# ECONNRESET at every write, and a program that ignores write errors was
# never stopped by SIGPIPE).
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

# in_ppoll PID: until PID's (one) thread waits in ppoll (271; 10 s).
in_ppoll() {
	_ip_n=$((100 * TS))
	while [ "$_ip_n" -gt 0 ]; do
		_ip_sc=
		{ read -r _ip_sc _ip_x <"/proc/$1/syscall"; } 2>/dev/null
		[ "$_ip_sc" = 271 ] && return 0
		sleep 0.1; _ip_n=$((_ip_n - 1))
	done
	return 1
}

# run MODE [rst]: sigpipe_wait MODE against a stalling peer that sends its
# FIN and resets (with rst: resets alone) once the write waits; its output
# in $out, its exit status in $rc.
run() {
	P=$(free_port)
	policy "$T/$1.conf" <<EOC
rules = ( { name = "sigpipe-$1"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt";
            close_timeout_ms = 1000; } );
EOC
	rm -f "$T/$1.go"
	bg "$PY" "$PYD/stall_server.py" "$P" "$CERTS/server.crt" "$CERTS/server.key" "$T/$1.go" "--${2:-reset}" \
		>"$T/$1.peer" 2>&1
	_peer=$!
	wait_for "$T/$1.peer" '^listening' 15
	shimbg env TLSSHIM_LOG_FILE="$T/$1.log" "$PROGS/sigpipe_wait" "$P" "$1" >"$T/$1.out" 2>&1
	_prog=$!
	wait_for "$T/$1.out" '^blocking' 15 && in_ppoll "$_prog"
	touch "$T/$1.go"
	wait_exit "$_prog" 20
	rc=$?
	wait_exit "$_peer" 10
	out=$(cat "$T/$1.out")
}

# case_of MODE STATUS OUTPUT PASS-NAME FAIL-NAME [rst]: run MODE; its exit
# status and output must be these.
case_of() {
	run "$1" "${6:-}"
	if [ "$rc" = "$2" ] && [ "$out" = "$3" ]; then
		pass "$4"
	else
		fail "$5" "status $rc: $(echo "$out" | tr '\n' '|')$(tail_of "$T/$1.log" "$T/$1.peer")"
	fi
}
case_of die $((128 + 13)) blocking \
	"a blocking write that finds the peer gone while it waits: the program dies of SIGPIPE on that write" \
	"SIGPIPE on a blocking write (default action)"
case_of handler 0 "blocking
write -1 EPIPE sigpipe 1
write -1 EPIPE sigpipe 2" \
	"the same write with a SIGPIPE handler: EPIPE, the handler run once; the next write: again" \
	"SIGPIPE on a blocking write (handler)"
case_of nosignal 0 "blocking
write -1 EPIPE sigpipe 0
write -1 EPIPE sigpipe 0" \
	"the same write by send(MSG_NOSIGNAL): EPIPE, no SIGPIPE (nor at the next one)" \
	"MSG_NOSIGNAL on a blocking write"
case_of writev 0 "blocking
writev part sigpipe 0
write -1 EPIPE sigpipe 1" \
	"a blocking writev that sent part of its buffers before the reset: the count, no SIGPIPE; the next write: EPIPE and SIGPIPE" \
	"SIGPIPE after a writev's partial count"
case_of reset 0 "blocking
write -1 ECONNRESET sigpipe 0
write -1 EPIPE sigpipe 1" \
	"a peer's reset alone: the waiting write gets ECONNRESET, no SIGPIPE; the next write EPIPE and SIGPIPE" \
	"ECONNRESET once, then EPIPE and SIGPIPE" rst
