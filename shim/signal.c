/* shim/signal.c — which signal handlers interrupt a blocking call.
 *
 * The kernel restarts a blocking read() or write() interrupted by a
 * signal whose handler was installed with SA_RESTART, and fails it with
 * EINTR otherwise.  The shim's own waits (wait.c) are ppoll() calls, which
 * the kernel never restarts, so the shim keeps the set of signals whose
 * handlers lack SA_RESTART, from every way a program installs one
 * (sigaction, signal, sysv_signal, bsd_signal, sigset, siginterrupt), and
 * an interrupted wait fails with EINTR only when such a signal could have
 * been delivered to the thread (fault signals left out: see synchronous()). */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>

#include "shim/shim.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static _Atomic uint64_t norestart;      /* bit n-1: signal n */

/* The signals the kernel raises for a fault of the thread itself, which
 * cannot arrive while it sleeps in ppoll() (but from kill(), which a
 * program has no reason to send them with).  Crash reporters and
 * sanitizers install handlers for them without SA_RESTART; counting those
 * would turn every interruption of a wait, by any other signal (a
 * SIGCHLD or SIGALRM with SA_RESTART), into EINTR. */
static bool synchronous(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP ||
	       sig == SIGSYS;
}

static void note(int sig, const struct sigaction *sa)
{
	uint64_t bit;

	if (sig < 1 || sig > 64 || !sa || synchronous(sig))
		return;
	bit = UINT64_C(1) << (sig - 1);
	if (sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN && !(sa->sa_flags & SA_RESTART))
		atomic_fetch_or(&norestart, bit);
	else
		atomic_fetch_and(&norestart, ~bit);
}

/* At start-up: handlers installed before us (another library's
 * constructor, or inherited dispositions: only SIG_DFL/SIG_IGN survive
 * exec, so this is quick). */
void shim_signal_init(void)
{
	for (int sig = 1; sig < 65; sig++) {
		struct sigaction sa;
		if (REAL(sigaction)(sig, NULL, &sa) == 0)
			note(sig, &sa);
	}
}

bool shim_signal_restarts(void)
{
	uint64_t m = atomic_load(&norestart);
	sigset_t blocked;

	if (!m)
		return true;
	if (pthread_sigmask(SIG_BLOCK, NULL, &blocked) == 0)
		for (int sig = 1; sig < 65; sig++)
			if ((m & (UINT64_C(1) << (sig - 1))) && sigismember(&blocked, sig) == 1)
				m &= ~(UINT64_C(1) << (sig - 1));
	return m == 0;
}

/* ThreadSanitizer (make check-tsan) loads its runtime before us, and its
 * initialisation installs its own handlers with the next sigaction() in
 * the search order: ours, before our constructor and before its own
 * state exists, so that any instrumented code (a function entry) would
 * crash it.  Until the shim has resolved libc, this entry point is not
 * instrumented and calls the next definition directly, noting nothing:
 * shim_signal_init() (our constructor) looks at every handler installed
 * before it anyway.  Without ThreadSanitizer the attribute changes
 * nothing. */
__attribute__((no_sanitize_thread))
static int sigaction_early(int sig, const struct sigaction *act, struct sigaction *old)
{
	static int (*next)(int, const struct sigaction *, struct sigaction *);

	if (!next)
		next = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
	if (!next) {
		errno = ENOSYS;
		return -1;
	}
	return next(sig, act, old);
}

static int sigaction_noted(int sig, const struct sigaction *act, struct sigaction *old)
{
	int r = REAL(sigaction)(sig, act, old);

	if (r == 0 && act)
		note(sig, act);
	return r;
}

__attribute__((no_sanitize_thread))
SHIM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (!__atomic_load_n(&real_ready, __ATOMIC_ACQUIRE))
		return sigaction_early(sig, act, old);
	return sigaction_noted(sig, act, old);
}

__attribute__((no_sanitize_thread))
SHIM_EXPORT int __sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return sigaction(sig, act, old);
}

/* The others are defined by the C library in terms of its internal
 * sigaction, which no wrapper sees: call them, then look. */
static void refresh(int sig)
{
	struct sigaction sa;

	if (REAL(sigaction)(sig, NULL, &sa) == 0)
		note(sig, &sa);
}

/* signal() and its relatives: call, then look at what they set. */
#define SIGNAL_ENTRY(name)                                                   \
	SHIM_EXPORT __sighandler_t name(int sig, __sighandler_t h)           \
	{                                                                    \
		__sighandler_t r = REAL(name)(sig, h);                       \
		refresh(sig);                                                \
		return r;                                                    \
	}
SIGNAL_ENTRY(signal)
SIGNAL_ENTRY(bsd_signal)
SIGNAL_ENTRY(sysv_signal)
SIGNAL_ENTRY(sigset)

SHIM_EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t h)
{
	return sysv_signal(sig, h);
}

/* glibc's ssignal is its signal under a second, public name. */
SHIM_EXPORT __sighandler_t ssignal(int sig, __sighandler_t h)
{
	return signal(sig, h);
}

SHIM_EXPORT int siginterrupt(int sig, int flag)
{
	int r = REAL(siginterrupt)(sig, flag);

	refresh(sig);
	return r;
}
