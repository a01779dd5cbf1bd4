/* preload_slotswap.so — a test-only fault injector: another thread's
 * dup2() onto the number the library's log has just been given, before
 * the log writes to it.  Loaded after libtlsshim.so, its fcntl() and
 * openat() are the library's "real" ones: when F_DUPFD_CLOEXEC or an
 * openat() of /proc/self/fd hands out a number below 100 (the lowest free
 * ones, where the program's own next descriptors go), the socket whose
 * number TLSSHIM_TEST_SLOTSWAP names is dup2()ed onto it right after the
 * library's fstat() of it, as a program thread could do between the
 * library's check and its write
 * (tests/preload/failclosed_log.sh, tests/progs/logslot.c).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static __thread int busy, pending = -1;

/* A number handed out: swapped after its first fstat (the library's
 * check), before the write. */
static void note(int got)
{
	if (got >= 3 && got < 100 && getenv("TLSSHIM_TEST_SLOTSWAP"))
		pending = got;
}

int fstat(int fd, struct stat *st)
{
	static int (*real)(int, struct stat *);
	const char *e = getenv("TLSSHIM_TEST_SLOTSWAP");
	int r, s = e ? atoi(e) : -1;

	if (!real)
		real = (int (*)(int, struct stat *))dlsym(RTLD_NEXT, "fstat");
	r = real(fd, st);
	if (fd == pending && s >= 0 && s != fd && !busy) {
		pending = -1;
		busy = 1;
		(void)dup2(s, fd);
		busy = 0;
	}
	return r;
}

int fcntl(int fd, int cmd, ...)
{
	static int (*real)(int, int, ...);
	va_list ap;
	long arg;
	int r;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (!real)
		real = (int (*)(int, int, ...))dlsym(RTLD_NEXT, "fcntl");
	r = real(fd, cmd, arg);
	if (cmd == F_DUPFD_CLOEXEC && r >= 0)
		note(r);
	return r;
}

int openat(int dir, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	va_list ap;
	mode_t mode;
	int r;

	va_start(ap, flags);
	mode = (mode_t)va_arg(ap, int);
	va_end(ap);
	if (!real)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	r = real(dir, path, flags, mode);
	/* the library's reopen: openat(<its /proc/self/fd>, "N", O_WRONLY...) */
	if (r >= 0 && path[0] >= '0' && path[0] <= '9' && (flags & O_ACCMODE) == O_WRONLY)
		note(r);
	return r;
}
