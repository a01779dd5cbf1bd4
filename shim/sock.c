/* shim/sock.c — what the shim asks the kernel about a socket. */
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "shim/shim.h"

bool shim_is_nonblocking(int fd)
{
	int fl = REAL(fcntl)(fd, F_GETFL);
	return fl >= 0 && (fl & O_NONBLOCK);
}


bool shim_is_tcp(int fd)
{
	int type = 0, proto = 0;
	socklen_t l = sizeof type;

	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM)
		return false;
	l = sizeof proto;
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) < 0)
		return false;
	return proto == IPPROTO_TCP || proto == 262 /* IPPROTO_MPTCP */;
}

/* The socket's SO_RCVTIMEO/SO_SNDTIMEO in ms, or -1 for none: the
 * session's copy, read from the kernel once and again after the program
 * sets a socket option (setsockopt below): one system call less per wait. */
int shim_conn_timeout_ms(struct tls_conn *c, int fd, int opt)
{
	bool snd = opt == SO_SNDTIMEO;
	int ms = tls_conn_sock_timeout(c, snd);

	if (ms == TLS_TIMEO_UNKNOWN) {
		ms = shim_sock_timeout_ms(fd, opt);
		tls_conn_set_sock_timeout(c, snd, ms);
	}
	return ms;
}

/* Any socket-level option set on a TLS fd may be a timeout (SO_RCVTIMEO,
 * its _OLD and _NEW forms, SO_SNDTIMEO): forget the session's copy. */
SHIM_EXPORT int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
	struct tls_conn *c;
	int r = REAL(setsockopt)(fd, level, opt, val, len);

	if (r == 0 && level == SOL_SOCKET && (c = conntab_get(fd))) {
		tls_conn_set_sock_timeout(c, false, TLS_TIMEO_UNKNOWN);
		tls_conn_set_sock_timeout(c, true, TLS_TIMEO_UNKNOWN);
		tls_conn_unref(c);
	}
	return r;
}

/* The socket's SO_RCVTIMEO/SO_SNDTIMEO in ms, or -1 for none. */
int shim_sock_timeout_ms(int fd, int opt)
{
	struct timeval tv;
	socklen_t l = sizeof tv;

	if (REAL(getsockopt)(fd, SOL_SOCKET, opt, &tv, &l) < 0 || (!tv.tv_sec && !tv.tv_usec))
		return -1;
	return (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
}

