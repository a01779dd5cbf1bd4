/* preload_nopending.so — a test-only fault injector: listen() with a
 * backlog of 0 fails (EPERM, as a seccomp filter's answer) for a socket
 * bound to 127.254.0.0/16, the pump's channels' addresses, so that the
 * library's pending channel (shim/pump.c, pending_channel: a listener
 * with a full queue of length 0) cannot be made and a client session
 * handed over mid-handshake gets the ordinary channel, connected at
 * once.  Loaded AFTER the library: its listen() calls find
 * this one first.  Other sockets' listen() is the C library's. */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

int listen(int fd, int backlog)
{
	static int (*real)(int, int);
	struct sockaddr_in a;
	socklen_t l = sizeof a;

	if (!real && !(real = (int (*)(int, int))dlsym(RTLD_NEXT, "listen"))) {
		errno = ENOSYS;
		return -1;
	}
	if (backlog == 0 && getsockname(fd, (struct sockaddr *)&a, &l) == 0 && a.sin_family == AF_INET &&
	    (ntohl(a.sin_addr.s_addr) >> 16) == ((127u << 8) | 254u)) {
		errno = EPERM;
		return -1;
	}
	return real(fd, backlog);
}
