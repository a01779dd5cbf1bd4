/* preload_epollgate.so — a test-only gate: holds a managed epoll wait
 * between the library's last look at the instance and its kernel wait,
 * and again after the kernel wait; holds an fcntl(F_DUPFD) just after
 * the copy is made.
 *
 *   LD_PRELOAD="libtlsshim.so preload_epollgate.so" EPOLLGATE=TO,FROM prog
 *
 * Loaded AFTER the library: the library's kernel waits (epoll_pwait2,
 * epoll_pwait) and its fcntl find these first.  A kernel wait for exactly
 * 3 events writes 'b' to fd TO and reads one byte from FROM before the
 * real call, then 'a' and one more byte after it; an fcntl(fd, F_DUPFD,
 * 333) writes 'd' once the copy is made and reads one byte.  Every other
 * call passes straight through.  The program (tests/progs/epoll_gate.c)
 * acts on the instance while the call is held.  Its own read and write
 * are the C library's (dlsym(RTLD_NEXT)), not the library's wrappers.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

typedef ssize_t (*rw_fn)(int, void *, size_t);

static void gate(char what)
{
	const char *e = getenv("EPOLLGATE");
	rw_fn w = (rw_fn)dlsym(RTLD_NEXT, "write"), r = (rw_fn)dlsym(RTLD_NEXT, "read");
	char *end;
	long to, from;
	char b;

	if (!e || !w || !r)
		return;
	to = strtol(e, &end, 10);
	if (*end != ',')
		return;
	from = strtol(end + 1, NULL, 10);
	if (w((int)to, &what, 1) == 1)
		(void)r((int)from, &b, 1);
}

int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *ts,
		 const sigset_t *mask)
{
	int (*real)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *) =
		(int (*)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *))
			dlsym(RTLD_NEXT, "epoll_pwait2");
	int k;

	if (max == 3)
		gate('b');
	k = real(epfd, ev, max, ts, mask);
	if (max == 3)
		gate('a');
	return k;
}

int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	int (*real)(int, struct epoll_event *, int, int, const sigset_t *) =
		(int (*)(int, struct epoll_event *, int, int, const sigset_t *))dlsym(RTLD_NEXT,
										   "epoll_pwait");
	int k;

	if (max == 3)
		gate('b');
	k = real(epfd, ev, max, timeout, mask);
	if (max == 3)
		gate('a');
	return k;
}

#define FCNTL(name)                                                                  \
	int name(int fd, int cmd, ...)                                               \
	{                                                                            \
		int (*real)(int, int, ...) = (int (*)(int, int, ...))dlsym(RTLD_NEXT, #name); \
		va_list ap;                                                          \
		void *arg;                                                           \
		int r;                                                               \
		va_start(ap, cmd);                                                   \
		arg = va_arg(ap, void *);                                            \
		va_end(ap);                                                          \
		r = real(fd, cmd, arg);                                              \
		if (cmd == F_DUPFD && (long)arg == 333 && r >= 0)                    \
			gate('d');                                                   \
		return r;                                                            \
	}
FCNTL(fcntl)
FCNTL(fcntl64)
