#!/bin/sh
# Code loaded with RTLD_DEEPBIND (PHP loads every extension so) binds its
# calls to its own dependencies first: send, write, connect... were the C
# library's, past every wrapper, and a connection the policy says is TLS
# went out in clear (php-curl's request; the plug-in here).  The library
# now wraps dlopen: after a deep-bound load, each new object's relocations
# of the functions it wraps are the wrappers, as without the flag.
# A real TLS echo peer behind a recording relay: nothing of the
# program's may reach the wire in clear.
#   * tests/progs/deepbind loads tests/progs/plugins/deep.c (a PLT slot,
#     a GOT entry, a pointer in its data: write, send, write), linked with
#     a read-only GOT (-z now, -z relro) or lazy slots, by path and by a
#     name found along the program's run path;
#   * the same with send's address in its text (DT_TEXTREL: the change
#     wrote to a read-only page, SIGSEGV);
#   * a name without a slash is found where glibc would find it for the
#     caller (the plug-in's path it prints is checked): along the DT_RPATH
#     of the library that loaded the calling library, past a copy of
#     another machine earlier in the run path, in a glibc-hwcaps
#     subdirectory first, and an object already loaded under that name
#     (its DT_SONAME) is that one;
#   * six threads each loading and unloading a plug-in of its own with
#     RTLD_DEEPBIND at once (one walked the program headers of another's
#     object after it was unmapped, or gave its RELRO pages back read-only
#     while another wrote: SIGSEGV);
#   * PHP (Debian's php-cli) with php-curl: curl_exec() to the TLS
#     destination.
# Under AddressSanitizer the sanitizer's runtime refuses RTLD_DEEPBIND
# itself (the program stops in dlopen): that is checked instead.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim

if ! fc_start peer --mode echo; then
	fail "deepbind: setup" "peer or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi
fc_policy "$T/dial.conf"
asan=0
asan_build && asan=1

# under NAME CMD...: CMD under the library with dial.conf; output in
# $T/NAME.out and .err, log in $T/NAME.log; sets rc; then the peer's
# connections since the last case as NAME's: wrc (the audit: 0 clean),
# conns (how many).
under() {
	_n=$1
	shift
	TLSSHIM_LOG_FILE="$T/$_n.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/dial.conf" "$@" >"$T/$_n.out" 2>"$T/$_n.err"
	rc=$?
	srv_settled peer 1 2
	fc_collect peer "$_n"
	fc_wire "$_n"
	wrc=$?
	conns=$(find "$T/$_n.wire" -type f | wc -l)
}

# ---- dlmopen into a namespace of its own: refused under TLS rules -------
under newlm "$PROGS/deepbind" "$PROGS/plugdeep_now.so" newlm "$R" "$SENT"
if [ $rc -eq 2 ] && grep -q "^dlopen failed: / tlsshim: dlmopen into another namespace refused" "$T/newlm.out" &&
   grep -q "error: dlmopen $PROGS/plugdeep_now.so into another link-map namespace: .*refused" "$T/newlm.log" &&
   [ $wrc -eq 0 ] && [ "$conns" -eq 0 ]; then
	pass "dlmopen(LM_ID_NEWLM) of a plug-in under a TLS rule: refused (NULL, dlerror and the log say why), nothing on the wire"
else
	fail "dlmopen(LM_ID_NEWLM) under a TLS rule: refused" "exit $rc, out: $(head -c 200 "$T/newlm.out"), captures $conns,"\
" $WIRE_OUT; log: $(head -c 300 "$T/newlm.log")"
fi
# Without TLS rules it loads, as without the library (plain, its own peer).
policy "$T/plain.conf" <<EOC
rules = ( { name = "plain-out"; direction = "connect"; port = $R; action = "plain"; } );
EOC
PQ=$(fc_ports 1)
bg "$PY" -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); f = c.makefile("rb"); c.sendall(f.readline()); c.close()' "$PQ" >"$T/plainpeer.out" 2>&1
wait_for "$T/plainpeer.out" '^ready' 10
TLSSHIM_LOG_FILE="$T/newlm-plain.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
	TLSSHIM_CONFIG="$T/plain.conf" "$PROGS/deepbind" "$PROGS/plugdeep_now.so" newlm "$PQ" hello >"$T/newlm-plain.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "^reply: hello$" "$T/newlm-plain.out"; then
	pass "dlmopen(LM_ID_NEWLM) under a policy without TLS rules: loads and runs as without the library"
