/* pingpong — plain, blocking connection-rate test for tests and benchmarks.
 *
 *   pingpong server PORT        listen on 127.0.0.1:PORT; for each accepted
 *                               connection (iteratively): read 32 bytes,
 *                               write them back, close.  Runs until killed.
 *   pingpong client HOST PORT N N sequential connections, each: connect,
 *                               write 32 bytes, read 32 bytes (must be the
 *                               same), close.
 *
 * The server prints "listening on 127.0.0.1 port N" (PORT 0: any port),
 * flushed, and reports failed connections on standard error.  The client
 * prints at the end:
 *     N connections in S.SSS s: R conn/s
 * and exits 0, or at the first failure "pingpong: connection I: ..." on
 * standard error and exits 1 (2: usage, name resolution).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define PING 32

static int server(const char *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	char *end;
	unsigned long p = strtoul(port, &end, 10);
	int fd;

	if (*end || !*port || p > 65535) {
		fprintf(stderr, "pingpong: bad port: %s\n", port);
		return 2;
	}
	sin = loopback4((int)p);
	fd = tcp_listen(&sin, 0, 128);
	if (fd < 0) {
		perror("pingpong: socket/bind/listen");
		return 1;
	}
	getsockname(fd, (struct sockaddr *)&sin, &len);
	printf("listening on 127.0.0.1 port %u\n", ntohs(sin.sin_port));
	fflush(stdout);

	for (;;) {
		char buf[PING];
		int r, c = accept(fd, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("pingpong: accept");
			return 1;
		}
		r = read_full(c, buf, PING);
		if (r < 0)
			fprintf(stderr, "pingpong: read: %s\n", strerror(errno));
		else if (r == 0)
			fprintf(stderr, "pingpong: read: short ping\n");
		else if (write_all(c, buf, PING) < 0)
			fprintf(stderr, "pingpong: write: %s\n", strerror(errno));
		close(c);
	}
}

static int client(const char *host, const char *port, const char *count)
{
	struct addrinfo hints, *res, *ai;
	struct sockaddr_storage addr;
	socklen_t addrlen = 0;
	struct timespec t0, t1;
	char *end;
	long n = strtol(count, &end, 10), i;
	int gai, fd, err = 0;
	double secs;

	if (*end || !*count || n < 1) {
		fprintf(stderr, "pingpong: bad count: %s\n", count);
		return 2;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		fprintf(stderr, "pingpong: getaddrinfo: %s\n", gai_strerror(gai));
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		char ping[PING + 1], pong[PING];
		int r;

		snprintf(ping, sizeof ping, "ping %026ld", i);
		if (i == 0) {
			/* the first address that takes a connection is used throughout */
			fd = -1;
			for (ai = res; ai; ai = ai->ai_next) {
				fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
				if (fd < 0) {
					err = errno;
					continue;
				}
				if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
					memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
					addrlen = ai->ai_addrlen;
					break;
				}
				err = errno;
				close(fd);
				fd = -1;
			}
			if (fd < 0) {
				fprintf(stderr, "pingpong: connection %ld: connect: %s\n", i, strerror(err));
				return 1;
			}
		} else {
			fd = socket(addr.ss_family, SOCK_STREAM, 0);
			if (fd < 0 || connect(fd, (struct sockaddr *)&addr, addrlen) < 0) {
				fprintf(stderr, "pingpong: connection %ld: connect: %s\n", i, strerror(errno));
				return 1;
			}
		}
		if (write_all(fd, ping, PING) < 0) {
			fprintf(stderr, "pingpong: connection %ld: write: %s\n", i, strerror(errno));
			return 1;
		}
		r = read_full(fd, pong, PING);
		if (r <= 0) {
			fprintf(stderr, "pingpong: connection %ld: read: %s\n", i,
				r < 0 ? strerror(errno) : "short pong");
			return 1;
		}
		if (memcmp(ping, pong, PING) != 0) {
			fprintf(stderr, "pingpong: connection %ld: pong differs from ping\n", i);
			return 1;
		}
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	freeaddrinfo(res);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%ld connections in %.3f s: %.1f conn/s\n", n, secs, secs > 0 ? (double)n / secs : 0.0);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		return server(argv[2]);
	if (argc == 5 && strcmp(argv[1], "client") == 0)
		return client(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: pingpong server PORT\n       pingpong client HOST PORT N\n");
	return 2;
}
