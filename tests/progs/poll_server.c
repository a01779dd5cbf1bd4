/* poll_server — a plain, non-blocking, event-driven TCP echo server.
 *
 *   poll_server [-s] [-b BYTES] [-n CONNS] PORT
 *
 * One poll() (or select() with -s) loop over a non-blocking listener and
 * its clients; each readable client gets ONE read() of at most BYTES
 * (default 1) per wake-up, echoed back.  With tiny reads most of a TLS
 * record's plaintext stays buffered inside the TLS layer, so the server
 * only keeps going if readiness reports that buffered plaintext.
 * Exits after CONNS connections have closed (default: never).
 * Knows nothing about TLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common.h"

#define MAXC 64

int main(int argc, char **argv)
{
	int opt, use_select = 0, chunk = 1, limit = -1, closed = 0;
	int cl[MAXC], ncl = 0;
	struct sockaddr_in a;
	int ls;

	while ((opt = getopt(argc, argv, "sb:n:")) != -1) {
		if (opt == 's')
			use_select = 1;
		else if (opt == 'b')
			chunk = atoi(optarg);
		else if (opt == 'n')
			limit = atoi(optarg);
		else
			return 64;
	}
	if (optind >= argc || chunk < 1 || chunk > 65536) {
		fprintf(stderr, "usage: poll_server [-s] [-b BYTES] [-n CONNS] PORT\n");
		return 64;
	}
	a = loopback4(atoi(argv[optind]));
	ls = tcp_listen(&a, SOCK_NONBLOCK, 16);
	if (ls < 0) {
		perror("poll_server: bind/listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	while (limit < 0 || closed < limit) {
		struct pollfd p[MAXC + 1];
		int n = 0, r;

		p[n++] = (struct pollfd){ .fd = ls, .events = POLLIN };
		for (int i = 0; i < ncl; i++)
			p[n++] = (struct pollfd){ .fd = cl[i], .events = POLLIN };
		if (use_select) {
			fd_set rd;
			int maxfd = 0;
			FD_ZERO(&rd);
			for (int i = 0; i < n; i++) {
				FD_SET(p[i].fd, &rd);
				if (p[i].fd > maxfd)
					maxfd = p[i].fd;
			}
			r = select(maxfd + 1, &rd, NULL, NULL, NULL);
			for (int i = 0; i < n; i++)
				p[i].revents = FD_ISSET(p[i].fd, &rd) ? POLLIN : 0;
		} else {
			r = poll(p, (nfds_t)n, -1);
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("poll_server: poll");
			return 1;
		}
		if (p[0].revents & POLLIN) {
			int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
			if (c >= 0 && ncl < MAXC)
				cl[ncl++] = c;
			else if (c >= 0)
				close(c);
		}
		for (int i = 1; i < n; i++) {
			char buf[65536];
			ssize_t got;

			if (!p[i].revents)
				continue;
			got = read(p[i].fd, buf, (size_t)chunk);
			if (got < 0 && errno == EAGAIN)
				continue;      /* readiness said yes, read says not yet */
			if (got > 0 && write_all_wait(p[i].fd, buf, (size_t)got) == 0)
				continue;
			if (got < 0)
				fprintf(stderr, "poll_server: read: %s\n", strerror(errno));
			close(p[i].fd);
			for (int j = 0; j < ncl; j++)
				if (cl[j] == p[i].fd)
					cl[j] = cl[--ncl];
			closed++;
		}
	}
	return 0;
}
