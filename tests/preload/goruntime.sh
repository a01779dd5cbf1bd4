#!/bin/sh
# tlsshim-test: long (tests/run.sh: it compiles Go programs, slow on a loaded machine)
# A Go program makes its socket calls itself (the Go runtime's own system
# calls, never the C library's), so no wrapper sees them: under the
# library, with a connect rule asking for TLS, it sent its bytes in clear;
# with an accept rule it would serve plaintext on a TLS port.  The library
# now stops such a program in its constructor (exit 78, one line naming it)
# while the policy has TLS rules, and lets it run under a policy without
# them.  The Go program (tests/progs/goapp.go) is built here with Debian's
# toolchain; it links the C library (cgo), as Go programs that look up
# users or names do, so the dynamic loader preloads the library into it.
# So does a C or Python program that loads a Go library (c-shared,
# tests/progs/golib.go, whose init() connects): its runtime starts on a
# thread of its own, and the program is stopped at that pthread_create,
# before any Go code runs, whether the library came with the program or
# by dlopen() (Python's ctypes) later.
# A real TLS echo peer behind a recording relay: nothing of the program's
# may reach the wire.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim

if ! why=$(go_build "$T/goapp" goapp.go); then
	fail "goruntime: setup" "$why"
	exit 1
fi
if ! fc_start peer --mode echo; then
	fail "goruntime: setup" "peer or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi
if ! why=$(go_build "$T/libgolib.so" golib.go -buildmode=c-shared); then
	fail "goruntime: setup" "$why"
	exit 1
fi
printf '#include <stdio.h>\nchar *GoLibDone(void);\nint main(void) { puts(GoLibDone()); return 0; }\n' >"$T/host.c"
if ! cc -o "$T/golibhost" "$T/host.c" -L"$T" -lgolib -Wl,-rpath,"$T" 2>"$T/host.err"; then
	fail "goruntime: setup" "cannot link a program with the Go library: $(head -c 300 "$T/host.err")"
	exit 1
fi
# The same Go code as an archive (c-archive) built without a build ID and
# linked statically into a C program by the system linker: no Go note, no
# dynamic symbols, its .go.buildinfo inside the program's data; only the
# section's name in the file tells.  (Built after the c-shared library:
# the suite's cache then has the runtime, about 3 s of CPU.)
if ! why=$(go_build "$T/golib.a" golib.go -buildmode=c-archive -ldflags=-buildid=); then
	fail "goruntime: setup" "$why"
	exit 1
fi
if ! cc -o "$T/goarchost" "$T/host.c" "$T/golib.a" -lpthread 2>"$T/arc.err" || ! strip "$T/goarchost" 2>>"$T/arc.err"; then
	fail "goruntime: setup" "cannot link a program with the Go archive: $(head -c 300 "$T/arc.err")"
	exit 1
fi
REFUSAL="a Go program: its runtime makes its system calls itself, never through the C library"
LIBREFUSAL="a Go library: its runtime makes its system calls itself, never through the C library"

# refused NAME [WHO [TEXT [LOGGED]]]: exit 78 ($rc), the refusal of WHO
# (default the Go program) on stderr ($T/NAME.err) and in the log
# ($T/NAME.log) after LOGGED (default "refusing to start").
refused() {
	_who=${2:-$T/goapp} _txt=${3:-$REFUSAL} _lg=${4:-refusing to start}
	if [ "$rc" -eq 78 ] && grep -q -F "tlsshim: $_who: $_txt" "$T/$1.err" &&
	   grep -q -F "$_lg: $_who: $_txt" "$T/$1.log"; then
		return 0
	fi
	return 1
}
# PYLOAD: a Python program that loads the Go library (argv[1]) with
# ctypes (dlopen) and prints what its init() got.
PYLOAD='import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.GoLibDone.restype = ctypes.c_char_p
print(lib.GoLibDone().decode())'
# PYDEEP: the same with RTLD_DEEPBIND (as PHP loads its extensions).
PYDEEP=$(printf '%s\n' "$PYLOAD" | sed 's/ctypes.CDLL(sys.argv\[1\])/ctypes.CDLL(sys.argv[1], mode=os.RTLD_DEEPBIND | os.RTLD_NOW)/; s/^import ctypes, sys/import ctypes, os, sys/')

# under NAME CONF CMD...: CMD under the library with the policy CONF; its
# output in $T/NAME.out and .err, its log in $T/NAME.log; sets rc.
under() {
	_n=$1 _c=$2
	shift 2
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$_c" "$@" >"$T/$_n.out" 2>"$T/$_n.err"
	rc=$?
}
# on_wire NAME: the peer's connections since the last case, as NAME's:
# sets wrc (the audit of the captures: 0 clean) and conns (how many).
# (Every case here must make none: with the relay idle, none is on its
# way; 2 s of waiting for one per case before, 8 cases.)
on_wire() {
	relay_idle "$R" || srv_settled peer 1 2
	fc_collect peer "$1"
	fc_wire "$1"
	wrc=$?
	conns=$(find "$T/$1.wire" -type f | wc -l)
}

