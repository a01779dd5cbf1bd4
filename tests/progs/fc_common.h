/* fc_common.h — small helpers shared by the fail-closed test programs
 * (tests/progs/fc_*.c).  Plain sockets and libc only: these programs know
 * nothing about TLS or the shim, as any legacy program. */
#ifndef FC_COMMON_H
#define FC_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static inline double fc_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* alarm(s) times TLSSHIM_TIME_SCALE (tests/lib.sh): a bound, never what a
 * pass depends on, so a busy machine does not turn a slow pass into a
 * failure. */
static inline void fc_alarm(unsigned s)
{
	const char *ts = getenv("TLSSHIM_TIME_SCALE");
	int k = ts ? atoi(ts) : 1;

	alarm(s * (unsigned)(k > 0 ? k : 1));
}

static inline const char *fc_err(int e)
{
	const char *n = e ? strerrorname_np(e) : "0";
	return n ? n : "?";
}

/* Fill ss with ip:port (IPv4 or IPv6 literal); returns the length or 0. */
static inline socklen_t fc_addr(const char *ip, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		if (inet_pton(AF_INET6, ip, &s6->sin6_addr) != 1)
			return 0;
		return sizeof *s6;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, ip, &s4->sin_addr) != 1)
		return 0;
	return sizeof *s4;
}

/* A blocking TCP connection to ip:port, or -1 with errno. */
static inline int fc_connect(const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t l = fc_addr(ip, port, &ss);
	int fd, e;

	if (!l) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, l) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Read into buf (NUL-terminated) until it holds `want` (or, with want
 * NULL, until end of file), at most timeout_ms.  Returns the length read;
 * -1 with errno on a read error (what was read stays in buf), -2 on
 * timeout. */
static inline ssize_t fc_read_until(int fd, char *buf, size_t cap, const char *want, int timeout_ms)
{
	size_t got = 0;
	double end = fc_now() + timeout_ms / 1000.0;

	buf[0] = 0;
	while (got + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)((end - fc_now()) * 1000);
		ssize_t r;

		if (want && strstr(buf, want))
			return (ssize_t)got;
		if (left <= 0)
			return -2;
		r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -2;
		r = read(fd, buf + got, cap - 1 - got);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return want ? -3 : (ssize_t)got;   /* -3: end of file first */
		got += (size_t)r;
		buf[got] = 0;
	}
	return (ssize_t)got;
}

#endif
