#!/bin/sh
# tests/infra/asanprobe.sh — common.inc's asan_hangs checks itself.
# With the ASan build, curl_client.sh, postgres.sh and slapd.sh ask
# whether a Debian program deadlocks with libasan alone preloaded, and
# test a fallback when it does; a slow start taken for the deadlock
# would test the fallback instead of the program.  So the answer comes
# from the process's state, and here:
#  * a process deadlocked on a lock (every thread in futex()) is hung,
#    found by its state (not by the 30 s bound), and killed;
#  * a process busy on the CPU for longer than the one-second rule, and
#    one asleep in nanosleep(), are not hung (they end, and are waited
#    for);
#  * without libasan in SHIM_PRELOAD nothing is run and the answer is no.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
ASAN=$(gcc -print-file-name=libasan.so 2>/dev/null)
ASAN=$(readlink -f "$ASAN" 2>/dev/null)
if [ ! -f "$ASAN" ]; then
	fail asan_probe_setup "no libasan.so (gcc -print-file-name; Debian's libasan8 comes with gcc)"
	exit 1
fi
SHIM_PRELOAD="$ASAN $TLSSHIM_LIB"
# ASan's leak report at exit says nothing here (nor does its status).
ASAN_OPTIONS=detect_leaks=0
export ASAN_OPTIONS

# A lock taken twice by the one thread that holds it: a deadlock in futex().
if asan_hangs "$PY" -c 'import threading; l = threading.Lock(); l.acquire(); l.acquire()'; then
	if [ "$_ah_still" -lt 10 ]; then
		fail asan_probe_deadlock "taken for hung by the bound ($_ah_n looks), not by its state"
	elif [ -d "/proc/$_ah_p" ]; then
		fail asan_probe_deadlock "hung, but pid $_ah_p was not killed"
	else
		pass asan_probe_deadlock
	fi
else
	fail asan_probe_deadlock "a deadlocked process was not found hung"
fi

# Busy for 2 s (twice the state rule's second): runnable, never hung.
if asan_hangs "$PY" -c 'import time
t = time.monotonic()
while time.monotonic() - t < 2:
    pass'; then
	fail asan_probe_busy "a process busy on the CPU was taken for hung (after $_ah_n looks)"
else
	pass asan_probe_busy
fi

# Asleep for 2 s, not on a lock: not hung either.
if asan_hangs sleep 2; then
	fail asan_probe_sleep "a process in nanosleep() was taken for hung (after $_ah_n looks)"
else
	pass asan_probe_sleep
fi

# No libasan preloaded (the default and TSan builds): not run at all.
SHIM_PRELOAD=$TLSSHIM_LIB
if asan_hangs touch "$T/ran" || [ -e "$T/ran" ]; then
	fail asan_probe_noasan "without libasan in SHIM_PRELOAD the command ran, or was called hung"
else
	pass asan_probe_noasan
fi
