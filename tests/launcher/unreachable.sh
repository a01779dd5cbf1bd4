#!/bin/sh
# tests/launcher/unreachable.sh — while the policy has a rule with action tls,
# the launcher refuses (exit 78, one line naming the program and saying
# why) a program the preloaded library cannot reach: statically linked
# (static-pie too), another ELF class or machine, set-user-ID,
# set-group-ID, file capabilities; a #! script is judged by its
# interpreter; a file that is neither ELF nor a script is refused too; so
# is a Go program (its runtime makes its system calls itself, past the
# library) and a program of musl's C library (its loader cannot load the
# library).  --force runs it anyway, with a warning (a Go or musl program
# without the library in LD_PRELOAD).  Without tls rules nothing is
# refused.  Every program here would create a marker file if it ran.
#
# As in check.sh, the library preloaded is an empty shared object built
# here (TLSSHIM_LIBRARY): what is tested is the launcher's decision.
. "$(dirname "$0")/../lib.sh"

L=$TLSSHIM_LAUNCHER
if [ ! -x "$L" ]; then
	fail "unreachable_setup" "$L is missing"
	exit 1
fi
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
export ASAN_OPTIONS
unset TLSSHIM_CONFIG TLSSHIM_LIBRARY TLSSHIM_LOG TLSSHIM_LOG_FILE LD_PRELOAD TLSSHIM_TEST_MARKER

B=$T/bin
mkdir -p "$B" "$T/d" "$T/p" "$T/path1" "$T/path2"
CC=${CC:-cc}
if ! $CC -shared -o "$T/d/libtlsshim.so" -x c /dev/null; then
	fail "unreachable_setup" "cc -shared failed"
	exit 1
fi
TLSSHIM_LIBRARY=$T/d/libtlsshim.so
export TLSSHIM_LIBRARY

# mark.c: creates the file named by $TLSSHIM_TEST_MARKER (so that it works
# the same as a #! interpreter, whose first argument is the script).
cat >"$T/mark.c" <<'C'
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
int main(void)
{
	const char *m = getenv("TLSSHIM_TEST_MARKER");

	if (m)
		close(creat(m, 0644));
	return 0;
}
C
if ! $CC -o "$B/dynamic" "$T/mark.c" 2>"$T/cc.err"; then
	fail "unreachable_setup" "cc failed: $(cat "$T/cc.err")"
	exit 1
fi
name="static program built (cc -static)"
if $CC -static -o "$B/static" "$T/mark.c" 2>"$T/cc.err" && ! readelf -lW "$B/static" | grep -q INTERP; then
	pass "$name"
else
	fail "$name" "$(head -c 300 "$T/cc.err") (libc6-dev provides libc.a)"
fi
name="static-pie program built (cc -static-pie)"
if $CC -static-pie -fPIE -o "$B/static-pie" "$T/mark.c" 2>"$T/cc.err" &&
   readelf -hW "$B/static-pie" | grep -q 'DYN' && ! readelf -lW "$B/static-pie" | grep -q INTERP; then
	pass "$name"
else
	fail "$name" "$(head -c 300 "$T/cc.err")"
fi

# elf32: a real 32-bit i386 program of 113 bytes, made here byte by byte
# (no multilib needed): creat(argv[1], 0644); exit(0).
python3 - "$B/elf32" "$B/aarch64" <<'PY'
import os, struct, sys
code = bytes.fromhex("8b5c2408" "85db" "740c" "b808000000" "b9a4010000" "cd80"
                     "b801000000" "31db" "cd80")
base, eh, ph = 0x08048000, 52, 32
total = eh + ph + len(code)
hdr = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
hdr += struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, base + eh + ph, eh, 0, 0, eh, ph, 1, 0, 0, 0)
hdr += struct.pack("<IIIIIIII", 1, 0, base, base, total, total, 5, 0x1000)
open(sys.argv[1], "wb").write(hdr + code)
os.chmod(sys.argv[1], 0o755)
# aarch64: the ELF header of a 64-bit AArch64 program (EM_AARCH64 = 183).
hdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
hdr += struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, 0x400078, 64, 0, 0, 64, 56, 1, 0, 0, 0)
hdr += struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, 0x80, 0x80, 0x10000)
open(sys.argv[2], "wb").write(hdr + bytes(8))
os.chmod(sys.argv[2], 0o755)
PY

