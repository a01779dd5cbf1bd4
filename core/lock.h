/* core/lock.h — a lock whose holder is the lock itself.
 *
 * A signal handler may call into the shim (write(), close(), _exit())
 * while the thread it interrupted is inside the shim holding a lock.
 * Taking that lock again would deadlock the thread for ever.  So a path
 * that a handler can reach first asks whether its own thread holds the
 * lock, and takes another way (skip, fail, or go on without it where the
 * data is atomic) instead of blocking.
 *
 * The answer must be exact at every instruction the handler can land on.
 * A pthread mutex with a holder recorded beside it is not: between
 * pthread_mutex_lock() returning and the holder's store (or between
 * clearing it and the unlock) the mutex is this thread's but says
 * otherwise, and a handler landing there waited on the futex for ever
 * (failclosed_signal.sh, about 1 run in 20 under load).  Here the holder
 * word is the lock: taking it is one compare-and-swap of 0 to
 * pthread_self(), releasing it one store of 0, so the thread holds the
 * lock exactly when the word names it.  A thread that finds it taken
 * sleeps on a semaphore (sem_wait: no system call of ours, and sem_post
 * is async-signal-safe), counted in `waiters` so that an uncontended
 * release makes no system call.
 *
 * Acquire on the swap and release on the store order the data the lock
 * protects (ThreadSanitizer sees them as such); Helgrind, which knows
 * only the C library's locks, is told with its client requests, made only
 * when the program runs under helgrind (core/hgann.h: outside it they
 * were four no-op sequences, some 40 instructions, per lock taken).
 */
#ifndef TLSSHIM_CORE_LOCK_H
#define TLSSHIM_CORE_LOCK_H

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/clock.h"

#include "core/hgann.h"     /* HG_DO: helgrind's requests, made under helgrind only */

/* The uncontended paths, inline wherever a lock is taken: with the look
 * at helgrind's flag (hg_on) GCC called xlock_take and xlock_unlock out
 * of line, 300 instructions more per round trip of a kept-open
 * connection. */
#define XLOCK_INLINE __attribute__((always_inline))

/* Cancellation.  A thread cancelled while it holds one of these locks
 * would unwind past it (the engine's sends and receives, and the log's
 * writes, are cancellation points), and every other thread would then
 * wait for it for ever.  So while a thread holds any of them its
 * cancellation is disabled: the first lock it takes saves its state, the
 * last it lets go restores it, in whatever order they go (core/lock.c). */
extern __thread unsigned xlock_held_ __attribute__((tls_model("initial-exec")));
extern __thread int xlock_cancel_ __attribute__((tls_model("initial-exec")));

/* Nonzero while the thread runs inside a shim call that disabled its
 * cancellation already (shim_call_begin; shim/wait.c zeroes it around
 * the one place where it enables it again): the first lock then has
 * nothing to save and the last nothing to restore (xlock_cancel_ -1),
 * two pthread_setcancelstate() calls (an atomic swap each) fewer per
 * lock taken.  Invariant, at every instruction a signal handler can land
 * on: nonzero only while cancellation is disabled. */
extern __thread unsigned xlock_nocancel_ __attribute__((tls_model("initial-exec")));

static inline void xlock_held_more(void)
{
	if (xlock_held_++ == 0) {
		if (xlock_nocancel_)
			xlock_cancel_ = -1;
		else
			pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &xlock_cancel_);
	}
}

static inline void xlock_held_less(void)
{
	/* Read before the count drops: a signal handler that takes a lock
	 * once the count is 0 saves the state of that instant (disabled)
	 * over xlock_cancel_. */
	int cs = xlock_cancel_;

	atomic_signal_fence(memory_order_seq_cst);
	if (xlock_held_ && --xlock_held_ == 0 && cs >= 0)
		pthread_setcancelstate(cs, NULL);
}

struct xlock {
	_Atomic uintptr_t holder;   /* pthread_self() of the holder, or 0: free */
	_Atomic unsigned waiters;   /* threads between wanting it and sleeping on sem */
	sem_t sem;                  /* a release with waiters posts one wake-up */
};

/* A static lock: glibc's sem_t all zero is what sem_init(sem, 0, 0)
 * makes. */
#define XLOCK_INIT { 0, 0, { { 0 } } }

