/*
 * hold — a plain (no TLS) server for the memory benchmark.
 *
 *   hold PORT
 *
 * Iterative: accept a connection on 127.0.0.1:PORT, read 1 byte, write it
 * back, keep the connection open, accept the next. It never closes a
 * connection it answered; it ends when killed, or by itself after
 * HOLD_TIMEOUT seconds (default 300). It raises its RLIMIT_NOFILE soft limit
 * to the hard limit. Run under the shim (an accept rule on
 * PORT) it is the "legacy server" whose memory per idle TLS connection the
 * benchmark measures; behind stunnel it is stunnel's backend.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: hold PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Thousands of idle connections: as many descriptors as allowed. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	const char *t = getenv("HOLD_TIMEOUT");
	alarm(t ? (unsigned)atoi(t) : 300);

	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET,
	                          .sin_port = htons((unsigned short)atoi(argv[1])),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 128) < 0) {
		perror("hold: listen");
		return 1;
	}
	for (long i = 0; i < 1000000; i++) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("hold: accept");
			return 1;
		}
		char c;
		ssize_t n;
		/* The echo must not wait (Nagle) for the ACK of what went before
		 * (TLS 1.3 session tickets under the shim), which the client
		 * delays by 40 ms: that made 1,000 connections take a minute. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		do
			n = read(fd, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1 || write(fd, &c, 1) != 1) {
			fprintf(stderr, "hold: connection %ld: %s\n", i, n == 0 ? "EOF" : strerror(errno));
			close(fd);
		}
		/* else: kept open until the process ends */
	}
	return 0;
}