else
	fail "dlmopen(LM_ID_NEWLM) without TLS rules: runs" "exit $rc, out: $(head -c 300 "$T/newlm-plain.out")"
fi

if [ $asan = 1 ]; then
	# Its refusal is a report in the sanitizer's log, not a finding: kept
	# here, out of the runner's sanitizer-report check.
	ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$T/refusal" under asan "$PROGS/deepbind" "$PROGS/plugdeep_now.so" now "$R" "$SENT"
	if [ $rc -ne 0 ] && cat "$T"/refusal.* 2>/dev/null | grep -q "with RTLD_DEEPBIND flag which is incompatible with sanitizer runtime" &&
	   [ $wrc -eq 0 ] && [ "$conns" -eq 0 ]; then
		pass "RTLD_DEEPBIND under ASan: the sanitizer refuses the load itself, nothing reaches the wire"
	else
		fail "RTLD_DEEPBIND under ASan: refused by the sanitizer" "exit $rc, captures $conns, $WIRE_OUT;"\
" out: $(head -c 200 "$T/asan.out"); err: $(head -c 200 "$T/asan.err")"
	fi
	fc_stop
	exit 0
fi

# deep NAME DESCRIPTION SO now|lazy [LOADED]: one load and exchange, its
# checks; LOADED: the path of the object the load must give.  The program
# is $DEEP_PROG (default: the built one).
deep() {
	under "$1" "${DEEP_PROG:-$PROGS/deepbind}" "$3" "$4" "$R" "$SENT"
	if [ $rc -eq 0 ] && [ "$(cat "$T/$1.out")" = "reply: $SENT" ] && [ $wrc -eq 0 ] && [ "$conns" -ge 2 ] &&
	   { [ -z "${5:-}" ] || grep -qxF "loaded: $5" "$T/$1.err"; }; then
		pass "$2: its write, send and data pointer go through the library, TLS on the wire"
	else
		fail "$2: through the library" "exit $rc, out: $(head -c 200 "$T/$1.out"), captures $conns, $WIRE_OUT;"\
" err: $(head -c 300 "$T/$1.err")"
	fi
}
deep now "a plug-in with a read-only GOT loaded with RTLD_NOW|RTLD_DEEPBIND" "$PROGS/plugdeep_now.so" now
deep lazy "a plug-in with lazy PLT slots loaded with RTLD_LAZY|RTLD_DEEPBIND" "$PROGS/plugdeep_lazy.so" lazy
deep runpath "a plug-in named without a path, found along the program's run path, RTLD_DEEPBIND" plugdeep_now.so now
deep textrel "a plug-in with send's address in its text (DT_TEXTREL), RTLD_DEEPBIND" "$PROGS/plugdeep_textrel.so" now

# ---- a name without a slash: where glibc finds it for the caller ----
mkdir -p "$T/via/lib" "$T/rp/deeplib" "$T/first"
cp "$PROGS/libdeepmid.so" "$T/via/"
cp "$PROGS/libdeepload.so" "$PROGS/plugdeep_now.so" "$T/via/lib/"
DEEPBIND_VIA=$T/via/libdeepmid.so
export DEEPBIND_VIA
deep chain "a plug-in found along the DT_RPATH of the library that loaded the calling library (glibc's order)" \
	plugdeep_now.so now "$T/via/lib/plugdeep_now.so"
unset DEEPBIND_VIA
# A copy for another machine first in the run path ($ORIGIN, then
# $ORIGIN/deeplib): glibc passes over it.
cp "$PROGS/deepbind" "$T/rp/"
cp "$PROGS/plugdeep_now.so" "$T/rp/deeplib/"
cp "$PROGS/plugdeep_now.so" "$T/rp/"
case "$(uname -m)" in x86_64) em='\267' ;; *) em='\076' ;; esac
printf "$em" | dd of="$T/rp/plugdeep_now.so" bs=1 seek=18 conv=notrunc 2>/dev/null
DEEP_PROG=$T/rp/deepbind deep foreign "a plug-in named without a path, past a copy of another machine earlier in the run path" \
	plugdeep_now.so now "$T/rp/deeplib/plugdeep_now.so"
