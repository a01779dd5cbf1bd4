/* preload_dup2race.so — a test-only race maker: another thread of the
 * program puts a fresh socket at a number (dup2(), through the library's
 * wrapper) between the library's look at the socket there and its
 * connect() with the multicast host (shim/connect.c: nowhere_len reads
 * IP_OPTIONS, then connects; tests/preload/dup2_race.sh).  Loaded AFTER
 * the library, so that the library's getsockopt() finds this one first.
 * While TLSSHIM_TEST_DUP2_RACE is "srr:N" or "plain:N" in the environment
 * (the test's program sets it just before its call), the first
 * getsockopt(IPPROTO_IP, IP_OPTIONS), on any number (the library may ask
 * a copy of N), answers and then puts at N a fresh non-blocking TCP
 * socket, with a loose source route via 127.0.0.1 (srr) or none (plain),
 * as the program's other thread would, in the microseconds between the
 * two calls; "opt:N" gives the socket at N itself that source route
 * (setsockopt(IP_OPTIONS), as another holder of it would).  And while
 * TLSSHIM_TEST_DUP2_AT is "CALL:M:N", the first
 * CALL the library makes on N puts M at N (dup2(), the library's), as
 * another thread would in shim_connect: connect (before the call:
 * between the placing of a new session at N and the kernel's connect),
 * getpeername (after: between again()'s look at a failed socket and its
 * session's end), getsockname (after: between the routing of the call
 * and the placing of a new session; shim_dest_bound asks it for a
 * destination 0.0.0.0).  Once each; every other call is the C
 * library's. */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	static int (*real)(int, int, int, void *, socklen_t *);
	static int fired;
	const char *how = getenv("TLSSHIM_TEST_DUP2_RACE");
	int r, e, s, at;

	if (!real && !(real = (int (*)(int, int, int, void *, socklen_t *))
			       dlsym(RTLD_NEXT, "getsockopt"))) {
		errno = ENOSYS;
		return -1;
	}
	r = real(fd, level, name, val, len);
	if (fired || !how || level != IPPROTO_IP || name != IP_OPTIONS || !strchr(how, ':'))
		return r;
	fired = 1;
	e = errno;
	at = atoi(strchr(how, ':') + 1);
	/* (socket, setsockopt, dup2, close: the library's, as the program's) */
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s >= 0) {
		/* LSRR (131), length 7, pointer 4, one hop (127.0.0.1), a NOP */
		unsigned char o[8] = { IPOPT_LSRR, 7, 4, 127, 0, 0, 1, IPOPT_NOOP };

		if (strncmp(how, "opt:", 4) == 0)
			(void)setsockopt(at, IPPROTO_IP, IP_OPTIONS, o, sizeof o);
		else if (strncmp(how, "srr:", 4) != 0 ||
			 setsockopt(s, IPPROTO_IP, IP_OPTIONS, o, sizeof o) == 0)
			(void)dup2(s, at);
		close(s);
	}
	errno = e;
	return r;
}

/* The dup2 of TLSSHIM_TEST_DUP2_AT, where call on fd is its CALL. */
static void dup2_at(const char *call, int fd)
{
	static int fired;
	const char *at = getenv("TLSSHIM_TEST_DUP2_AT");
	const char *m = at ? strchr(at, ':') : NULL;
	const char *n = m ? strchr(m + 1, ':') : NULL;

	if (fired || !n || (size_t)(m - at) != strlen(call) || strncmp(at, call, strlen(call)) != 0 ||
	    fd != atoi(n + 1))
		return;
	fired = 1;
	(void)dup2(atoi(m + 1), fd);
}

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*name_fn)(int, struct sockaddr *, socklen_t *);
#define REAL_OF(name, type) \
	static type real_; \
	if (!real_ && !(real_ = (type)dlsym(RTLD_NEXT, name))) { \
		errno = ENOSYS; \
		return -1; \
	}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	REAL_OF("connect", connect_fn)
	dup2_at("connect", fd);
	return real_(fd, sa, len);
}

int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	int r, e;

	REAL_OF("getpeername", name_fn)
	r = real_(fd, sa, len);
	e = errno;
	dup2_at("getpeername", fd);
	errno = e;
	return r;
}

int getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	int r, e;

	REAL_OF("getsockname", name_fn)
	r = real_(fd, sa, len);
	e = errno;
	dup2_at("getsockname", fd);
	errno = e;
	return r;
}
