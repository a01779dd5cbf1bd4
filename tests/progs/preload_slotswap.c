/* preload_slotswap.so — a test-only fault injector: another thread's
 * dup2() onto the number the library's log has just been given, before
 * the log writes to it.  Loaded after libtlsshim.so, its fcntl() and
 * openat() are the library's "real" ones: when F_DUPFD_CLOEXEC or an
 * openat() of /proc/self/fd hands out a number below 100 (the lowest free
 * ones, where the program's own next descriptors go), the socket whose
 * number TLSSHIM_TEST_SLOTSWAP names is dup2()ed onto it right after the
 * library's fstat() of it, as a program thread could do between the
 * library's check and its write
 * (tests/preload/failclosed_log.sh, tests/progs/logslot.c); and when
 * a socketpair() hands out one (the library's probe of a pwritev2 flag),
 * right before its pwritev2() (tests/progs/rwfslot.c).
 *
 * With TLSSHIM_TEST_SLOTSWAP_TEXT: when an openat2() system call of a
 * path under /proc/ (the library's policy_open_proc), or an open() of one
 * under /proc/self/net/ (its TCP tables), hands out a number below 100, a
 * pipe holding that text is dup2()ed onto it right after the library's
 * fstatfs() of it (its procfs check) or before its first read(), as a
 * program thread's dup2() of its own pipe or socket there would do: the
 * library then reads the program's data as the /proc file
 * (tests/preload/readiness_bits.sh: "FDSize: 64" as select's bound;
 * tests/preload/escape.sh: a TCP table without the listener).  A number
 * the library closes is forgotten: only a use of the number it was
 * handed counts.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

static __thread int busy, pending = -1, pending_proc = -1;

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

/* The C library's openat (open(path) is openat(AT_FDCWD, path)). */
static int real_openat(int dir, const char *path, int flags, mode_t mode)
{
	static int (*real)(int, const char *, int, ...);

	if (!real)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	return real(dir, path, flags, mode);
}

int openat(int dir, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	int r;

	va_start(ap, flags);
	mode = (mode_t)va_arg(ap, int);
	va_end(ap);
	r = real_openat(dir, path, flags, mode);
	/* the library's reopen: openat(<its /proc/self/fd>, "N", O_WRONLY...) */
	if (r >= 0 && path[0] >= '0' && path[0] <= '9' && (flags & O_ACCMODE) == O_WRONLY)
		note(r);
	return r;
}

long syscall(long nr, ...)
{
	static long (*real)(long, ...);
	va_list ap;
	long a[6], r;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	r = real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (nr == SYS_openat2 && r >= 3 && r < 100 && getenv("TLSSHIM_TEST_SLOTSWAP_TEXT") &&
	    !strncmp((const char *)a[1], "/proc/", 6))
		pending_proc = (int)r;
	return r;
}

/* The number the library was handed for a /proc file: a pipe holding
 * the text put there. */
static void swap_text(int fd)
{
	const char *text = getenv("TLSSHIM_TEST_SLOTSWAP_TEXT");
	int p[2];

	if (fd != pending_proc || !text || busy)
		return;
	pending_proc = -1;
	busy = 1;
	if (pipe(p) == 0) {
		(void)!write(p[1], text, strlen(text));
		(void)dup2(p[0], fd);
		close(p[0]);
		close(p[1]);
	}
	busy = 0;
}

int fstatfs(int fd, struct statfs *st)
{
	static int (*real)(int, struct statfs *);
	int r;

	if (!real)
		real = (int (*)(int, struct statfs *))dlsym(RTLD_NEXT, "fstatfs");
	r = real(fd, st);
	swap_text(fd);
	return r;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	int r;

	va_start(ap, flags);
	r = real_openat(AT_FDCWD, path, flags, (mode_t)va_arg(ap, int));
	va_end(ap);
	if (r >= 3 && r < 100 && getenv("TLSSHIM_TEST_SLOTSWAP_TEXT") && !strncmp(path, "/proc/self/net/", 15))
		pending_proc = r;
	return r;
}

ssize_t read(int fd, void *buf, size_t n)
{
	static ssize_t (*real)(int, void *, size_t);

	if (!real)
		real = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	swap_text(fd);
	return real(fd, buf, n);
}

int close(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "close");
	if (fd == pending)
		pending = -1;
	if (fd == pending_proc)
		pending_proc = -1;
	return real(fd);
}

int socketpair(int d, int t, int p, int sv[2])
{
	static int (*real)(int, int, int, int *);
	int r;

	if (!real)
		real = (int (*)(int, int, int, int *))dlsym(RTLD_NEXT, "socketpair");
	r = real(d, t, p, sv);
	if (r == 0)
		note(sv[0]);
	return r;
}

ssize_t pwritev2(int fd, const struct iovec *v, int n, off_t off, int flags)
{
	static ssize_t (*real)(int, const struct iovec *, int, off_t, int);
	const char *e = getenv("TLSSHIM_TEST_SLOTSWAP");
	int s = e ? atoi(e) : -1;

	if (!real)
		real = (ssize_t (*)(int, const struct iovec *, int, off_t, int))dlsym(RTLD_NEXT, "pwritev2");
	if (fd == pending && s >= 0 && s != fd && !busy) {
		pending = -1;
		busy = 1;
		(void)dup2(s, fd);
		busy = 0;
	}
	return real(fd, v, n, off, flags);
}
