/* core/lock.h — a mutex that knows which thread holds it.
 *
 * A signal handler may call into the shim (write(), close(), _exit())
 * while the thread it interrupted is inside the shim holding a lock.
 * Taking that lock again would deadlock the thread for ever.  Every lock
 * of the shim records its holder, so such a path can see that the lock
 * is its own thread's and take another way (skip, fail, or go on without
 * it where the data is atomic) instead of blocking.
 */
#ifndef TLSSHIM_CORE_LOCK_H
#define TLSSHIM_CORE_LOCK_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct xlock {
	pthread_mutex_t m;
	_Atomic uintptr_t holder;   /* pthread_self() of the holder, or 0 */
};

#define XLOCK_INIT { PTHREAD_MUTEX_INITIALIZER, 0 }

/* The lock this thread is between taking (or releasing) the mutex and
 * recording (or clearing) itself as holder: a signal handler that lands
 * in that window sees the lock as possibly its own (xlock_maybe_mine),
 * never waits for it.  (core/conntab.c defines it.) */
extern __thread struct xlock *xlock_window __attribute__((tls_model("initial-exec")));

static inline uintptr_t xlock_self(void)
{
	return (uintptr_t)pthread_self();
}

static inline void xlock_init(struct xlock *l)
{
	pthread_mutex_init(&l->m, NULL);
	atomic_store_explicit(&l->holder, 0, memory_order_relaxed);
}

/* Held by the calling thread (only ever true inside a signal handler that
 * interrupted it, or in code that holds it on purpose). */
static inline bool xlock_mine(struct xlock *l)
{
	return atomic_load_explicit(&l->holder, memory_order_relaxed) == xlock_self();
}

/* Held by this thread, or this thread is in the middle of taking or
 * releasing it (a signal handler that interrupted it there): for paths
 * that give up (EDEADLK) rather than go on without the lock. */
static inline bool xlock_maybe_mine(struct xlock *l)
{
	return xlock_window == l || xlock_mine(l);
}

static inline void xlock_lock(struct xlock *l)
{
	struct xlock *prev = xlock_window;

	xlock_window = l;
	atomic_signal_fence(memory_order_seq_cst);
	pthread_mutex_lock(&l->m);
	atomic_store_explicit(&l->holder, xlock_self(), memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	xlock_window = prev;
}

static inline void xlock_unlock(struct xlock *l)
{
	struct xlock *prev = xlock_window;

	xlock_window = l;
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&l->holder, 0, memory_order_relaxed);
	pthread_mutex_unlock(&l->m);
	atomic_signal_fence(memory_order_seq_cst);
	xlock_window = prev;
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
	struct timespec ts;

	if (xlock_mine(l))
		return false;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	if (pthread_mutex_timedlock(&l->m, &ts) != 0)
		return false;
	atomic_store_explicit(&l->holder, xlock_self(), memory_order_relaxed);
	return true;
}

#endif
