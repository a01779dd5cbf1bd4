/* core/clock.h — the one clock of the library: CLOCK_MONOTONIC, for every
 * deadline (handshakes, waits, lingering), in ns or ms. */
#ifndef TLSSHIM_CORE_CLOCK_H
#define TLSSHIM_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_ms(void)
{
	return clock_ns() / 1000000;
}

/* The time ms milliseconds from now on clock id, as the absolute
 * timespec of the waits that take one (sem_clockwait: CLOCK_MONOTONIC;
 * pthread_cond_timedwait: CLOCK_REALTIME). */
static inline struct timespec clock_after_ms(clockid_t id, int64_t ms)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

#endif
