#!/bin/sh
# Fail closed around the shim's own log (classes 9 and 11).
#  9  tests/progs/fc_log.c with TLSSHIM_LOG=debug and TLSSHIM_LOG_FILE:
#     closefrom(3) / close_range(3, ~0U, 0) at start-up, then a socket on fd 3
#     to a TLS destination: no log line lands on the socket (the capture
#     holds no "tlsshim["), the log file still gets the shim's lines.  And
#     dup2() of a file, or of the TLS socket, onto the log's fd number: the
#     program's dup2 succeeds and its data goes where it said, the log
#     keeps going to the log file.  And without a log file: close(2), then
#     the TLS socket is fd 2: the log never writes onto it.
# 11  a set-user-ID-root program (a copy of fc_entry) run by uid 65534 with
#     TLSSHIM_LOG_FILE and TLSSHIM_CONFIG pointing at files of the caller's
#     (and TLSSHIM_LOG_LIMIT=junk: the caller must not set what the log
#     keeps): the shim comes from /etc/ld.so.preload (a bind-mounted copy of
#     /etc in a private mount namespace; the real /etc is never touched) and
#     must ignore all three (secure-execution mode: the log file is never
#     created, no word about the limit,
#     the system policy applies, the connection is TLS).  And a
#     TLSSHIM_CONFIG holding a newline and a forged log line: every error
#     line stays one line, the newline escaped (\x0a).
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim
for p in fc_log fc_entry; do
	[ -x "$PROGS/$p" ] || { fail setup "$PROGS/$p missing (make test-build)"; exit 1; }
done

if ! fc_start peer --mode echo; then
	fail "log: setup" "peer or relay did not start"
	exit 1
fi
fc_policy "$T/log.conf"

# ---- 9 -------------------------------------------------------------------------
# logcase MODE DESC [fc_log extra args]
logcase() {
	_m=$1 _d=$2; shift 2
	: >"$T/$_m.log"
	TLSSHIM_LOG=debug TLSSHIM_LOG_FILE="$T/$_m.log" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/log.conf" "$PROGS/fc_log" "$_m" 127.0.0.1 "$R" "$SENT" "$@" \
		>"$T/$_m.out" 2>"$T/$_m.err"
	rc=$?
	srv_settled peer 1 5
	fc_collect peer "$_m"
	fc_wire "$_m" --min-conns 1 --sentinel 'tlsshim['
	wrc=$?
	# The shim's lines about this very connection reached the log file.
	conn_lines=$(grep -c -E "127\.0\.0\.1:$R rule \"fc-out\"" "$T/$_m.log")
	if [ $rc -eq 0 ] && [ $wrc -eq 0 ] && [ "$conn_lines" -gt 0 ] && [ -z "${BAD:-}" ]; then
		pass "$_d ($WIRE_OUT; $conn_lines log lines about the connection in the log file${OK:-})"
	else
		fail "$_d" "exit $rc; $(grep -E 'FAIL|^fd|^log fd' "$T/$_m.out" | tr '\n' '|') $WIRE_OUT; $conn_lines log lines about the connection${BAD:-}; log: $(log_tail "$T/$_m.log")"
	fi
	BAD='' OK=''
}

logcase closefrom \
	"closefrom(3) at start-up with TLSSHIM_LOG_FILE and debug logging, then a TLS socket on fd 3: no log line on the socket, the log file keeps the shim's lines"
logcase close_range \
	"close_range(3, ~0U, 0) at start-up, then a TLS socket on fd 3: no log line on the socket, the log file keeps the shim's lines"

# dup2() of a file onto the log's number: the program finds the number by
# the log file's path.
logpath="$T/dup2file.log"
: >"$logpath"
TLSSHIM_LOG=debug TLSSHIM_LOG_FILE="$logpath" timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/log.conf" "$PROGS/fc_log" dup2file 127.0.0.1 "$R" "$SENT" "$logpath" \
	"$T/program.file" >"$T/dup2file.out" 2>"$T/dup2file.err"
rc=$?
srv_settled peer 1 5
fc_collect peer dup2file
fc_wire dup2file --min-conns 1 --sentinel 'tlsshim['
wrc=$?
# The program's file holds exactly the program's data.
if [ "$(cat "$T/program.file" 2>/dev/null)" != "PROGRAM DATA" ]; then
	BAD="; the program's file holds: $(head -c 200 "$T/program.file" 2>/dev/null | tr '\n' '|')"
