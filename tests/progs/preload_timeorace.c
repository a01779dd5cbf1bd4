/* preload_timeorace.so — a test-only race maker: another thread of the
 * program sets SO_RCVTIMEO on a TLS socket (setsockopt(), through the
 * library's wrapper) between the library's look at the socket's time-out
 * at a session's first wait and its note of what it saw (shim/sock.c,
 * shim_conn_timeout_ms; tests/preload/timeo_ask.sh, timeo_set_mid_wait).
 * Loaded AFTER the library, so that the library's getsockopt() finds this
 * one first.  While TLSSHIM_TEST_TIMEO_RACE is "MS" in the environment
 * (the test's program sets it just before its read), the first
 * getsockopt(SOL_SOCKET, SO_RCVTIMEO) answers (none, as the program has
 * set none yet) and then sets a receive time-out of MS ms on that socket,
 * as the program's other thread would in the microseconds between the
 * answer and its use, and says so on standard error ("timeorace: set").
 * Once; every other call is the C library's. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	static int (*real)(int, int, int, void *, socklen_t *);
	static int fired;
	const char *how = getenv("TLSSHIM_TEST_TIMEO_RACE");
	struct timeval tv;
	int r, e, ms;

	if (!real && !(real = (int (*)(int, int, int, void *, socklen_t *))
			       dlsym(RTLD_NEXT, "getsockopt"))) {
		errno = ENOSYS;
		return -1;
	}
	r = real(fd, level, name, val, len);
	if (fired || !how || level != SOL_SOCKET || name != SO_RCVTIMEO)
		return r;
	fired = 1;
	e = errno;
	ms = atoi(how);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = ms % 1000 * 1000;
	/* (the library's setsockopt, as the program's other thread's) */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0)
		(void)!write(2, "timeorace: set\n", 15);
	errno = e;
	return r;
}
