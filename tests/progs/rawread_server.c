/* rawread_server — a plain server that takes what a connection received
 * by a way around read(): the kernel copies it out of the socket itself
 * (tests/preload/bypass.sh).
 *
 *   rawread_server PORT sendfile|zerocopy
 *
 * Listens on 127.0.0.1:PORT ("listening" on standard output), accepts one
 * connection and then:
 *  - sendfile: sendfile() from the socket into a pipe (the kernel allows
 *    a socket as the input when the output is a pipe), blocking until
 *    bytes arrive;
 *  - zerocopy: maps the socket and asks getsockopt(TCP_ZEROCOPY_RECEIVE)
 *    for what it received (the part that fills no page comes in the
 *    copy buffer), again until bytes come (at most 10 s; the call does
 *    not wait).
 * It prints "got N: BYTES" (what reached the program that way), or
 * "refused: ERRNO-NAME", then tries read() on the connection and prints
 * "read N: BYTES" or "read: ERRNO-NAME".  Exit 0 unless the set-up failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fc_common.h"

#ifndef TCP_ZEROCOPY_RECEIVE
#define TCP_ZEROCOPY_RECEIVE 35
#endif

/* The kernel's struct tcp_zerocopy_receive (linux/tcp.h, 5.11 and
 * later; glibc's netinet/tcp.h has only its first three members). */
struct zc_receive {
	uint64_t address;
	uint32_t length;
	uint32_t recv_skip_hint;
	uint32_t inq;
	int32_t err;
	uint64_t copybuf_address;
	int32_t copybuf_len;
	uint32_t flags;
	uint64_t msg_control;
	uint64_t msg_controllen;
	uint32_t msg_flags;
	uint32_t reserved;
};

static void show(const char *what, const char *buf, ssize_t n)
{
	printf("%s %zd: %.*s\n", what, n, (int)n, buf);
}

/* What sendfile() moved from fd into a pipe; -1 with errno. */
static ssize_t by_sendfile(int fd, char *buf, size_t cap)
{
	int p[2];
	ssize_t n;

	if (pipe(p) < 0)
		return -1;
	n = sendfile(p[1], fd, NULL, cap);
	if (n > 0)
		n = read(p[0], buf, (size_t)n);
	return n;
}

/* What TCP_ZEROCOPY_RECEIVE handed over (mapped pages first, then the
 * copy buffer); -1 with errno.  Asked until bytes come, at most 10 s. */
static ssize_t by_zerocopy(int fd, char *buf, size_t cap)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, (size_t)pg, PROT_READ, MAP_SHARED, fd, 0);
	double end = fc_now() + 10;

	if (map == MAP_FAILED)
		return -1;
	while (fc_now() < end) {
		struct zc_receive z = {
			.address = (uintptr_t)map, .length = (uint32_t)pg,
			.copybuf_address = (uintptr_t)buf, .copybuf_len = (int32_t)cap,
		};
		socklen_t l = sizeof z;
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (getsockopt(fd, IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE, &z, &l) < 0)
			return -1;
		if (z.length) {
			size_t n = z.length < cap ? z.length : cap;
			memcpy(buf, map, n);
			return (ssize_t)n;
		}
		if (z.copybuf_len > 0)
			return z.copybuf_len;
		nanosleep(&ts, NULL);
	}
	errno = ETIMEDOUT;
	return -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int lfd, fd;
	char buf[256];
	ssize_t n;

	if (argc != 3 || (strcmp(argv[2], "sendfile") && strcmp(argv[2], "zerocopy"))) {
		fprintf(stderr, "usage: rawread_server PORT sendfile|zerocopy\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = tcp_listen(&a, 0, 1);
	if (lfd < 0) {
		perror("listen");
		return 1;
	}
	printf("listening\n");
	if ((fd = accept(lfd, NULL, NULL)) < 0) {
		perror("accept");
		return 1;
	}
	n = !strcmp(argv[2], "sendfile") ? by_sendfile(fd, buf, sizeof buf)
					  : by_zerocopy(fd, buf, sizeof buf);
	if (n < 0)
		printf("refused: %s\n", fc_err(errno));
	else
		show("got", buf, n);
	n = read(fd, buf, sizeof buf);
	if (n < 0)
		printf("read: %s\n", fc_err(errno));
	else
		show("read", buf, n);
	close(fd);
	close(lfd);
	return 0;
}
