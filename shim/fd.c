/* shim/fd.c — the calls that create, copy and end fds: socket(), close(),
 * shutdown(), close_range(), dup(), dup2(), dup3(), fcntl(F_DUPFD*).
 *
 * A duplicate of a TLS fd shares its session (the kernel socket is the
 * same): it goes into the table too, so nothing written through it can
 * leave in clear, and close_notify waits for the last close. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/close_range.h>

#include "core/log.h"
#include "shim/shim.h"

/* ---- calls that hand out new fds -------------------------------------
 * A number handed out again was closed behind our back (by the C
 * library's own close, say): whatever the table recorded for it is stale
 * and must not turn this new file's I/O into TLS. */
static int fresh(int fd)
{
	if (fd >= 0 && conntab_maybe(fd)) {
		int saved = errno;
		conntab_forget(fd);
		shim_epoll_fds_closed(fd, fd);
		errno = saved;
	}
	return fd;
}

SHIM_EXPORT int socket(int domain, int type, int proto)
{
	int fd = REAL(socket)(domain, type, proto);

	/* A number the kernel hands out again was closed behind our back
	 * (e.g. glibc-internal close): whatever we knew of it is stale. */
	return fresh(fd);
}

SHIM_EXPORT int close(int fd)
{
	struct tls_conn *c;

	shim_epoll_forget(fd);
	shim_epoll_fds_closed(fd, fd);
	if (!conntab_maybe(fd) || !(c = conntab_detach(fd)))
		return REAL(close)(fd);
	return shim_tls_close(fd, c);
}

SHIM_EXPORT int shutdown(int fd, int how)
{
	struct tls_conn *c;
	int r;

	if (!conntab_maybe(fd) || !(c = conntab_get(fd)))
		return REAL(shutdown)(fd, how);
	r = shim_tls_shutdown(c, how);
	tls_conn_unref(c);
	return r;
}

/* fds first..last stop naming their sessions (closed, or about to be
 * replaced): each session's last fd sends close_notify, and with linger
 * the socket then lingers as after close().  The caller closes the fds. */
void shim_release_fds(int first, int last, bool linger)
{
	size_t high = conntab_high();

	for (size_t fd = first < 0 ? 0 : (size_t)first; fd < high && fd <= (size_t)last; fd++) {
		struct tls_conn *c;
		if (conntab_maybe((int)fd) && (c = conntab_detach((int)fd))) {
			if (shim_tls_release((int)fd, c) && linger && !tls_conn_failed(c))
				shim_linger((int)fd);
			tls_conn_unref(c);
		}
	}
}

SHIM_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	int saved = errno;

	/* With CLOSE_RANGE_CLOEXEC nothing closes now: exec will, and the
	 * image that ran us is gone by then. */
	if (!(flags & CLOSE_RANGE_CLOEXEC)) {
		int hi = last > 0x7fffffff ? 0x7fffffff : (int)last;
		shim_release_fds((int)first, hi, false);
		shim_epoll_fds_closed((int)first, hi);
	}
	errno = saved;
	return REAL(close_range)(first, last, flags);
}

/* newfd is now a copy of oldfd; share oldfd's session, if any. */
static int share(int oldfd, int newfd)
{
	struct tls_conn *c;

	if (newfd < 0 || oldfd == newfd)
		return newfd;
	fresh(newfd);
	if (!conntab_maybe(oldfd) || !(c = conntab_get(oldfd)))
		return newfd;
	if (tls_conn_fd_add(c, newfd) < 0 || conntab_attach(newfd, c) < 0) {
		/* Never leave a copy of a TLS socket that writes in clear. */
		log_error("%s: cannot track duplicate fd %d of a TLS connection; closing it",
			  tls_conn_peer(c), newfd);
		tls_conn_fd_remove(c, newfd);
		tls_conn_unref(c);
		REAL(close)(newfd);
		errno = EMFILE;
		return -1;
	}
	return newfd;
}

/* dup2/dup3 close newfd first: that ends newfd's own session use. */
static void drop_target(int oldfd, int newfd)
{
	if (oldfd != newfd) {
		shim_epoll_fds_closed(newfd, newfd);
		shim_release_fds(newfd, newfd, false);
	}
}

SHIM_EXPORT int dup(int fd)
{
	return share(fd, REAL(dup)(fd));
}

SHIM_EXPORT int dup2(int oldfd, int newfd)
{
	int saved = errno;

	if (fcntl(oldfd, F_GETFD) < 0)
		return -1;              /* EBADF, and newfd untouched */
	drop_target(oldfd, newfd);
	errno = saved;
	return share(oldfd, REAL(dup2)(oldfd, newfd));
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	int saved = errno;

	if (oldfd == newfd) {
		errno = EINVAL;
		return -1;
	}
	if (fcntl(oldfd, F_GETFD) < 0)
		return -1;
	drop_target(oldfd, newfd);
	errno = saved;
	return share(oldfd, REAL(dup3)(oldfd, newfd, flags));
}

