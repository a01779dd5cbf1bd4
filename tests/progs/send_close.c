/* send_close — a plain server that writes a lot and closes at once
 * (tests/preload/linger.sh, linger_urgent_data_no_reset).
 *
 *   send_close PORT BYTES
 *
 * Listens on 127.0.0.1:PORT ("listening" on standard output), accepts one
 * connection, reads one byte, writes BYTES bytes with a send buffer of
 * 4 MiB (so that the writes return while most of the data is still queued
 * in the kernel), closes the connection and prints "closed".  Then it
 * waits to be killed: the shim's linger thread goes on working.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int lfd, fd, one = 1, sndbuf = 4 << 20;
	long left;
	char buf[16384], g;

	if (argc != 3) {
		fprintf(stderr, "usage: send_close PORT BYTES\n");
		return 2;
	}
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	left = atol(argv[2]);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4) < 0) {
		perror("send_close: listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	if ((fd = accept(lfd, NULL, NULL)) < 0) {
		perror("send_close: accept");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	if (read(fd, &g, 1) != 1) {
		perror("send_close: read");
		return 1;
	}
	memset(buf, 'd', sizeof buf);
	while (left > 0) {
		ssize_t w = write(fd, buf, left < (long)sizeof buf ? (size_t)left : sizeof buf);
		if (w <= 0) {
			perror("send_close: write");
			return 1;
		}
		left -= w;
	}
	close(fd);
	printf("closed\n");
	fflush(stdout);
	for (;;)
		pause();
}