static inline uintptr_t xlock_self(void)
{
	return (uintptr_t)pthread_self();
}

static inline void xlock_init(struct xlock *l)
{
	atomic_store_explicit(&l->holder, 0, memory_order_relaxed);
	atomic_store_explicit(&l->waiters, 0, memory_order_relaxed);
	sem_init(&l->sem, 0, 0);
	HG_DO(VALGRIND_HG_MUTEX_INIT_POST(l, 0));
}

static inline void xlock_destroy(struct xlock *l)
{
	HG_DO(VALGRIND_HG_MUTEX_DESTROY_PRE(l));
	sem_destroy(&l->sem);
}

/* Held by the calling thread (only ever true inside a signal handler that
 * interrupted it, or in code that holds it on purpose).  Exact at every
 * instruction of the interrupted thread. */
static inline bool xlock_mine(struct xlock *l)
{
	return atomic_load_explicit(&l->holder, memory_order_relaxed) == xlock_self();
}

static inline bool xlock_try(struct xlock *l)
{
	uintptr_t free_ = 0;

	return atomic_compare_exchange_strong_explicit(&l->holder, &free_, xlock_self(),
						       memory_order_acquire, memory_order_relaxed);
}

/* The waiter's second look: sequentially consistent even when it fails,
 * as the count before it and the release's store and load of the count
 * are, so that the two cannot both miss each other (the look answered
 * before the count is seen: a store-buffering outcome). */
static inline bool xlock_try_sc(struct xlock *l)
{
	uintptr_t free_ = 0;

	return atomic_compare_exchange_strong_explicit(&l->holder, &free_, xlock_self(),
						       memory_order_seq_cst, memory_order_seq_cst);
}

/* Wait for a release, or until *until (CLOCK_MONOTONIC; NULL: for ever).
 * false when the time is up.  errno is left as found (a handler may be
 * the caller).  Not a cancellation point (sem_wait is one, and a thread
 * cancelled there would unwind past the locks it holds, as
 * pthread_mutex_lock never lets it). */
static inline bool xlock_wait(struct xlock *l, const struct timespec *until)
{
	int e = errno, r, cs;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	do
		r = until ? sem_clockwait(&l->sem, CLOCK_MONOTONIC, until) : sem_wait(&l->sem);
	while (r < 0 && errno == EINTR);
	r = r == 0 || errno != ETIMEDOUT;
	pthread_setcancelstate(cs, NULL);
	errno = e;
	return r;
}

/* Taken: wait for it (out of line, so that the uncontended path stays
 * small enough to inline everywhere). */
static __attribute__((noinline, cold, unused))
bool xlock_take_slow(struct xlock *l, const struct timespec *until)
{
	for (;;) {
		bool woke;

		/* Counted before the second look: a release that comes after
		 * the look sees the count and posts. */
		atomic_fetch_add_explicit(&l->waiters, 1, memory_order_seq_cst);
		if (xlock_try_sc(l)) {
			atomic_fetch_sub_explicit(&l->waiters, 1, memory_order_relaxed);
			return true;
		}
		woke = xlock_wait(l, until);
		atomic_fetch_sub_explicit(&l->waiters, 1, memory_order_relaxed);
		if (xlock_try(l))
			return true;
		if (!woke)
			return false;
	}
}

/* Take it; with until, give up at that time (false). */
static inline bool xlock_take_(struct xlock *l, const struct timespec *until)
{
	return xlock_try(l) || xlock_take_slow(l, until);
}

/* Cancellation goes off (xlock_held_more) before the lock is this
 * thread's, not after: a signal handler landing between the two found it
 * on, and a pending cancellation acted on there (the handler's write(),
 * a cancellation point) unwound the thread with the lock held, which
 * every other thread then waited for for ever (helper-129).  A thread
 * that does not get it (a timed wait) lets go of its count.  hg: tell
 * helgrind (a constant: each function below is made twice, with and
 * without its requests, and chooses by one look at the flag). */
static inline XLOCK_INLINE bool xlock_take_as(struct xlock *l, const struct timespec *until, bool hg)
{
	bool ok;

	if (hg)
		VALGRIND_HG_MUTEX_LOCK_PRE(l, until != NULL);
	xlock_held_more();
	ok = xlock_take_(l, until);
	if (!ok)
		xlock_held_less();
	else if (hg)
		VALGRIND_HG_MUTEX_LOCK_POST(l);
	return ok;
}

