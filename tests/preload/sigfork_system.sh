#!/bin/sh
# A signal handler's fork() inside this thread's system() (h224): the
# child's count of system()/popen()/wordexp() calls under way is the
# calls its own thread still has running (the one the handler
# interrupted), not zero; zeroed, the resumed call took it to -1 and no
# later call's array (about 40 KiB) was freed again.  tests/progs/
# sigfork_system.c: the child makes 1 + 16 system() calls and reports
# how much the allocated bytes grew over the last 16; 16 arrays kept
# would be over 600 KiB, the bound is 256 KiB (no wall-clock bound).
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"

P=$(free_port)
policy "$T/cli.conf" <<EOC
rules = ( { name = "sigfork-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; } );
EOC

name=sigfork_system_child_frees
TLSSHIM_LOG_FILE="$T/sf.log" shimmed "$PROGS/sigfork_system" >"$T/sf.out" 2>"$T/sf.err"
rc=$?
grew=$(sed -n 's/^child grew \([0-9]*\)$/\1/p' "$T/sf.out")
if [ "$rc" -ne 0 ]; then
	fail "$name" "sigfork_system exited $rc$(show "$T/sf.out" "$T/sf.err" "$T/sf.log")"
elif ! grep -qx 'child calls ok' "$T/sf.out" || ! grep -qx 'child exit 0' "$T/sf.out" ||
	! grep -qx 'parent status 0' "$T/sf.out"; then
	fail "$name" "a call failed$(show "$T/sf.out" "$T/sf.err")"
elif [ -z "$grew" ] || [ "$grew" -ge 256 ]; then
	fail "$name" "the child's system() calls kept their arrays (grew ${grew:-?} KiB)$(
		show "$T/sf.out")"
else
	pass "$name"
fi
