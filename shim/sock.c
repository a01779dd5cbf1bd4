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

/* accept() hands out connection-oriented sockets only (TCP, MPTCP, SCTP,
 * DCCP: never a raw one): the protocol alone tells TCP, and TCP and
 * MPTCP sockets are always SOCK_STREAM. */
bool shim_is_tcp_accepted(int fd)
{
	int proto = 0;
	socklen_t l = sizeof proto;

	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) < 0)
		return false;
	return proto == IPPROTO_TCP || proto == 262 /* IPPROTO_MPTCP */;
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