fi
conn_lines=$(grep -c -E "127\.0\.0\.1:$R rule \"fc-out\"" "$logpath")
if [ $rc -eq 0 ] && [ $wrc -eq 0 ] && [ "$conn_lines" -gt 0 ] && [ -z "${BAD:-}" ]; then
	pass "dup2() of a file onto the shim's log fd ($(grep '^log fd' "$T/dup2file.out")): dup2 succeeds, the program's data lands in its file, the log keeps going to the log file ($conn_lines lines about the connection after it; $WIRE_OUT)"
else
	fail "dup2() of a file onto the shim's log fd" "exit $rc; $(grep -E 'FAIL|fd' "$T/dup2file.out" | tr '\n' '|') $WIRE_OUT; $conn_lines log lines about the connection${BAD:-}; log: $(log_tail "$logpath")"
fi
BAD=

logcase dup2sock \
	"dup2() of the TLS socket onto the shim's log fd: dup2 succeeds, the copy is TLS, no log line on the socket, the log keeps going to the log file" \
	"$T/dup2sock.log" /dev/null

# No log file: the log goes to standard error, which the program closed;
# its TLS socket is fd 2 now.
TLSSHIM_LOG=debug timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/log.conf" \
	"$PROGS/fc_log" stderr 127.0.0.1 "$R" "$SENT" >"$T/stderr.out"
rc=$?
srv_settled peer 1 5
fc_collect peer stderr
fc_wire stderr --min-conns 1 --sentinel 'tlsshim['
wrc=$?
if [ $rc -eq 0 ] && [ $wrc -eq 0 ]; then
	pass "close(2) at start-up, logging to standard error at debug level, then a TLS socket on fd 2: no log line on the socket ($WIRE_OUT)"
else
	fail "close(2), then a TLS socket on fd 2: no log line on it" "exit $rc; $(tr '\n' '|' <"$T/stderr.out") $WIRE_OUT"
fi

# No log file: the program dup2()s /dev/null onto standard error, then
# closes it and opens its own file, which takes number 2: no log line in
# that file (it is not the file the program put on standard error).
TLSSHIM_LOG=debug timeout -k 2 30 env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/log.conf" \
	"$PROGS/fc_log" stderr-reuse 127.0.0.1 "$R" "$SENT" - "$T/reuse.file" >"$T/reuse.out"
rc=$?
srv_settled peer 1 5
fc_collect peer reuse
fc_wire reuse --min-conns 1 --sentinel 'tlsshim['
wrc=$?
if [ $rc -eq 0 ] && [ $wrc -eq 0 ] && [ "$(cat "$T/reuse.file" 2>/dev/null)" = "PROGRAM DATA" ]; then
	pass "dup2() onto standard error, then close(2) and a file of the program's on number 2, debug logging: no log line in the program's file ($WIRE_OUT)"
else
	fail "a file of the program's on number 2 after dup2 and close: no log line in it" "exit $rc; $(grep FAIL "$T/reuse.out" | tr '\n' '|') $WIRE_OUT; the file holds: $(head -c 300 "$T/reuse.file" 2>/dev/null | tr '\n' '|')"
fi