/* The lock goes first, then the count (and with the last one the
 * thread's cancellation state comes back): a cancellation acted on in
 * between finds the lock free. */
static inline XLOCK_INLINE void xlock_unlock_as(struct xlock *l, bool hg)
{
	if (hg)
		VALGRIND_HG_MUTEX_UNLOCK_PRE(l);
	atomic_store_explicit(&l->holder, 0, memory_order_seq_cst);
	if (atomic_load_explicit(&l->waiters, memory_order_seq_cst)) {
		int e = errno;

		sem_post(&l->sem);     /* EOVERFLOW at most: the waiters wake anyway */
		errno = e;
	}
	if (hg)
		VALGRIND_HG_MUTEX_UNLOCK_POST(l);
	xlock_held_less();
}

/* A lock that does not wait: false when taken (by anyone). */
static inline XLOCK_INLINE bool xlock_trylock_as(struct xlock *l, bool hg)
{
	if (hg)
		VALGRIND_HG_MUTEX_LOCK_PRE(l, 1);
	xlock_held_more();      /* (before: see xlock_take) */
	if (!xlock_try(l)) {
		xlock_held_less();
		return false;
	}
	if (hg)
		VALGRIND_HG_MUTEX_LOCK_POST(l);
	return true;
}

static __attribute__((noinline, cold, unused))
bool xlock_take_hg(struct xlock *l, const struct timespec *until)
{
	return xlock_take_as(l, until, true);
}

static __attribute__((noinline, cold, unused)) void xlock_unlock_hg(struct xlock *l)
{
	xlock_unlock_as(l, true);
}

static __attribute__((noinline, cold, unused)) bool xlock_trylock_hg(struct xlock *l)
{
	return xlock_trylock_as(l, true);
}

static inline XLOCK_INLINE bool xlock_take(struct xlock *l, const struct timespec *until)
{
	return hg_on() ? xlock_take_hg(l, until) : xlock_take_as(l, until, false);
}

static inline void xlock_lock(struct xlock *l)
{
	(void)xlock_take(l, NULL);
}

static inline XLOCK_INLINE void xlock_unlock(struct xlock *l)
{
	if (hg_on())
		xlock_unlock_hg(l);
	else
		xlock_unlock_as(l, false);
}

static inline XLOCK_INLINE bool xlock_trylock(struct xlock *l)
{
	return hg_on() ? xlock_trylock_hg(l) : xlock_trylock_as(l, false);
}

/* fork()'s child handler, for a lock the prepare handler went for: the
 * parent's threads that were waiting for it are not in the child, so
 * their count (and the semaphore's) goes; released when the prepare
 * handler took it (took), else its holder is this thread, inside a
 * signal handler's fork, and goes on to release it itself. */
static inline void xlock_fork_child(struct xlock *l, bool took)
{
	atomic_store_explicit(&l->waiters, 0, memory_order_relaxed);
	sem_init(&l->sem, 0, 0);
	if (took) {
		HG_DO(VALGRIND_HG_MUTEX_UNLOCK_PRE(l));
		atomic_store_explicit(&l->holder, 0, memory_order_release);
		HG_DO(VALGRIND_HG_MUTEX_UNLOCK_POST(l));
		xlock_held_less();
	}
}

/* fork()'s parent and child handlers, for a lock the prepare handler went
 * for (took: it took it, false: the forking thread held it already). */
static inline void xlock_fork_release(struct xlock *l, bool took, bool child)
{
	if (child)
		xlock_fork_child(l, took);
	else if (took)
		xlock_unlock(l);
}

/* Lock unless this thread holds it already; false then (nothing taken). */
static inline bool xlock_lock_unless_mine(struct xlock *l)
{
	if (xlock_mine(l))
		return false;
	xlock_lock(l);
	return true;
}

/* For exit paths: never block for ever.  false when this thread holds it
 * or it stayed busy for ms milliseconds. */
static inline bool xlock_lock_timed(struct xlock *l, int ms)
{
	struct timespec until;

	if (xlock_mine(l))
		return false;
	until = clock_after_ms(CLOCK_MONOTONIC, ms);
	return xlock_take(l, &until);
}

#endif
