/* shim/sock.c — what the shim asks the kernel about a socket. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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

/* The kernel's TCP state of fd (TCP_SYN_SENT, TCP_CLOSE, ...), or -1. */
static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof ti;

	if (REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return -1;
	return ti.tcpi_state;
}

bool shim_tcp_connecting(int fd)
{
	return tcp_state(fd) == TCP_SYN_SENT;
}

/* One line of /proc/net/tcp or tcp6: "sl local rem st ... uid timeout
 * inode ...", the addresses in hex as the kernel keeps them (each 32-bit
 * word in host order, the port after a colon).  True when the line is
 * the socket with inode ino, its remote address then in *peer. */
static bool proc_line(const char *line, bool v6, unsigned long ino, struct sockaddr_storage *peer,
		      socklen_t *pl)
{
	char rem[40] = "";
	unsigned long got = 0;
	unsigned port = 0;
	const char *p = line;

	/* Fields: 0 sl, 1 local, 2 remote, 3 st, 4 queues, 5 timer, 6 retr,
	 * 7 uid, 8 timeout, 9 inode. */
	for (int f = 0; f <= 9; f++) {
		const char *e;

		while (*p == ' ')
			p++;
		if (!*p)
			return false;
		for (e = p; *e && *e != ' '; e++)
			;
		if (f == 2 && (size_t)(e - p) < sizeof rem) {
			memcpy(rem, p, (size_t)(e - p));
			rem[e - p] = '\0';
		} else if (f == 9) {
			got = strtoul(p, NULL, 10);
		}
		p = e;
	}
	if (got != ino || !ino)
		return false;
	memset(peer, 0, sizeof *peer);
	if (!v6) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)peer;
		unsigned long a;

		if (strlen(rem) != 13 || rem[8] != ':')
			return false;
		rem[8] = '\0';
		a = strtoul(rem, NULL, 16);
		port = (unsigned)strtoul(rem + 9, NULL, 16);
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = (uint32_t)a;
		s4->sin_port = htons((uint16_t)port);
		*pl = sizeof *s4;
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)peer;

		if (strlen(rem) != 37 || rem[32] != ':')
			return false;
		port = (unsigned)strtoul(rem + 33, NULL, 16);
		for (int w = 0; w < 4; w++) {
			char word[9];
			uint32_t x;

			memcpy(word, rem + 8 * w, 8);
			word[8] = '\0';
			x = (uint32_t)strtoul(word, NULL, 16);
			memcpy(s6->sin6_addr.s6_addr + 4 * w, &x, sizeof x);
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*pl = sizeof *s6;
	}
	return port != 0;
}

/* The destination of a socket whose connect() is still in progress
 * (TCP_SYN_SENT: getpeername() says ENOTCONN until the handshake is
 * done), from the kernel's table of this network namespace.  Read with
 * open/read on a stack buffer: no allocation, as a classification may
 * run in a signal handler.  False when the socket is not found there (no
 * /proc, an MPTCP socket, whose subflows are listed under other inodes). */
bool shim_connecting_peer(unsigned long ino, struct sockaddr_storage *peer, socklen_t *pl)
{
	static const char *const files[2] = { "/proc/self/net/tcp", "/proc/self/net/tcp6" };

	for (int i = 0; i < 2; i++) {
		char buf[4096];
		size_t have = 0;
		bool found = false;
		int fd = REAL(open)(files[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			continue;
		while (!found) {
			char *line = buf, *nl;
			ssize_t r = REAL(read)(fd, buf + have, sizeof buf - 1 - have);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;          /* the kernel ends every line with a newline */
			have += (size_t)r;
			while (!found && (nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
				*nl = '\0';
				found = proc_line(line, i == 1, ino, peer, pl);
				line = nl + 1;
			}
			have -= (size_t)(line - buf);
			memmove(buf, line, have);
			if (have == sizeof buf - 1)
				have = 0;       /* no line is that long: drop it */
		}
		REAL(close)(fd);
		if (found)
			return true;
	}
	return false;
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

