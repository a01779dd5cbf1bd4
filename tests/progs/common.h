/* tests/progs/common.h — the socket chores the plain test programs share:
 * a listening TCP socket, a connection to HOST PORT, writing a whole
 * buffer, reading an exact count.  Plain sockets and libc only, as any
 * legacy program: nothing here knows about TLS or the shim.  Header-only
 * (static inline): the Makefile builds each .c file of tests/progs into its own
 * program, and remakes every one when a header changes. */
#ifndef TLSSHIM_TESTS_COMMON_H
#define TLSSHIM_TESTS_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* 127.0.0.1:port. */
static inline struct sockaddr_in loopback4(int port)
{
	return (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((unsigned short)port),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

/* A TCP socket (SOCK_STREAM | type_flags: SOCK_NONBLOCK, SOCK_CLOEXEC)
 * with SO_REUSEADDR, bound to a and listening with backlog; -1 with
 * errno when a step fails. */
static inline int tcp_listen(const struct sockaddr_in *a, int type_flags, int backlog)
{
	int one = 1, e, fd = socket(AF_INET, SOCK_STREAM | type_flags, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (const struct sockaddr *)a, sizeof *a) < 0 || listen(fd, backlog) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* A TCP connection to the first address of host:port (getaddrinfo with
 * family, AF_UNSPEC for any) that takes one.  On failure "WHO:
 * getaddrinfo: ..." or "WHO: connect: <strerror>" on stderr, and -1. */
static inline int dial_host(const char *who, const char *host, const char *port, int family, int socktype)
{
	struct addrinfo hints = { .ai_family = family, .ai_socktype = socktype }, *res, *ai;
	int gai, fd = -1, err = 0;

	gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		fprintf(stderr, "%s: getaddrinfo: %s\n", who, gai_strerror(gai));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "%s: connect: %s\n", who, strerror(err));
	return fd;
}

static inline int write_all_how(int fd, const void *buf, size_t n, bool wait_out)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN && wait_out) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			poll(&pfd, 1, 1000);
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* All of buf written: 0, or -1 with errno (EINTR is retried; EAGAIN is
 * an error: on a blocking socket it is one). */
static inline int write_all(int fd, const void *buf, size_t n)
{
	return write_all_how(fd, buf, n, false);
}

/* The same on a non-blocking socket: a full buffer (EAGAIN) is waited
 * out with poll(POLLOUT), a second at a time. */
static inline int write_all_wait(int fd, const void *buf, size_t n)
{
	return write_all_how(fd, buf, n, true);
}

/* Exactly len bytes into buf: 1; 0 at end of file before; -1 with errno
 * on an error (EINTR is retried). */
static inline int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 1;
}

/* MSG written, one read of the answer (up to 255 bytes) printed to OUT
 * as "LABEL: answer"; 0, or -1 when the write fails or the read gets
 * nothing. */
static inline int exchange_line(int fd, FILE *out, const char *msg, const char *label)
{
	char buf[256];
	ssize_t r;

	if (write(fd, msg, strlen(msg)) < 0)
		return -1;
	r = read(fd, buf, sizeof buf - 1);
	if (r <= 0)
		return -1;
	buf[r] = 0;
	fprintf(out, "%s: %s", label, buf);
	fflush(out);
	return 0;
}

#endif
