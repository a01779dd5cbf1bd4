/* preload_norefuser.so — a test-only fault injector: listen() with a
 * backlog of 0 fails (EPERM, as a seccomp filter's answer) for a
 * non-blocking socket bound to 127.254.0.0/16: the pump's refuser
 * (shim/pump.c, refused_wait: made non-blocking, and made to listen
 * only when a handshake failed), not the pending channel's listener
 * (blocking), so that a failed handshake cannot be told to the
 * program's end as a refusal and the pump aborts that end instead.
 * Loaded AFTER the library: its listen() calls find this one first.
 * Other sockets' listen() is the C library's. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

int listen(int fd, int backlog)
{
	static int (*real)(int, int);
	struct sockaddr_in a;
	socklen_t l = sizeof a;
	int fl = fcntl(fd, F_GETFL);

	if (!real && !(real = (int (*)(int, int))dlsym(RTLD_NEXT, "listen"))) {
		errno = ENOSYS;
		return -1;
	}
	if (backlog == 0 && fl >= 0 && (fl & O_NONBLOCK) &&
	    getsockname(fd, (struct sockaddr *)&a, &l) == 0 && a.sin_family == AF_INET &&
	    (ntohl(a.sin_addr.s_addr) >> 16) == ((127u << 8) | 254u)) {
		errno = EPERM;
		return -1;
	}
	return real(fd, backlog);
}
