#!/bin/sh
# closefrom(3) / close_range(3, ~0U, 0) leave the library's own descriptors
# open (shim/own.c, shim_own_close_range): at start-up, with a TLS session
# live on fd 0 (a pump process holds it), with a session live on its own
# number and another thread blocked in a read on it (closefrom from the
# number above it), and with a closed session's socket lingering (below).
# TLSSHIM_LOG_FILE and debug logging; a real TLS peer behind the recording
# relay (failclosed_common.inc), wire audit on.
# tests/preload/py/closefrom_own.py does it and lists /proc/self/fd (and
# each one's flags in fdinfo) before and after: every close-on-exec number
# >= 3 but the program's sockets (the library's own: the log file, its
# start-up root, the linger thread's wake pipe, the waiters' eventfds...)
# must be open on the same file after, the log file among them.  Then the
# program puts a file of its own at each of those numbers or the lowest free
# one above (F_DUPFD), and the session echoes a line, is closed with
# close_notify, and the program's file holds exactly the program's data.
# With close_range closing ours (own_next() saying "none", a scratch build)
# every case fails: the numbers are closed, and where the session is closed
# in the process (start, keep), the linger thread's wake-up byte lands in
# the program's file that took the wake pipe's number.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim
if ! fc_start peer --mode echo; then
	fail "closefrom_own: setup" "peer or relay did not start"
	exit 1
fi
fc_policy "$T/own.conf"
for case in closefrom:start close_range:start closefrom:fd0 close_range:fd0 \
	closefrom:keep close_range:keep; do
	how=${case%:*} where=${case#*:}
	name=own_descriptors_survive_${how}_$where
	: >"$T/$name.log"
	TLSSHIM_LOG=debug TLSSHIM_LOG_FILE="$T/$name.log" timeout -k 2 $((30 * TS)) \
		env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/own.conf" \
		"$PY" "$PYD/closefrom_own.py" "$R" "$SENT" "$how" "$where" "$T/$name.file" \
		>"$T/$name.out" 2>&1
	rc=$?
	srv_settled peer 1 $((10 * TS)) && relay_settled "$R" $((2 * TS))
	fc_collect peer "$name"
	fc_wire "$name" --min-conns 1 --sentinel 'tlsshim['
	wrc=$?
	bad=
	[ $rc -eq 0 ] || bad="$bad exit $rc;"
	[ $wrc -eq 0 ] || bad="$bad wire: $WIRE_OUT;"
	grep -q "^own before .* [0-9]*=$T/$name.log flags " "$T/$name.out" ||
		bad="$bad the log file is not among the library's own numbers;"
	grep -q -x 'own lost 0: ' "$T/$name.out" || bad="$bad $(grep '^own lost' "$T/$name.out");"
	grep -q -x 'echo2 ok' "$T/$name.out" || bad="$bad no second echo;"
	! grep -q 'reader never waited' "$T/$name.out" || bad="$bad the reader never waited in ppoll;"
	srv_status "$name" | grep -q 'eof clean' || bad="$bad no close_notify: $(srv_status "$name");"
	grep -q 'close_notify sent' "$T/$name.log" || bad="$bad no \"close_notify sent\" in the log file;"
	printf 'PROGRAM DATA' >"$T/$name.expect"
	cmp -s "$T/$name.file" "$T/$name.expect" ||
		bad="$bad the program's file holds: $(cat -v "$T/$name.file");"
	if [ -z "$bad" ]; then
		n=$(sed -n 's/^own before \([0-9]*\):.*/\1/p' "$T/$name.out")
		ok="the library's $n own descriptors open on the same files after it, the program's"
		ok="$ok file at or above their numbers holds only its data, the session echoes"
		pass "$name: $ok and ends with close_notify ($WIRE_OUT)"
	else
		bad="$bad out: $(grep -v '^own before' "$T/$name.out" | tr '\n' '|')"
		fail "$name" "$bad log: $(log_tail "$T/$name.log")"
	fi
done
fc_stop

# The linger thread's duplicate of a closed session's socket is one of
# the library's own too (shim/linger.c): closefrom / close_range while it
# lingers (a TLS server of the program's own in a thread holds its end;
# tests/preload/py/closefrom_own_linger.py) leaves it open, and the
# linger thread lets go of it at the server's FIN; a socket pair of the
# program's put at its number or above keeps the program's data.
P=$(free_port)
policy "$T/linger.conf" <<EOC
rules = ( { name = "own-linger"; direction = "connect"; port = $P; address = "127.0.0.1/32";
            ca = "$CERTS/ca.crt"; } );
EOC
for how in closefrom close_range; do
	name=own_descriptors_survive_${how}_lingering
	: >"$T/$name.log"
	TLSSHIM_LOG=debug TLSSHIM_LOG_FILE="$T/$name.log" timeout -k 2 $((30 * TS)) \
		env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/linger.conf" \
		"$PY" "$PYD/closefrom_own_linger.py" "$how" "$P" "$CERTS/server.crt" "$CERTS/server.key" \
		>"$T/$name.out" 2>&1
	rc=$?
	bad=
	[ $rc -eq 0 ] || bad="$bad exit $rc;"
	grep -q -x 'lingering True' "$T/$name.out" || bad="$bad no lingering close;"
	grep -q "^own before .* [0-9]*=$T/$name.log flags .* [0-9]*=socket:\[" "$T/$name.out" ||
		bad="$bad the log file or the lingering socket is not among the library's own numbers;"
	grep -q -x 'own lost 0: ' "$T/$name.out" || bad="$bad $(grep '^own lost' "$T/$name.out");"
	grep -q -x 'linger done True' "$T/$name.out" || bad="$bad the linger thread never let go;"
	grep -q -x "pair b'PROGRAM DATA'" "$T/$name.out" || bad="$bad $(grep '^pair ' "$T/$name.out");"
	if [ -z "$bad" ]; then
		n=$(sed -n 's/^own before \([0-9]*\):.*/\1/p' "$T/$name.out")
		ok="the library's $n own descriptors (a lingering socket among them) open on the same"
		ok="$ok files after it, the linger thread lets go at the FIN, the program's socket pair"
		pass "$name: $ok keeps its data"
	else
		bad="$bad out: $(grep -v '^own before' "$T/$name.out" | tr '\n' '|')"
		fail "$name" "$bad log: $(log_tail "$T/$name.log")"
	fi
done