# stopped NAME DESCRIPTION [REFUSED ARGS...]: NAME (run by under) was
# refused (refused NAME ARGS...), printed nothing, and nothing of it
# reached the wire.
stopped() {
	_sn=$1 _sd=$2
	shift 2
	on_wire "$_sn"
	if refused "$_sn" "$@" && [ ! -s "$T/$_sn.out" ] && [ $wrc -eq 0 ] && [ "$conns" -eq 0 ]; then
		pass "$_sd"
	else
		fail "$_sd" "exit $rc, out: $(head -c 200 "$T/$_sn.out"), captures: $conns, $WIRE_OUT;"\
" stderr: $(head -c 300 "$T/$_sn.err")"
	fi
}

# ---- a connect rule: refused before main, nothing on the wire -------------------
fc_policy "$T/dial.conf"
under dial "$T/dial.conf" "$T/goapp" dial "127.0.0.1:$R" "$SENT"
on_wire dial
if refused dial && [ ! -s "$T/dial.out" ] && [ $wrc -eq 0 ] && [ "$conns" -eq 0 ]; then
	pass "Go client, TLS connect rule: stopped before main (78), no connection made"
else
	fail "Go client under a TLS connect rule: stopped" "exit $rc, out: $(head -c 200 "$T/dial.out"),"\
" captures: $conns, $WIRE_OUT; stderr: $(head -c 300 "$T/dial.err")"
fi

# ---- an accept rule: refused before it listens -----------------------------------
A=$(fc_ports 1)
policy "$T/listen.conf" <<EOC
rules = ( { name = "go-in"; direction = "accept"; port = $A; cert = "$CERTS/server.crt";
            key = "$CERTS/server.key"; } );
EOC
under listen "$T/listen.conf" "$T/goapp" listen "127.0.0.1:$A"
if refused listen && ! grep -q ready "$T/listen.out"; then
	pass "Go server, TLS accept rule: stopped before it listens (78)"
else
	fail "Go server under a TLS accept rule: stopped" "exit $rc, out: $(head -c 200 "$T/listen.out"),"\
" stderr: $(head -c 300 "$T/listen.err")"
fi

# ---- exec'd by a program under the library ---------------------------------------
under exec "$T/dial.conf" sh -c 'exec "$0" dial "$1" "$2"' "$T/goapp" "127.0.0.1:$R" "$SENT"
on_wire exec
if refused exec && [ $wrc -eq 0 ] && [ "$conns" -eq 0 ]; then
	pass "Go client exec'd by a shell under the library: stopped (78), no connection made"
else
	fail "Go client exec'd under the library: stopped" "exit $rc, captures: $conns, $WIRE_OUT;"\
" stderr: $(head -c 300 "$T/exec.err")"
fi

# ---- a Go library: loaded by dlopen, or linked with the program ---------------------
GOLIB_DIAL=127.0.0.1:$R GOLIB_LINE=$SENT
export GOLIB_DIAL GOLIB_LINE
under dlopen "$T/dial.conf" "$PY" -c "$PYLOAD" "$T/libgolib.so"
on_wire dlopen
if refused dlopen "$T/libgolib.so" "$LIBREFUSAL" "stopping the program" &&
   grep -q -F "; the program that loaded it is stopped: the policy asks for TLS" "$T/dlopen.err" &&
   [ ! -s "$T/dlopen.out" ] && [ $wrc -eq 0 ] && [ "$conns" -eq 0 ]; then
	pass "Go library loaded by dlopen (Python's ctypes), TLS connect rule: the program is stopped (78) before the library's runtime runs, no connection made"
else
	fail "Go library loaded by dlopen under a TLS connect rule: stopped" "exit $rc, out: $(head -c 200 "$T/dlopen.out"),"\
" captures: $conns, $WIRE_OUT; stderr: $(head -c 300 "$T/dlopen.err")"
fi
# The same library loaded with RTLD_DEEPBIND: its runtime's pthread_create
# binds to the C library's own, past the wrapper; it is judged from its
# file before the load (ASan refuses RTLD_DEEPBIND itself: checked so).
asan=0
asan_build && asan=1
if [ $asan = 1 ]; then
	ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$T/refusal" under deep "$T/dial.conf" "$PY" -c "$PYDEEP" "$T/libgolib.so"
