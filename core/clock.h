/* core/clock.h — the one clock of the library: CLOCK_MONOTONIC, for every
 * deadline (handshakes, waits, lingering), in ns or ms. */
#ifndef TLSSHIM_CORE_CLOCK_H
#define TLSSHIM_CORE_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
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

/* The longest time-out the library counts, in ns (about 146 years): a
 * program's longer one waits this long, for ever in practice, as the
 * kernel's own saturates; clock_ns() plus it cannot overflow. */
#define CLOCK_NS_FOREVER (INT64_MAX / 2)
/* A time-out the kernel refuses with EINVAL (from the two below). */
#define CLOCK_NS_INVALID INT64_MIN

/* A wait's time-out given as a timespec (ppoll, pselect, epoll_pwait2),
 * in ns: NULL is none (-1); a negative part or a tv_nsec of a second or
 * more is CLOCK_NS_INVALID; past CLOCK_NS_FOREVER, that. */
static inline int64_t clock_ts_timeout_ns(const struct timespec *ts)
{
	if (!ts)
		return -1;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return CLOCK_NS_INVALID;
	if (ts->tv_sec >= CLOCK_NS_FOREVER / 1000000000)
		return CLOCK_NS_FOREVER;
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* select's timeval the same way; Linux takes a tv_usec of a second or
 * more (the seconds in it are added), not a negative one. */
static inline int64_t clock_tv_timeout_ns(const struct timeval *tv)
{
	if (!tv)
		return -1;
	if (tv->tv_sec < 0 || tv->tv_usec < 0)
		return CLOCK_NS_INVALID;
	if (tv->tv_sec >= CLOCK_NS_FOREVER / 1000000000 - tv->tv_usec / 1000000)
		return CLOCK_NS_FOREVER;
	return ((int64_t)tv->tv_sec + tv->tv_usec / 1000000) * 1000000000 +
	       (int64_t)(tv->tv_usec % 1000000) * 1000;
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