# A FIFO as TLSSHIM_LOG_FILE (no reader): the program runs (the open never
# waits), the library says on standard error that it logs there instead.
mkfifo "$T/log.fifo"
TLSSHIM_LOG_FILE="$T/log.fifo" timeout -k 2 $((10 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/log.conf" /bin/true 2>"$T/fifo.err"
rc=$?
if [ $rc -eq 0 ] && grep -q "cannot open TLSSHIM_LOG_FILE \"$T/log.fifo\": .*; logging to standard error" "$T/fifo.err"; then
	pass "TLSSHIM_LOG_FILE naming a FIFO without a reader: no hang, an error line on standard error"
else
	fail "TLSSHIM_LOG_FILE naming a FIFO" "exit $rc (124: it hung)$(show "$T/fifo.err")"
fi

# TLSSHIM_LOG_FILE=/dev/stderr when standard error is a pipe (a supervisor's,
# a container's): the lines go into the pipe, no error.
TLSSHIM_LOG=info TLSSHIM_LOG_FILE=/dev/stderr timeout -k 2 $((10 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/log.conf" /bin/true 2>&1 | cat >"$T/pipe.err"
if grep -q 'info: policy .*log.conf: 1 rule loaded' "$T/pipe.err" && ! grep -q 'cannot open' "$T/pipe.err"; then
	pass "TLSSHIM_LOG_FILE=/dev/stderr with standard error a pipe: the lines go into the pipe"
else
	fail "TLSSHIM_LOG_FILE=/dev/stderr on a pipe" "$(show "$T/pipe.err")"
fi

# The log's lines to standard error against the program's own descriptor
# numbers (tests/progs/logslot.c once; no log file, a deny rule's refusal
# is the line).  A line's descriptors (a copy of fd 2; for a terminal, a
# file of its own opened through /proc/self/fd) took the lowest free
# numbers, the ones the program's next socket(), accept() or dup() takes:
# tests/progs/preload_slotswap.so does what another thread's dup2() of a
# socket onto such a number between the library's check (fstat) and its
# write does.  No byte of the line may arrive on that socket, with
# standard error a file (the line still gets there) and a terminal.
# nofile: the same with the program's setrlimit(RLIMIT_NOFILE) after
# start-up under the library's own descriptors' base (960): the log's copy
# made at the base failed (EINVAL) and fell back to the lowest free number.
# (logslot race PORT SECONDS does it with a real thread, for a stress.)
P=$(free_port)
policy "$T/slot.conf" <<EOF
rules = ( { name = "slot"; direction = "connect"; port = $P; action = "deny"; } );
EOF
for how in file tty nofile; do
	name=log_stderr_never_on_program_number_$how
	lim=; [ $how = nofile ] && lim=256
	timeout -k 2 $((20 * TS)) env -u TLSSHIM_LOG_FILE LD_PRELOAD="$SHIM_PRELOAD $PROGS/preload_slotswap.so" \
		TLSSHIM_CONFIG="$T/slot.conf" "$PY" - "$how" "$PROGS/logslot" once "$P" $lim \
		>"$T/$name.out" 2>"$T/$name.err" <<'EOP'
import os, pty, subprocess, sys
how, argv = sys.argv[1], sys.argv[2:]
if how == "tty":
    m, s = pty.openpty()
else:
    s = sys.stderr.fileno()
r = subprocess.run(argv, stdin=subprocess.DEVNULL, stderr=s)
sys.exit(r.returncode)
EOP
	rc=$?
	logged=$(grep -c 'rule "slot": connection refused by policy' "$T/$name.err")
	if [ $rc -eq 0 ] && { [ $how = tty ] || [ "$logged" -eq 1 ]; }; then
		pass "$name ($(head -1 "$T/$name.out"); $logged line in the log)"
	else
		fail "$name" "exit $rc, $logged lines in the log$(show "$T/$name.out")"
	fi
done

# ---- 11: secure-execution mode ------------------------------------------------
if ! command -v setpriv >/dev/null 2>&1 || ! command -v unshare >/dev/null 2>&1; then
	fail "set-user-ID program with a hostile environment" "setpriv or unshare missing"
else
	chmod 755 "$T"
	mkdir -p "$T/suid"
	chmod 755 "$T/suid"
	cp "$PROGS/fc_entry" "$T/suid/fc_entry"
	chown 0:0 "$T/suid/fc_entry"
	chmod 4755 "$T/suid/fc_entry"
	cp -a /etc "$T/etc"
	# The system policy names the relay: TLS.  The caller's names it plain.
	for p in $SHIM_PRELOAD; do echo "$p"; done >"$T/etc/ld.so.preload"
	# (Every dynamic program in there loads the shim with this policy, the
	# unprivileged env(1) too: its CA file must be world-readable.)
	cp "$CERTS/ca.crt" "$T/etc/tlsshim-test-ca.crt"
	chmod 644 "$T/etc/tlsshim-test-ca.crt"
	cat >"$T/etc/tlsshim.conf" <<EOC
rules = ( { name = "system-policy"; direction = "connect"; port = $R; address = "127.0.0.1/32";
            ca = "/etc/tlsshim-test-ca.crt"; } );
EOC
	cat >"$T/evil.conf" <<EOC
rules = ( { name = "evil"; direction = "connect"; port = $R; action = "plain"; } );
EOC
	chmod 644 "$T/etc/tlsshim.conf" "$T/evil.conf"
	timeout -k 2 40 unshare -m sh -c '
		mount --bind "$1/etc" /etc || exit 90
		exec setpriv --reuid=65534 --regid=65534 --clear-groups \
			/usr/bin/env TLSSHIM_LOG_FILE="$1/evil" TLSSHIM_CONFIG="$1/evil.conf" TLSSHIM_LOG_LIMIT=junk \
			"$1/suid/fc_entry" connect 127.0.0.1 "$2" "$3"' sh "$T" "$R" "$SENT" \
		>"$T/suid.out" 2>"$T/suid.err"
	rc=$?
	srv_settled peer 1 5
	fc_collect peer suid
	fc_wire suid --min-conns 1 --need-bytes
	wrc=$?
	if [ $rc -eq 90 ]; then
		fail "set-user-ID program with a hostile environment" "cannot bind-mount a copy of /etc in a private mount namespace"
	elif [ $rc -eq 0 ] && [ $wrc -eq 0 ] && [ ! -e "$T/evil" ] &&
	     grep -q 'secure-execution mode' "$T/suid.err" && ! grep -q 'TLSSHIM_LOG_LIMIT' "$T/suid.err"; then
		pass "set-user-ID-root program run by uid 65534 with TLSSHIM_LOG_FILE, TLSSHIM_CONFIG and TLSSHIM_LOG_LIMIT of the caller's: $T/evil never created, the system policy applies (TLS: $WIRE_OUT), the limit not read, the log says secure-execution mode"
	else
		fail "set-user-ID program with a hostile environment" "exit $rc; evil log file $([ -e "$T/evil" ] && echo "CREATED: $(head -c 200 "$T/evil" | tr '\n' '|')" || echo absent); $WIRE_OUT; stderr: $(tr '\n' '|' <"$T/suid.err" | cut -c1-500)"
	fi
fi

# A policy path with a newline and a forged log line in it.
forged="tlsshim[1]: info: FORGED-LINE all is well"
TLSSHIM_CONFIG="$T/no-such-policy
$forged" LD_PRELOAD="$SHIM_PRELOAD" timeout 20 "$PROGS/fc_entry" uring >"$T/esc.out" 2>"$T/esc.err"
rc=$?
lines_with=$(grep -c 'FORGED-LINE' "$T/esc.err")
forged_lines=$(grep -c '^tlsshim\[1\]: info: FORGED-LINE' "$T/esc.err")
escaped=$(grep 'FORGED-LINE' "$T/esc.err" | grep -c -F '\x0a')
if [ $rc -eq 78 ] && [ "$lines_with" -gt 0 ] && [ "$forged_lines" -eq 0 ] && [ "$escaped" -eq "$lines_with" ]; then
	pass "TLSSHIM_CONFIG with a newline and a forged log line: exit 78, every error line escapes the newline (\\x0a), no forged line"
else
	fail "TLSSHIM_CONFIG with a newline and a forged log line: the error output escapes it" "exit $rc; $forged_lines forged line(s), $escaped of $lines_with lines escaped; stderr: $(sed 's/\\/\\\\/g' "$T/esc.err" | tr '\n' '|' | cut -c1-500)"
fi
# Another thread dup2()s a socket onto standard error and back while the
# library logs (a connect a deny rule refuses, each time round): the log
# looked at fd 2, then wrote to the number, and a line could land on the
# socket that got there in between.  1 s, bounded; no byte may arrive.
name=log_stderr_dup2_race
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "nope"; direction = "connect"; port = $P; action = "deny"; } );
EOF
timeout -k 2 $((20 * TS)) env -u TLSSHIM_LOG_FILE LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/$name.conf" \
	"$PROGS/logslot" fd2 "$P" 1 >"$T/$name.out" 2>"$T/$name.err"
rc=$?
refused=$(sed -n 's/^refusals \([0-9]*\) .*/\1/p' "$T/$name.out")
logged=$(grep -c 'rule "nope": connection refused by policy' "$T/$name.err")
if [ $rc -eq 0 ] && [ "${refused:-0}" -gt 100 ] && [ "$logged" -gt 0 ]; then
	pass "$name ($(head -1 "$T/$name.out"); $logged lines in the log)"
else
	fail "$name" "exit $rc, $logged lines in the log$(show "$T/$name.out")"
fi

# The library's last words before abort() (here: OpenSSL's ERR_new not
# found after this library, libcrypto being preloaded before it) went to
# fd 2 with a plain write: onto a socket there too.  Now never onto a
# socket (exit by SIGABRT, no byte), and still onto a pipe.
name=log_fatal_line_never_on_socket
crypto=$(ldd "$TLSSHIM_LIB" | sed -n 's/^[[:space:]]*libcrypto[^ ]* => \([^ ]*\) .*/\1/p')
"$PY" - "${SHIM_PRELOAD%"$TLSSHIM_LIB"}$crypto $TLSSHIM_LIB" $((10 * TS)) >"$T/$name.out" 2>&1 <<'EOP'
import os, socket, subprocess, sys
pre, t = sys.argv[1], int(sys.argv[2])
env = dict(os.environ, LD_PRELOAD=pre)
env.pop("TLSSHIM_LOG_FILE", None)
a, b = socket.socketpair()
rc = subprocess.run(["/bin/true"], env=env, stderr=b.fileno(), timeout=t).returncode
b.close()
a.settimeout(t)
print("socket exit", rc, "bytes", len(a.recv(4096)))
r, w = os.pipe()
rc = subprocess.run(["/bin/true"], env=env, stderr=w, timeout=t).returncode
os.close(w)
print("pipe exit", rc, os.read(r, 4096).decode(errors="replace").strip())
EOP
if [ -z "$crypto" ]; then
	fail "$name" "no libcrypto in ldd $TLSSHIM_LIB"
elif grep -q -x 'socket exit -6 bytes 0' "$T/$name.out" &&
	grep -q -x "pipe exit -6 tlsshim: cannot find OpenSSL's ERR_new" "$T/$name.out"; then
	pass "$name"
else
	fail "$name" "expected 'socket exit -6 bytes 0' and the line on the pipe$(show "$T/$name.out")"
fi
# A terminal that takes no byte (its output stopped), and poll() saying it
# takes more (tests/progs/preload_ttyfull.so: another writer filling it between
# the library's poll and its write): the line (at level info, /bin/true's
# "policy ... loaded") goes through an open file of the library's own,
# non-blocking, so it is dropped, not waited for (before: the blocking
# write held the program for ever).  Then, the terminal drained, the line
# gets through that file.
name=log_full_terminal_never_waits
P=$(free_port)
policy "$T/$name.conf" <<EOF
rules = ( { name = "ttyfull"; direction = "connect"; port = $P; action = "deny"; } );
EOF
"$PY" - "$SHIM_PRELOAD $PROGS/preload_ttyfull.so" "$T/$name.conf" $((10 * TS)) \
	>"$T/$name.out" 2>&1 <<'EOP'
import os, pty, subprocess, sys, fcntl, termios
pre, conf, t = sys.argv[1], sys.argv[2], int(sys.argv[3])
env = dict(os.environ, LD_PRELOAD=pre, TLSSHIM_CONFIG=conf, TLSSHIM_LOG="info")
env.pop("TLSSHIM_LOG_FILE", None)
m, s = pty.openpty()
# Output stopped (as ^S does): the terminal takes no byte, a blocking write
# waits for ever, a non-blocking one fails with EAGAIN, whatever room its
# buffer has (filling the buffer instead left room for the line now and
# then, as the kernel moved bytes on to the reader's side).
termios.tcflow(s, termios.TCOOFF)
def run():
    try:
        return subprocess.run(["/bin/true"], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=s, timeout=t).returncode
    except subprocess.TimeoutExpired:
        return "timeout"
print("full exit", run())
termios.tcflow(s, termios.TCOON)
fcntl.fcntl(m, fcntl.F_SETFL, fcntl.fcntl(m, fcntl.F_GETFL) | os.O_NONBLOCK)
def drain():
    got = b""
    try:
        while True:
            got += os.read(m, 65536)
    except (BlockingIOError, OSError):
        pass
    return got
got = drain()
print("full line", b"rule loaded" in got)
print("drained exit", run())
got = drain()
print("drained line", b"1 rule loaded" in got)
EOP
if grep -q -x 'full exit 0' "$T/$name.out" && grep -q -x 'full line False' "$T/$name.out" &&
	grep -q -x 'drained exit 0' "$T/$name.out" && grep -q -x 'drained line True' "$T/$name.out"; then
	pass "$name"
else
	fail "$name" "expected exit 0 both times, the line only once drained$(show "$T/$name.out")"
fi
fc_stop
