#!/bin/sh
# Fail closed through the pump (classes 10 and 17): tests/progs/fc_pump.c.
# 10  a session handed to the pump (fork with a live session, fdopen, exec
#     with the fd on 0 or on 3) whose peer truncates (TCP FIN without
#     close_notify): the program's stdio read fails with ECONNRESET instead
#     of reading as end of file; an exec'd cat reports the error and exits
#     non-zero; getpeername()/getsockname() on the pumped fd return the
#     original TCP addresses.
# 17  a reader thread blocked in read() (or in poll()) while another thread
#     forks (or calls system()): the session moves to a pump, the peer then
#     sends, and the blocked reader receives it, and later data too.
# Every byte crosses a recording relay: TLS records only, sentinel never
# in clear.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim
[ -x "$PROGS/fc_pump" ] || { fail setup "$PROGS/fc_pump missing (make test-build)"; exit 1; }

# pump_case NAME SERVER-MODE MODE DESC [SERVER ARGS...]
pump_case() {
	_n=$1 _sm=$2 _m=$3 _d=$4; shift 4
	if ! fc_start "$_n" --mode "$_sm" "$@"; then
		fail "$_d" "peer or relay did not start"
		return 1
	fi
	fc_policy "$T/$_n.conf"
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 45 env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/$_n.conf" "$PROGS/fc_pump" "$_m" 127.0.0.1 "$R" "$SENT" \
		>"$T/$_n.out" 2>"$T/$_n.err"
	RC=$?
	srv_settled "$_n" 1 5
	fc_stop
	fc_wire "$_n" --min-conns 1 --need-bytes
	WRC=$?
	RES=$(grep '^result:' "$T/$_n.out")
	return 0
}

report() {
	if [ "$RC" -eq 0 ] && [ "$WRC" -eq 0 ] && [ "$RES" = "result: ok" ]; then
		pass "$2 ($WIRE_OUT; $(grep -E '^(second fgets|addresses)' "$T/$1.out" | tr '\n' ';'))"
	else
		fail "$2" "exit $RC; $RES; $(grep -v '^result' "$T/$1.out" | tr '\n' '|' | cut -c1-400) $(head -c 300 "$T/$1.err") $WIRE_OUT; peer: $(srv_status "$1"); log: $(log_tail "$T/$1.log")"
	fi
}

GREET="$SENT greeting from the peer
"
for m in fork fdopen; do
	pump_case "trunc-$m" greet-reply "trunc-$m" x --greeting "$GREET" --close fin &&
	report "trunc-$m" "truncation (FIN without close_notify) of a session pumped by $m(): stdio's fgets fails with ECONNRESET, not end of file; getpeername/getsockname unchanged"
done

for m in exec0 exec3; do
	d="truncation of a session that crossed exec (cat reading it on fd $([ $m = exec0 ] && echo 0 || echo 3)): cat reports the error and exits non-zero"
	if pump_case "trunc-$m" greet-reply "trunc-$m" "$d" --greeting "$GREET" --close fin; then
		if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && [ "$WRC" -eq 0 ] &&
		   grep -q -x -F "reply to: $SENT client line" "$T/trunc-$m.out" &&
		   grep -q -i 'reset' "$T/trunc-$m.err"; then
			pass "$d (exit $RC: $(head -n 1 "$T/trunc-$m.err"); $WIRE_OUT)"
		else
			fail "$d" "cat exited $RC; stdout: $(tr '\n' '|' <"$T/trunc-$m.out" | cut -c1-300); stderr: $(head -c 300 "$T/trunc-$m.err"); $WIRE_OUT; peer: $(srv_status "trunc-$m"); log: $(log_tail "$T/trunc-$m.log")"
		fi
	fi
done

for m in fork system; do
	pump_case "blocked-$m" echo "blocked-$m" x &&
	report "blocked-$m" "a reader thread blocked in read() while another thread calls $m(): the session moves to a pump; the peer's later data reaches the blocked reader, in order"
done
pump_case blocked-poll echo blocked-poll x &&
report blocked-poll "a reader thread blocked in poll(POLLIN) while another thread calls fork(): the peer's later data wakes it and reaches it, in order"