cp "$B/dynamic" "$B/setuid" && chmod 4755 "$B/setuid"
cp "$B/dynamic" "$B/setgid" && chmod 2755 "$B/setgid"
cp "$B/dynamic" "$B/fcaps"
# security.capability, VFS_CAP_REVISION_2: cap_net_bind_service permitted.
name="file capabilities set on a copy"
if python3 -c 'import os, struct, sys
os.setxattr(sys.argv[1], "security.capability", struct.pack("<IIIII", 0x02000000, 1 << 10, 0, 0, 0))' \
	"$B/fcaps" 2>"$T/xattr.err"; then
	pass "$name"
else
	fail "$name" "$(cat "$T/xattr.err")"
fi
printf '#!%s\n' "$B/static" >"$B/script-static"
printf '#!%s\n' "$B/script-static" >"$B/script-script-static"
printf '#! /bin/sh -e\ntouch "$TLSSHIM_TEST_MARKER"\n' >"$B/script-sh"
printf '#!%s\n' "$B/loop" >"$B/loop"
printf 'touch "$TLSSHIM_TEST_MARKER"\n' >"$B/text"
chmod 755 "$B/script-static" "$B/script-script-static" "$B/script-sh" "$B/loop" "$B/text"

policy "$T/p/tls.conf" <<'P'
rules = (
  { name = "in"; direction = "accept"; port = 8080; action = "plain"; },
  { name = "out"; direction = "connect"; port = 443; }
);
P
policy "$T/p/notls.conf" <<'P'
rules = (
  { name = "in"; direction = "accept"; port = 8080; action = "plain"; },
  { name = "no"; direction = "connect"; port = 23; action = "deny"; }
);
P
policy "$T/p/empty.conf" <<'P'
rules = ();
P

# launch NAME POLICY [--force] -- PROGRAM ARGS...: run the launcher with
# the marker $T/marker.NAME; sets rc, ERR (stderr file) and MARK.
launch() {
	_n=$1; _p=$2; shift 2
	MARK=$T/marker.$_n
	ERR=$T/err.$_n
	rm -f "$MARK"
	TLSSHIM_TEST_MARKER=$MARK timeout -k 2 20 "$L" -c "$_p" "$@" >"$T/out.$_n" 2>"$ERR"
	rc=$?
}
ran() { [ -e "$MARK" ]; }
errtext() { head -c 500 "$ERR" | tr '\n' '|'; }

# refused NAME PROGRAM-AS-NAMED TEXT: exit 78, one line naming PROGRAM with
# TEXT and the hint, and the program did not run.
refused() {
	if [ "$rc" -eq 78 ] && ! ran && [ "$(wc -l <"$ERR")" -eq 1 ] &&
	   grep -q -F -- "tlsshim: $2: $3" "$ERR" && grep -q -F -- "(--force runs it anyway)" "$ERR"; then
		pass "$1"
	else
		fail "$1" "exit $rc, ran: $(ran && echo yes || echo no), stderr: $(errtext)"
	fi
}
# forced NAME PROGRAM TEXT: ran, exit 0, one warning naming PROGRAM.
forced() {
	if [ "$rc" -eq 0 ] && ran && grep -q -F -- "tlsshim: warning: $2: $3" "$ERR" &&
	   grep -q -F -- "running it anyway (--force): its connections are NOT protected by TLS" "$ERR"; then
		pass "$1"
	else
		fail "$1" "exit $rc, ran: $(ran && echo yes || echo no), stderr: $(errtext)"
	fi
}
# runs NAME: ran, exit 0, nothing on stderr.
runs() {
	if [ "$rc" -eq 0 ] && ran && [ ! -s "$ERR" ]; then
		pass "$1"
	else
		fail "$1" "exit $rc, ran: $(ran && echo yes || echo no), stderr: $(errtext)"
	fi
}