else
	under deep "$T/dial.conf" "$PY" -c "$PYDEEP" "$T/libgolib.so"
fi
on_wire deep
if { if [ $asan = 1 ]; then [ $rc -ne 0 ] && cat "$T"/refusal.* 2>/dev/null | grep -q "RTLD_DEEPBIND flag which is incompatible"
     else refused deep "$T/libgolib.so" "$LIBREFUSAL" "stopping the program"; fi; } &&
   [ ! -s "$T/deep.out" ] && [ $wrc -eq 0 ] && [ "$conns" -eq 0 ]; then
	pass "Go library loaded with RTLD_DEEPBIND (ctypes), TLS connect rule: the program is stopped (78) before the library loads, no connection made"
else
	fail "Go library loaded with RTLD_DEEPBIND under a TLS connect rule: stopped" "exit $rc, out: $(head -c 200 "$T/deep.out"),"\
" captures: $conns, $WIRE_OUT; stderr: $(head -c 300 "$T/deep.err")"
fi
under linked "$T/dial.conf" "$T/golibhost"
stopped linked "a C program linked with a Go library, TLS connect rule: stopped (78) before the library's runtime runs, no connection made" \
	"$T/libgolib.so" "$LIBREFUSAL"
under archive "$T/dial.conf" "$T/goarchost"
stopped archive "a C program with a Go archive linked in (no build ID, stripped), TLS connect rule: stopped (78) before the archive's runtime runs, no connection made" \
	"$T/goarchost"
# "ld.so PROGRAM": the kernel runs the loader, which /proc/self/exe then
# names (and the program's link map has no name): the program's file is
# the one mapped at its headers.
ldso=$(ldd "$T/goarchost" | sed -n 's/^[[:space:]]*\(\/[^ ]*ld-linux[^ ]*\) .*/\1/p' | head -n 1)
under archldso "$T/dial.conf" "${ldso:-/nonexistent/ld.so}" "$T/goarchost"
stopped archldso "the same program run as \"ld.so PROGRAM\" ($ldso), TLS connect rule: stopped (78), no connection made" \
	"$T/goarchost"
"$TLSSHIM_LAUNCHER" -c "$T/dial.conf" "$T/goarchost" >"$T/archl.out" 2>"$T/archl.err"
rc=$?
on_wire archl
if [ $rc -eq 78 ] && grep -q -F "$T/goarchost: a Go program: its runtime makes its system calls itself" "$T/archl.err" &&
   [ ! -s "$T/archl.out" ] && [ $wrc -eq 0 ] && [ "$conns" -eq 0 ]; then
	pass "tlsshim(1) refuses a C program with a Go archive linked in from its file (78), no connection made"
else
	fail "tlsshim(1) refuses a C program with a Go archive linked in" "exit $rc, out: $(head -c 200 "$T/archl.out"),"\
" captures: $conns, $WIRE_OUT; stderr: $(head -c 300 "$T/archl.err")"
fi
unset GOLIB_DIAL GOLIB_LINE

# ---- no TLS rule: it runs as without the library --------------------------------
# plain_case NAME PORT EXPECTED CMD...: CMD under a policy whose only rule
# is plain, against a Go echo server of its own on PORT, prints EXPECTED.
plain_case() {
	_n=$1 P=$2 _want=$3
	shift 3
	bg "$T/goapp" listen "127.0.0.1:$P" >"$T/$_n.srv" 2>&1
	policy "$T/$_n.conf" <<EOC
rules = ( { name = "plain-out"; direction = "connect"; port = $P; action = "plain"; } );
EOC
	if wait_for "$T/$_n.srv" '^ready' 10; then
		GOLIB_DIAL=127.0.0.1:$P GOLIB_LINE=hello under "$_n" "$T/$_n.conf" "$@"
		out=$(cat "$T/$_n.out" "$T/$_n.err")
	else
		out="its plain peer did not start: $(head -c 200 "$T/$_n.srv")"
		rc=1
	fi
	[ $rc -eq 0 ] && [ "$out" = "$_want" ]
}
P=$(fc_ports 1)
if plain_case plain "$P" 'read "hello\n" <nil>' "$T/goapp" dial "127.0.0.1:$P" hello; then
	pass "Go client, a policy without TLS rules: runs as without the library"
else
	fail "Go client without TLS rules: runs" "exit $rc: $out"
fi
if plain_case plainlib "$(fc_ports 1)" 'read hello' "$PY" -c "$PYLOAD" "$T/libgolib.so"; then
	pass "Go library loaded by dlopen, a policy without TLS rules: runs as without the library"
else
	fail "Go library by dlopen without TLS rules: runs" "exit $rc: $out"
fi
fc_stop
