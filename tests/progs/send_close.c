/* send_close — a plain server that writes a lot and closes at once
 * (tests/preload/linger.sh, linger_urgent_data_no_reset).
 *
 *   send_close PORT BYTES [ts-exit | park DIR]
 *
 * Listens on 127.0.0.1:PORT ("listening" on standard output), accepts one
 * connection, reads one byte, writes BYTES bytes with a send buffer of
 * up to 4 MiB (so that the writes return while most of the data is still
 * queued in the kernel: a stock kernel's net.core.wmem_max lets it have
 * 416 KiB, so BYTES must stay below that, TLS records included), closes
 * the connection and prints "closed".  Then it
 * waits to be killed: the shim's linger thread goes on working.
 * With "ts-exit": the connection asks for software send timestamps
 * (SO_TIMESTAMPING) before the writes, so that its error queue holds
 * them (the socket polls POLLERR), and after "closed" the program prints
 * "exiting" and calls exit(): the library's exit handler waits for the
 * lingering socket.
 * With "park DIR" (and preload_lingerpark.so holding the linger thread
 * before its poll): after "closed" it waits (at most 60 s) for DIR/parked,
 * the number the thread is about to poll (its copy of our lingering
 * socket), then for DIR/go (the test's word: the peer's last record is
 * in), dup2()s onto that number one end of a socketpair whose other end has
 * shut down (it polls POLLIN|POLLRDHUP: the library moves its socket to
 * another number), creates DIR/release, prints "moved N" and waits.
 */
#include <arpa/inet.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int lfd, fd, sndbuf = 4 << 20;
	int ts = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
	int ts_exit = argc == 4 && !strcmp(argv[3], "ts-exit");
	int park = argc == 5 && !strcmp(argv[3], "park");
	long left;
	char buf[16384], g;

	if (argc != 3 && !ts_exit && !park) {
		fprintf(stderr, "usage: send_close PORT BYTES [ts-exit | park DIR]\n");
		return 2;
	}
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	left = atol(argv[2]);
	lfd = tcp_listen(&a, 0, 4);
	if (lfd < 0) {
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
	if (ts_exit && setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &ts, sizeof ts) < 0) {
		perror("send_close: SO_TIMESTAMPING");
		return 1;
	}
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
	if (ts_exit) {
		printf("exiting\n");
		fflush(stdout);
		exit(0);
	}
	if (park) {
		char path[4096];
		FILE *f = NULL;
		int sv[2], num = -1;

		snprintf(path, sizeof path, "%s/parked", argv[4]);
		for (int i = 0; i < 6000 && !(f = fopen(path, "r")); i++)
			usleep(10000);
		if (!f || fscanf(f, "%d", &num) != 1 || num < 0) {
			fprintf(stderr, "send_close: the linger thread never parked\n");
			return 1;
		}
		fclose(f);
		snprintf(path, sizeof path, "%s/go", argv[4]);
		for (int i = 0; i < 6000 && access(path, F_OK) != 0; i++)
			usleep(10000);
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || shutdown(sv[1], SHUT_WR) < 0 ||
		    dup2(sv[0], num) != num) {
			perror("send_close: dup2");
			return 1;
		}
		snprintf(path, sizeof path, "%s/release", argv[4]);
		if (!(f = fopen(path, "w"))) {
			perror("send_close: release");
			return 1;
		}
		fclose(f);
		printf("moved %d\n", num);
		fflush(stdout);
	}
	for (;;)
		pause();
}
