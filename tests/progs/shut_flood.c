/* shut_flood — a plain TCP server that shuts its connection down in both
 * directions while the peer is still sending, as servers do before close.
 *
 *   shut_flood PORT BYTES GO
 *
 * Accepts one connection on 127.0.0.1:PORT, reads BYTES, waits for a line
 * in GO (a FIFO the peer writes once the kernel's queues are full), then
 * shutdown(SHUT_RDWR) and close().  Standard output: "listening" once
 * bound, then "shutdown MS ms, grew KB kB" (the call's time, and how
 * much the process's peak resident memory grew in it).  Knows nothing
 * about TLS.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static long hwm_kb(void)
{
	char line[256];
	long h = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmHWM:", 6))
			h = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return h;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	static char buf[65536];
	long long want, got = 0;
	int ls, fd;
	double t;
	long h;
	FILE *go;

	if (argc != 4) {
		fprintf(stderr, "usage: shut_flood PORT BYTES GO\n");
		return 2;
	}
	a = loopback4(atoi(argv[1]));
	want = atoll(argv[2]);
	ls = tcp_listen(&a, 0, 4);
	if (ls < 0) {
		perror("shut_flood: listen");
		return 2;
	}
	printf("listening\n");
	fflush(stdout);
	if ((fd = accept(ls, NULL, NULL)) < 0) {
		perror("shut_flood: accept");
		return 2;
	}
	while (got < want) {
		ssize_t r = read(fd, buf, sizeof buf);

		if (r <= 0) {
			perror("shut_flood: read");
			return 3;
		}
		got += r;
	}
	/* The peer says when the kernel's queue is full (a line in the
	 * FIFO GO): the shutdown meets a peer in full flow. */
	if (!(go = fopen(argv[3], "r")) || !fgets(buf, sizeof buf, go)) {
		fprintf(stderr, "shut_flood: no go line in %s\n", argv[3]);
		return 3;
	}
	fclose(go);
	h = hwm_kb();
	t = now_ms();
	(void)shutdown(fd, SHUT_RDWR);
	t = now_ms() - t;
	printf("shutdown %.0f ms, grew %ld kB\n", t, hwm_kb() - h);
	fflush(stdout);
	close(fd);
	return 0;
}