# bare NAME PROGRAM TEXT: --force ran it (exit 0) with the warning naming
# PROGRAM and TEXT, without the library in its LD_PRELOAD (the marker
# holds the program's LD_PRELOAD; programs that do not write it pass).
bare() {
	if [ "$rc" -eq 0 ] && ran && has_no "$MARK" "$TLSSHIM_LIBRARY" &&
	   grep -q -F -- "tlsshim: warning: $2: $3" "$ERR" &&
	   grep -q -F -- "running it anyway (--force, without the library): its connections are NOT protected by TLS" "$ERR"; then
		pass "$1"
	else
		fail "$1" "exit $rc, ran: $(ran && echo yes || echo no), LD_PRELOAD: $(cat "$MARK" 2>/dev/null), stderr: $(errtext)"
	fi
}

# ---- reachable: runs, silently ----------------------------------------------
launch dyn "$T/p/tls.conf" -- "$B/dynamic"
runs "dynamic program, tls policy: runs"
launch sh "$T/p/tls.conf" -- "$B/script-sh"
runs "#! /bin/sh script, tls policy: runs"
interp=$(readelf -lW "$B/dynamic" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
launch ldso "$T/p/tls.conf" -- "$interp" "$B/dynamic"
runs "the dynamic loader run as a program ($interp PROGRAM): runs"

# ---- statically linked --------------------------------------------------------
launch st "$T/p/tls.conf" -- "$B/static"
refused "static program: refused (78)" "$B/static" "statically linked: no dynamic loader runs in it to preload libtlsshim.so"
launch stf "$T/p/tls.conf" --force -- "$B/static"
forced "static program, --force: runs with a warning" "$B/static" "statically linked"

launch spie "$T/p/tls.conf" -- "$B/static-pie"
refused "static-pie program: refused (78)" "$B/static-pie" "statically linked (static-pie)"
launch spief "$T/p/tls.conf" --force -- "$B/static-pie"
forced "static-pie program, --force: runs with a warning" "$B/static-pie" "statically linked (static-pie)"

# ---- another ELF class or machine -------------------------------------------
launch e32 "$T/p/tls.conf" -- "$B/elf32" "$T/marker.e32"
refused "32-bit i386 program: refused (78)" "$B/elf32" \
	"a 32-bit ELF for i386, and libtlsshim.so is a 64-bit ELF for x86-64: the dynamic loader cannot preload it"
# --force hands it to execvp: it runs where the kernel runs i386 programs;
# a kernel without IA32 emulation answers ENOEXEC, and execvp then hands
# the file to /bin/sh, which fails on it.  Either way the launcher warned
# and did not refuse.
launch e32f "$T/p/tls.conf" --force -- "$B/elf32" "$T/marker.e32f"
MARK=$T/marker.e32f
if grep -q -F "tlsshim: warning: $B/elf32: a 32-bit ELF for i386" "$ERR" && [ "$rc" -ne 78 ] &&
   { { [ "$rc" -eq 0 ] && ran; } || { ! ran && LC_ALL=C grep -q -E "$B/elf32: .*(not found|Syntax error|Exec format error)" "$ERR"; }; }; then
	pass "32-bit program, --force: warned, then executed"
else
	fail "32-bit program, --force: warned, then executed" "exit $rc, stderr: $(errtext)"
fi

launch arm "$T/p/tls.conf" -- "$B/aarch64"
refused "AArch64 program: refused (78)" "$B/aarch64" "a 64-bit ELF for AArch64, and libtlsshim.so is a 64-bit ELF for x86-64"

# ---- secure-execution mode --------------------------------------------------------
launch suid "$T/p/tls.conf" -- "$B/setuid"
refused "set-user-ID program: refused (78)" "$B/setuid" \
	"set-user-ID: the dynamic loader ignores LD_PRELOAD for it (secure-execution mode)"
launch suidf "$T/p/tls.conf" --force -- "$B/setuid"
forced "set-user-ID program, --force: runs with a warning" "$B/setuid" "set-user-ID"

launch sgid "$T/p/tls.conf" -- "$B/setgid"
refused "set-group-ID program: refused (78)" "$B/setgid" \
	"set-group-ID: the dynamic loader ignores LD_PRELOAD for it (secure-execution mode)"
launch sgidf "$T/p/tls.conf" --force -- "$B/setgid"
forced "set-group-ID program, --force: runs with a warning" "$B/setgid" "set-group-ID"

launch caps "$T/p/tls.conf" -- "$B/fcaps"
refused "program with file capabilities: refused (78)" "$B/fcaps" "it has file capabilities"
launch capsf "$T/p/tls.conf" --force -- "$B/fcaps"
forced "program with file capabilities, --force: runs with a warning" "$B/fcaps" "it has file capabilities"

# ---- scripts: judged by their interpreter -------------------------------------
launch sst "$T/p/tls.conf" -- "$B/script-static"
refused "#! script with a static interpreter: refused (78)" "$B/script-static" \
	"#! interpreter $B/static: statically linked"
launch sstf "$T/p/tls.conf" --force -- "$B/script-static"
forced "#! script with a static interpreter, --force: runs with a warning" "$B/script-static" \
	"#! interpreter $B/static: statically linked"
launch ssst "$T/p/tls.conf" -- "$B/script-script-static"
refused "#! script whose interpreter is such a script: refused (78)" "$B/script-script-static" \
	"#! interpreter $B/static: statically linked"
launch loop "$T/p/tls.conf" -- "$B/loop"
refused "#! script that is its own interpreter: refused, bounded" "$B/loop" "more than 4 levels of #! interpreters"

launch txt "$T/p/tls.conf" -- "$B/text"
refused "neither ELF nor #! script: refused (78)" "$B/text" "neither an ELF program nor a #! script"
launch txtf "$T/p/tls.conf" --force -- "$B/text"
forced "neither ELF nor #! script, --force: runs (execvp hands it to /bin/sh)" "$B/text" \
	"neither an ELF program nor a #! script"

# ---- a Go program: the loader would preload the library, its runtime bypasses it --
# go_case TAG WHAT [GO BUILD FLAGS]: goapp.go built as $B/TAG is refused,
# and --force runs it without the library.  0 when it could be built.
go_case() {
	_gt=$1 _gw=$2
	shift 2
	if ! why=$(go_build "$B/$_gt" goapp.go "$@"); then
		fail "$_gw built" "$why"
		return 1
	fi
	launch "$_gt" "$T/p/tls.conf" -- "$B/$_gt"
	refused "$_gw: refused (78)" "$B/$_gt" \
		"a Go program: its runtime makes its system calls itself, never through the C library, so libtlsshim.so cannot see its sockets"
	launch "$_gt-f" "$T/p/tls.conf" --force -- "$B/$_gt"
	bare "$_gw, --force: runs with a warning, without the library in LD_PRELOAD" "$B/$_gt" "a Go program"
}
# Linked by the system linker without a build ID: no Go note, .go.buildinfo
# after .data; runtime/cgo's dynamic symbols tell (as in memory).
go_case goext "Go program linked by the system linker, no build ID" "-ldflags=-linkmode=external -buildid="
if go_case goapp "Go program"; then
	# The library already in the caller's LD_PRELOAD (by its file name, by
	# its path, another copy): --force takes it out, the other entry stays.
	mkdir -p "$T/d2"
	cp "$TLSSHIM_LIBRARY" "$T/d/libother.so"
	cp "$TLSSHIM_LIBRARY" "$T/d2/libtlsshim.so"
	LD_PRELOAD="$T/d/libother.so libtlsshim.so:$TLSSHIM_LIBRARY $T/d2/libtlsshim.so"
	export LD_PRELOAD
	LD_LIBRARY_PATH=$T/d launch gofp "$T/p/tls.conf" --force -- "$B/goapp"
	unset LD_PRELOAD
	if [ "$rc" -eq 0 ] && ran && [ "$(cat "$MARK")" = "$T/d/libother.so" ] &&
	   grep -q -F -- "(--force, without the library)" "$ERR"; then
		pass "Go program, --force, the library already in LD_PRELOAD: taken out, the rest kept"
	else
		fail "Go program, --force, the library in the caller's LD_PRELOAD: taken out" "exit $rc,"\
" ran: $(ran && echo yes || echo no), LD_PRELOAD: $(cat "$MARK" 2>/dev/null), stderr: $(errtext)"
	fi
	launch gon "$T/p/notls.conf" -- "$B/goapp"
	runs "Go program, no tls rule: runs, no warning"
fi

# ---- a program of musl's C library: its loader cannot load the library ----------
if ! command -v musl-gcc >/dev/null 2>&1; then
	fail "musl program built" "musl-gcc is not installed (musl-tools, in .ci/packages)"
elif ! musl-gcc -o "$B/musl" "$T/mark.c" 2>"$T/cc.err"; then
	fail "musl program built" "musl-gcc failed: $(head -c 300 "$T/cc.err")"
else
	musl_ld=$(readelf -lW "$B/musl" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
	launch musl "$T/p/tls.conf" -- "$B/musl"
	refused "musl program: refused (78)" "$B/musl" \
		"a program of musl's C library: its loader $musl_ld cannot load libtlsshim.so, which is built for the GNU C library"
	launch muslf "$T/p/tls.conf" --force -- "$B/musl"
	bare "musl program, --force: runs with a warning, without the library" "$B/musl" "a program of musl's C library"
fi

# ---- PATH, as execvp ------------------------------------------------------------
cp "$B/static" "$T/path2/tlsshim-test-prog"
cp "$B/dynamic" "$T/path1/tlsshim-test-prog"
PATH_SAVED=$PATH
PATH="$T/path2:$PATH_SAVED"
launch path "$T/p/tls.conf" -- tlsshim-test-prog
refused "static program found through PATH: refused, named by its path" "$T/path2/tlsshim-test-prog" "statically linked"
PATH="$T/path1:$T/path2:$PATH_SAVED"
launch path1 "$T/p/tls.conf" -- tlsshim-test-prog
runs "PATH: the first match (dynamic) is the one judged and run"
chmod 644 "$T/path1/tlsshim-test-prog"
launch path2 "$T/p/tls.conf" -- tlsshim-test-prog
refused "PATH: a non-executable match is skipped, as by execvp" "$T/path2/tlsshim-test-prog" "statically linked"
# A first match that cannot be executed (ENOENT: its #! interpreter is
# not there) is not skipped for the next one, as execvp would, to run a
# program no one judged (here a static one): exit 127, nothing runs.
mkdir -p "$T/path3"
printf '#!%s/no-such-interpreter\n' "$T" >"$T/path3/tlsshim-test-prog"
chmod 755 "$T/path3/tlsshim-test-prog"
PATH="$T/path3:$T/path2:$PATH_SAVED"
launch path3 "$T/p/tls.conf" -- tlsshim-test-prog
if [ "$rc" -eq 127 ] && ! ran && grep -q -F "tlsshim: $T/path3/tlsshim-test-prog: No such file or directory" "$ERR"; then
	pass "PATH: a first match that fails to execute is not passed over for an unjudged next one (127)"
else
	fail "PATH: a first match that fails is not passed over" "exit $rc, ran: $(ran && echo yes || echo no), stderr: $(errtext)"
fi
PATH=$PATH_SAVED

# ---- no tls rule: nothing is refused -------------------------------------------
launch ntls "$T/p/notls.conf" -- "$B/static"
runs "static program, only plain and deny rules: runs, no warning"
launch nempty "$T/p/empty.conf" -- "$B/setuid"
runs "set-user-ID program, empty policy: runs, no warning"
launch nforce "$T/p/notls.conf" --force -- "$B/static"
runs "--force with nothing to force: runs, no warning"

# ---- usage -----------------------------------------------------------------------
"$L" --check "$T/p/tls.conf" --force >"$T/out" 2>"$T/err"; rc=$?
check "--check with --force: usage error (64)" sh -c '[ "$1" -eq 64 ] && grep -q "usage: tlsshim" "$2"' _ "$rc" "$T/err"
"$L" --help >"$T/out" 2>&1
check "--help mentions --force" grep -q -- "--force" "$T/out"