# The lowest glibc-hwcaps subdirectory the loader searches here: glibc
# takes the copy there before the directory's own.
ldso=$(ldd "$PROGS/deepbind" | sed -n 's/^[[:space:]]*\(\/[^ ]*ld-linux[^ ]*\) .*/\1/p' | head -n 1)
sub=$([ -n "$ldso" ] && "$ldso" --help 2>/dev/null | sed -n '/^Subdirectories of glibc-hwcaps/,/^$/s/^  \([^ ]*\) (supported, searched)$/\1/p' | tail -n 1)
if [ -n "$sub" ]; then
	mkdir -p "$T/rp/deeplib/glibc-hwcaps/$sub"
	rm -f "$T/rp/plugdeep_now.so"
	cp "$PROGS/plugdeep_now.so" "$T/rp/deeplib/glibc-hwcaps/$sub/"
	DEEP_PROG=$T/rp/deepbind deep hwcaps "a plug-in named without a path: the run path's glibc-hwcaps/$sub copy first" \
		plugdeep_now.so now "$T/rp/deeplib/glibc-hwcaps/$sub/plugdeep_now.so"
fi
cp "$PROGS/plugdeep_now.so" "$T/first/"
DEEPBIND_FIRST=$T/first/plugdeep_now.so
export DEEPBIND_FIRST
deep first "a name an object already loaded has (its DT_SONAME), RTLD_DEEPBIND: that object, no second copy" \
	plugdeep_now.so now "$T/first/plugdeep_now.so"
unset DEEPBIND_FIRST
mkdir -p "$T/race"
for i in 1 2 3; do
	cp "$PROGS/plugdeep_now.so" "$T/race/now$i.so"
	cp "$PROGS/plugdeep_lazy.so" "$T/race/lazy$i.so"
done
under race "$PROGS/deepbind" --race 400 "$T"/race/*.so
if [ $rc -eq 0 ] && [ "$(cat "$T/race.out")" = "race ok" ]; then
	pass "six threads loading and unloading plug-ins with RTLD_DEEPBIND at once, 400 times each: no crash"
else
	fail "six threads loading plug-ins with RTLD_DEEPBIND at once" "exit $rc, out: $(head -c 200 "$T/race.out");"\
" err: $(head -c 300 "$T/race.err")"
fi

# ---- PHP's curl extension (loaded with RTLD_DEEPBIND, as every extension) ----
if ! command -v php >/dev/null 2>&1 || ! php -m 2>/dev/null | grep -q '^curl$'; then
	fail "PHP with php-curl" "php-cli or php-curl is not installed (.ci/packages)"
else
	cat >"$T/get.php" <<'PHPEOF'
<?php
$ch = curl_init("http://127.0.0.1:" . $argv[1] . "/" . $argv[2]);
curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
curl_setopt($ch, CURLOPT_TIMEOUT, 20);
$r = curl_exec($ch);
echo "curl: ", curl_error($ch), "\n";
PHPEOF
	# The echo peer sends the request line back: curl's error is then
	# about the reply's form, not the connection.
	under php php -n -d extension=curl "$T/get.php" "$R" "$SENT"
	if grep -q "^curl: .*\(HTTP/0.9\|nsupported\|eceived\)" "$T/php.out" && [ $wrc -eq 0 ] && [ "$conns" -ge 2 ]; then
		pass "PHP's curl_exec() (php-curl, RTLD_DEEPBIND) to a TLS destination: TLS on the wire, the request echoed"
	else
		fail "PHP's curl_exec() to a TLS destination" "exit $rc, out: $(head -c 200 "$T/php.out"), captures $conns,"\
" $WIRE_OUT; err: $(head -c 300 "$T/php.err")"
	fi
fi
fc_stop