/* fcntl's third argument is an int or a pointer; on the ABIs glibc
 * supports, passing it on as a pointer-sized value is exact. */
static int shim_fcntl(int (*real_fn)(int, int, ...), int fd, int cmd, void *arg)
{
	int r = real_fn(fd, cmd, arg);
	struct tls_conn *c;

	if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && r >= 0)
		return share(fd, r);
	if (cmd == F_SETFL && r == 0 && conntab_maybe(fd) && (c = conntab_get(fd))) {
		tls_conn_set_nonblock(c, ((long)arg & O_NONBLOCK) != 0);
		tls_conn_unref(c);
	}
	return r;
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return shim_fcntl(REAL(fcntl), fd, cmd, arg);
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return shim_fcntl(REAL(fcntl64), fd, cmd, arg);
}

/* stdio writes through the C library's internal write, which no preload
 * can see: a FILE on a TLS fd goes through a pump (pump.c), so the FILE
 * gets a plaintext socket and the wire stays TLS. */
SHIM_EXPORT FILE *fdopen(int fd, const char *mode)
{
	struct tls_conn *c;

	if (conntab_maybe(fd) && (c = conntab_get(fd))) {
		int r = shim_pump(c);
		if (r < 0)
			log_error("%s rule \"%s\": fdopen(): cannot start a pump for stdio; refused",
				  tls_conn_peer(c), tls_conn_rule(c)->name);
		tls_conn_unref(c);
		if (r < 0) {
			errno = EOPNOTSUPP;
			return NULL;
		}
	}
	return REAL(fdopen)(fd, mode);
}

SHIM_EXPORT void closefrom(int low)
{
	int saved = errno;

	shim_release_fds(low, 0x7fffffff, false);
	shim_epoll_fds_closed(low, 0x7fffffff);
	errno = saved;
	REAL(closefrom)(low);
}

/* FIONREAD on a TLS fd counts plaintext the program can read now. */
SHIM_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	struct tls_conn *c;
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == FIONREAD && arg && conntab_maybe(fd) && (c = conntab_get(fd))) {
		int n = tls_conn_handshake_done(c) ? (int)tls_conn_pending(c) : 0;
		if (!n && tls_conn_handshake_done(c) && tls_conn_poll_read(c))
			n = (int)tls_conn_pending(c);
		tls_conn_unref(c);
		*(int *)arg = n;
		return 0;
	}
	if (req == FIONBIO && arg && conntab_maybe(fd) && (c = conntab_get(fd))) {
		int r = REAL(ioctl)(fd, req, arg);
		if (r == 0)
			tls_conn_set_nonblock(c, *(int *)arg != 0);
		tls_conn_unref(c);
		return r;
	}
	return REAL(ioctl)(fd, req, arg);
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

SHIM_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	return fresh(REAL(open)(path, flags, m));
}

SHIM_EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	return fresh(REAL(open64)(path, flags, m));
}

SHIM_EXPORT int openat(int dir, const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	return fresh(REAL(openat)(dir, path, flags, m));
}

SHIM_EXPORT int openat64(int dir, const char *path, int flags, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, flags);
	m = mode_arg(flags, ap);
	va_end(ap);
	return fresh(REAL(openat64)(dir, path, flags, m));
}

SHIM_EXPORT int pipe(int p[2])
{
	int r = REAL(pipe)(p);

	if (r == 0) {
		fresh(p[0]);
		fresh(p[1]);
	}
	return r;
}

SHIM_EXPORT int pipe2(int p[2], int flags)
{
	int r = REAL(pipe2)(p, flags);

	if (r == 0) {
		fresh(p[0]);
		fresh(p[1]);
	}
	return r;
}

SHIM_EXPORT int socketpair(int d, int t, int pr, int sv[2])
{
	int r = REAL(socketpair)(d, t, pr, sv);

	if (r == 0) {
		fresh(sv[0]);
		fresh(sv[1]);
	}
	return r;
}

SHIM_EXPORT int eventfd(unsigned int v, int flags)
{
	return fresh(REAL(eventfd)(v, flags));
}

SHIM_EXPORT int __open_2(const char *path, int flags)
{
	return fresh(REAL(__open_2)(path, flags));
}

SHIM_EXPORT int __open64_2(const char *path, int flags)
{
	return fresh(REAL(__open64_2)(path, flags));
}
