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

#endif
