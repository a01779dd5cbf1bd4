#!/bin/sh
# tests/infra/asanprobe.sh — common.inc's asan_hangs checks itself.
# With the ASan build, curl_client.sh, postgres.sh and slapd.sh ask
# whether a Debian program deadlocks with libasan alone preloaded, and
# test a fallback when it does; a slow start taken for the deadlock
# would test the fallback instead of the program.  So the answer comes
# from the process's state, and here:
#  * a process deadlocked on a lock (every thread in futex() without a
#    timeout) is hung, found by its state, and killed; so is curl with
#    libtsan alone (the same deadlock, for a TSan build);
#  * not hung, each ending on its own: a process busy on the CPU for
#    longer than the one-second rule, one asleep in nanosleep(), one in a
#    timed futex() wait, and one in a futex() wait without a timeout that
#    a timer signal wakes every 50 ms (every look finds it waiting; its
#    time on a CPU moves);
#  * without a sanitizer runtime in SHIM_PRELOAD nothing is run and the
#    answer is no.
# asan_hangs preloads the sanitizer's runtime alone, never the library:
# the answers are the same for every build, so the first build only.
# tlsshim-test: once
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
ASAN=$(${CC:-cc} -print-file-name=libasan.so 2>/dev/null)
ASAN=$(readlink -f "$ASAN" 2>/dev/null)
if [ ! -f "$ASAN" ]; then
	fail asan_probe_setup "no libasan.so (${CC:-cc} -print-file-name; Debian's libasan8 comes with gcc)"
	exit 1
fi
SHIM_PRELOAD="$ASAN $TLSSHIM_LIB"
# ASan's leak report at exit says nothing here (nor does its status).
ASAN_OPTIONS=detect_leaks=0
export ASAN_OPTIONS

# A lock taken twice by the one thread that holds it: a deadlock in futex().
if asan_hangs "$PY" -c 'import threading; l = threading.Lock(); l.acquire(); l.acquire()'; then
	if [ -d "/proc/$_ah_p" ]; then
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
	fail asan_probe_busy "a process busy on the CPU was taken for hung"
else
	pass asan_probe_busy
fi

# Asleep for 2 s, not on a lock: not hung either.
if asan_hangs sleep 2; then
	fail asan_probe_sleep "a process in nanosleep() was taken for hung"
else
	pass asan_probe_sleep
fi

# In a timed futex() wait for 2.5 s: it ends by itself, so not hung.
asan_hangs "$PY" -c 'import threading; threading.Event().wait(2.5)'
rc=$?
if [ "$rc" -eq 1 ]; then
	pass asan_probe_timedwait
else
	fail asan_probe_timedwait "a process in a timed futex() wait: asan_hangs said $rc (0: hung)"
fi

# Waiting on a lock without a timeout, but woken every 50 ms by a timer
# signal whose handler ends it after 2 s: at every look its thread is in
# futex() with no timeout, but it gets time on a CPU, so not hung (the
# rule's CPU half; without it this is taken for the deadlock).
asan_hangs "$PY" -c 'import os, signal, threading, time
end = time.monotonic() + 2
def tick(*_):
    if time.monotonic() > end:
        os._exit(0)
signal.signal(signal.SIGALRM, tick)
signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
l = threading.Lock()
l.acquire()
l.acquire()'
rc=$?
if [ "$rc" -eq 1 ]; then
	pass asan_probe_woken
else
	fail asan_probe_woken "a lock wait woken by a timer every 50 ms: asan_hangs said $rc (0: hung)"
fi

# A TSan build: libtsan alone, and curl deadlocks with it as with libasan.
TSAN=$(readlink -f "$(${CC:-cc} -print-file-name=libtsan.so 2>/dev/null)" 2>/dev/null)
if [ ! -f "$TSAN" ]; then
	fail asan_probe_tsan "no libtsan.so (${CC:-cc} -print-file-name; Debian's libtsan2 comes with gcc)"
else
	SHIM_PRELOAD="$TSAN $TLSSHIM_LIB"
	if asan_hangs curl -V; then
		pass asan_probe_tsan
	else
		fail asan_probe_tsan "curl with $TSAN alone was not found hung (it deadlocks on a glibc locale lock)"
	fi
fi

# No sanitizer runtime preloaded (the default build): not run at all.
SHIM_PRELOAD=$TLSSHIM_LIB
if asan_hangs touch "$T/ran" || [ -e "$T/ran" ]; then
	fail asan_probe_noasan "without libasan or libtsan in SHIM_PRELOAD the command ran, or was called hung"
else
	pass asan_probe_noasan
fi
