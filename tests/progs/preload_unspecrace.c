/* preload_unspecrace.so — a test-only race maker: another holder of a
 * socket disconnects it (connect() with AF_UNSPEC) between the library's
 * look at its TCP state and the library's connect() (shim/connect.c,
 * pumped_connect; tests/preload/pumped_reconnect.sh, race).  Loaded AFTER
 * the library, so that the library's getsockopt() finds this one first.
 * While TLSSHIM_TEST_UNSPEC_RACE is set in the environment (the test's
 * program sets it just before its connect()), the first
 * getsockopt(IPPROTO_TCP, TCP_INFO) that finds a TCP state other than
 * CLOSE returns that state and then disconnects the socket, through the
 * C library's connect(), not the library's: as another process holding
 * the same socket would, in the microseconds between the two calls.
 * Once only; every other call is the C library's. */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	static int (*real)(int, int, int, void *, socklen_t *);
	static int (*real_connect)(int, const struct sockaddr *, socklen_t);
	static int fired;
	int r, e;

	if (!real && !(real = (int (*)(int, int, int, void *, socklen_t *))
			       dlsym(RTLD_NEXT, "getsockopt"))) {
		errno = ENOSYS;
		return -1;
	}
	r = real(fd, level, name, val, len);
	if (r == 0 && !fired && level == IPPROTO_TCP && name == TCP_INFO &&
	    getenv("TLSSHIM_TEST_UNSPEC_RACE") && *len >= sizeof(unsigned char) &&
	    ((const struct tcp_info *)val)->tcpi_state != TCP_CLOSE) {
		struct sockaddr sa = { .sa_family = AF_UNSPEC };

		e = errno;
		if (!real_connect)
			real_connect = (int (*)(int, const struct sockaddr *, socklen_t))
				dlsym(RTLD_NEXT, "connect");
		if (real_connect && real_connect(fd, &sa, sizeof sa) == 0)
			fired = 1;
		errno = e;
	}
	return r;
}
