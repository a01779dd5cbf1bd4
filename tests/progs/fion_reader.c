/* fion_reader — a plain TCP server that sizes each read with FIONREAD, as
 * Qt's bytesAvailable(), Java's available() or asio's available() do.
 *
 *   fion_reader PORT
 *
 * Accepts one connection on 127.0.0.1:PORT and, until end of stream or an
 * error (or 10 s without anything readable): poll for reading, ioctl
 * FIONREAD, then one read() of that many bytes (at least 1, at most
 * 64 KiB).  Standard output: "listening" once bound, then at the end
 *   total BYTES max_fionread N max_ioctl_ms MS hwm_kb KB
 * (the largest count FIONREAD gave, the longest FIONREAD call, and the
 * process's peak resident memory).  Knows nothing about TLS.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	static char buf[65536];
	long long total = 0;
	int ls, fd, maxn = 0;
	double maxt = 0;
	long hwm = -1;
	char line[256];
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: fion_reader PORT\n");
		return 2;
	}
	a = loopback4(atoi(argv[1]));
	ls = tcp_listen(&a, 0, 4);
	if (ls < 0) {
		perror("fion_reader: listen");
		return 2;
	}
	printf("listening\n");
	fflush(stdout);
	fd = accept(ls, NULL, NULL);
	if (fd < 0) {
		perror("fion_reader: accept");
		return 2;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = 0;
		double t;
		ssize_t r;

		if (poll(&p, 1, 10000) <= 0)
			break;
		t = now_ms();
		if (ioctl(fd, FIONREAD, &n) < 0) {
			perror("fion_reader: ioctl");
			break;
		}
		t = now_ms() - t;
		if (n > maxn)
			maxn = n;
		if (t > maxt)
			maxt = t;
		r = read(fd, buf, n > 0 && n < (int)sizeof buf ? (size_t)n : sizeof buf);
		if (r <= 0)
			break;
		total += r;
	}
	f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmHWM:", 6))
			hwm = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	printf("total %lld max_fionread %d max_ioctl_ms %.0f hwm_kb %ld\n", total, maxn, maxt, hwm);
	return 0;
}
