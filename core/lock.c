/* core/lock.c — the per-thread count behind core/lock.h's cancellation
 * rule: how many of its locks the thread holds, and the cancellation
 * state the first one saved. */
#include "core/lock.h"

__thread unsigned xlock_held_ __attribute__((tls_model("initial-exec")));
__thread int xlock_cancel_ __attribute__((tls_model("initial-exec")));
__thread unsigned xlock_nocancel_ __attribute__((tls_model("initial-exec")));

#ifdef TLSSHIM_HG_REQUESTS
int hg_on_ = -1;

/* Under helgrind, or not yet asked: asked once (a race between two
 * first askers writes the same answer).  Helgrind answers this request
 * with the count of addressable bytes (1), every other tool and a program
 * outside valgrind with the default, -2 (truncated to 32 bits by the
 * macro: compared with 1).  A client request is no call: safe in a signal
 * handler and in a fork's child. */
__attribute__((noinline, cold)) bool hg_on_slow(void)
{
	static const char probe = 0;
	int on = __atomic_load_n(&hg_on_, __ATOMIC_RELAXED);

	if (on < 0) {
		on = VALGRIND_HG_GET_ABITS((void *)&probe, NULL, 1) == 1;
		__atomic_store_n(&hg_on_, on, __ATOMIC_RELAXED);
	}
	return on > 0;
}
#endif
