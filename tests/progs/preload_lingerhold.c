/* preload_lingerhold.so — a test-only fault injector that makes the
 * library's linger thread hold its lock while the program copies itself
 * with a raw clone (tests/preload/forklock.sh, clone_linger; vsftpd's
 * hang).
 *
 * Loaded after libtlsshim.so, so that the library's pthread_mutex_lock
 * and its real syscall() and clone() (dlsym RTLD_NEXT) come here.  The
 * first mutex the thread named "tlsshim-linger" locks (its own lock, lk)
 * is kept, once taken, until one of:
 *  - the program's clone (syscall SYS_clone/SYS_clone3, or clone()) has
 *    returned in the parent: the child was made while the lock was held;
 *  - another thread asks for that same mutex (a library that takes its
 *    locks around the clone, as fork()'s handlers do, gets it);
 *  - LINGERHOLD_S seconds (default 30): a bound only.
 * lingerhold_wait(), which the program finds with dlsym, waits (the same
 * bound) until the thread holds it: the program clones then.  Every other
 * call goes straight through.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int (*real_lock)(pthread_mutex_t *);
static long (*real_syscall)(long, ...);
static int (*real_clone)(int (*)(void *), void *, int, void *, ...);

static _Atomic(pthread_mutex_t *) target;  /* the linger thread's first lock */
static atomic_int holding, wanted, cloned, done;
static __thread signed char is_linger = -1;

__attribute__((constructor)) static void init(void)
{
	real_lock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
	real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	real_clone = (int (*)(int (*)(void *), void *, int, void *, ...))dlsym(RTLD_NEXT, "clone");
}

static long bound_ms(void)
{
	const char *e = getenv("LINGERHOLD_S");
	long s = e ? atol(e) : 30;

	return (s > 0 ? s : 30) * 1000;
}

/* Until *a or *b is set, bound_ms() at most.  The sleep is the system
 * call itself: ThreadSanitizer's nanosleep() takes its thread registry's
 * lock on the way out, which its clone() holds around the library's
 * clone() (as around fork()): this thread, holding the lock the library's
 * clone() then asks for, would never see that it is wanted. */
static void wait_either(atomic_int *a, atomic_int *b)
{
	struct timespec t = { 0, 1000000 };

	for (long ms = bound_ms(); ms > 0 && !atomic_load(a) && !atomic_load(b); ms--)
		(void)real_syscall(SYS_nanosleep, &t, NULL);
}

static int linger_thread(void)
{
	if (is_linger < 0) {
		char name[16] = "";

		(void)prctl(PR_GET_NAME, name, 0, 0, 0);
		is_linger = strcmp(name, "tlsshim-linger") == 0;
	}
	return is_linger;
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
	int r;

	if (!real_lock)
		init();
	if (atomic_load(&done) || !linger_thread()) {
		if (atomic_load(&target) == m)
			atomic_store(&wanted, 1);
		return real_lock(m);
	}
	atomic_store(&done, 1);
	atomic_store(&target, m);
	r = real_lock(m);
	atomic_store(&holding, 1);
	wait_either(&cloned, &wanted);
	return r;
}

long syscall(long no, ...)
{
	va_list ap;
	long a[6], r;

	va_start(ap, no);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	r = real_syscall(no, a[0], a[1], a[2], a[3], a[4], a[5]);
	if ((no == SYS_clone || no == SYS_clone3) && r > 0)
		atomic_store(&cloned, 1);
	return r;
}

int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	void *ptid, *tls, *ctid;
	int r;

	va_start(ap, arg);
	ptid = va_arg(ap, void *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, void *);
	va_end(ap);
	r = real_clone(fn, stack, flags, arg, ptid, tls, ctid);
	if (r > 0)
		atomic_store(&cloned, 1);
	return r;
}

/* Until the linger thread holds its lock (see above). */
void lingerhold_wait(void)
{
	wait_either(&holding, &holding);
}
