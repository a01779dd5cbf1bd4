/* waitproc.h — what the wait programs (waitexit, waitlines, waitlisten)
 * share: a monotonic clock in milliseconds and tests/lib.sh's alive. */
#ifndef WAITPROC_H
#define WAITPROC_H
#include <stdio.h>
#include <string.h>
#include <time.h>

static inline long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 when PID exists and is neither a zombie nor dead (lib.sh's alive). */
static inline int alive(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X' && p[2] != 0;
}
/* 0 once DEADLINE (now_ms()) has passed; else sleeps STEP milliseconds
 * (less when the deadline is nearer) and returns 1: a polling loop's end. */
static inline int pause_until(long long deadline, long long step)
{
	long long left = deadline - now_ms();
	if (left <= 0)
		return 0;
	struct timespec pause = { 0, (left < step ? left : step) * 1000000L };
	nanosleep(&pause, NULL);
	return 1;
}
#endif
