/* preload_lookupfail.so — a test-only fault injector: the questions the
 * library asks of a socket accept() just made fail.
 *
 *   LD_PRELOAD="libtlsshim.so preload_lookupfail.so" \
 *       TLSSHIM_TEST_LOOKUPFAIL=getsockname|protocol prog
 *
 * Loaded AFTER the library, so that the library's own dlsym(RTLD_NEXT)
 * finds these wrappers.  On a connected socket (getpeername answers),
 * getsockname() fails with ENOBUFS ("getsockname"), or getsockopt's
 * SO_PROTOCOL does ("protocol"); every other call goes to the C library.
 * What a kernel short of memory would do; the library must then refuse
 * the connection rather than hand it to the program as plain TCP.
 *   TLSSHIM_TEST_LOOKUPFAIL=protocol=N: SO_PROTOCOL of every TCP socket
 * answers N instead (256: IPPROTO_SMC, 132: SCTP), connected or not: a
 * kernel without SMC or SCTP cannot make such a socket, and the library
 * must still class it (it carries TCP here, so the wire shows what the
 * library made of it).  Knows nothing about TLS.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int connected(int fd)
{
	static int (*gpn)(int, struct sockaddr *, socklen_t *);
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;

	if (!gpn)
		gpn = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "getpeername");
	return gpn && gpn(fd, (struct sockaddr *)&ss, &l) == 0;
}

static int mode(const char *m)
{
	const char *v = getenv("TLSSHIM_TEST_LOOKUPFAIL");

	return v && strcmp(v, m) == 0;
}

int getsockname(int fd, struct sockaddr *a, socklen_t *l)
{
	static int (*next)(int, struct sockaddr *, socklen_t *);

	if (mode("getsockname") && connected(fd)) {
		errno = ENOBUFS;
		return -1;
	}
	if (!next)
		next = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "getsockname");
	return next(fd, a, l);
}

int getsockopt(int fd, int level, int opt, void *v, socklen_t *l)
{
	static int (*next)(int, int, int, void *, socklen_t *);

	const char *as = getenv("TLSSHIM_TEST_LOOKUPFAIL");
	int r;

	if (level == SOL_SOCKET && opt == SO_PROTOCOL && mode("protocol") && connected(fd)) {
		errno = ENOBUFS;
		return -1;
	}
	if (!next)
		next = (int (*)(int, int, int, void *, socklen_t *))dlsym(RTLD_NEXT, "getsockopt");
	r = next(fd, level, opt, v, l);
	if (r == 0 && level == SOL_SOCKET && opt == SO_PROTOCOL && as && strncmp(as, "protocol=", 9) == 0 &&
	    v && l && *l >= sizeof(int) && *(int *)v == 6 /* IPPROTO_TCP */)
		*(int *)v = atoi(as + 9);
	return r;
}
