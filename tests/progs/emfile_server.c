/* emfile_server — a blocking echo server that runs out of descriptors.
 *
 *   emfile_server PORT FREE FREE...   (two at least)
 *
 * Lowers RLIMIT_NOFILE to 64, listens on 127.0.0.1:PORT, then for each
 * FREE argument (one connection each):
 *   - waits (poll) for a connection, then until the descriptors the
 *     previous connection left lingering (the library's lingering close
 *     holds a copy of the socket until the peer's FIN; the peer has gone by
 *     now) are closed: the count is steady for 100 ms, at most 10 s;
 *   - fills every free descriptor with /dev/null and calls accept(): it
 *     must fail with EMFILE ("accept: EMFILE");
 *   - closes FREE of the fillers and calls accept() again, which must work
 *     now ("accepted with F free");
 *   - echoes until the client closes (read 0: "closed"; an error: "read:
 *     <strerror>"), closes the connection and every filler.
 * The steady count ("fds round N: M", eventfds left out: fdcount.h) may grow
 * while the library finds room for its own descriptors, made on first
 * need, but must be the same
 * before the last two connections and at the end, at most 10 s after the
 * last one (nothing leaked: "fds before N after M"); the library's
 * wake-up eventfd must exist by then, although the first connection left
 * no room for it ("eventfd present": it is made again on a later wait);
 * and that a socketpair (which reuses the connection's descriptor
 * numbers) carries plain bytes unchanged ("socketpair plain ok").
 * Exit status: 0 when every step went as described, 1 otherwise.
 *
 *   emfile_server enfile PORT N N...
 *
 * The same server without the descriptor filling, for ENFILE (the
 * system-wide file table full), injected by tests/progs/preload_enfile.c
 * (TLSSHIM_TEST_ENFILE=N,N,...): for each N, one connection; accept() (odd
 * rounds) or accept4(SOCK_CLOEXEC) (even rounds) is called until it works,
 * each failure printed ("accept: ENFILE"; any other error fails the run),
 * then "accepted after K ENFILE" (K must be N), the echo, "closed".  The
 * same end checks (steady descriptor count, socketpair plain).
 * Knows nothing about TLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "fdcount.h"

#define LIMIT 64

static int fillers[LIMIT], nfill;

static void fill(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDONLY)) >= 0)
		fillers[nfill++] = fd;
}

static void unfill(int n)
{
	while (n-- > 0 && nfill > 0)
		close(fillers[--nfill]);
}

/* Does the process hold an eventfd (the library's wake-up)? */
static int has_eventfd(void)
{
	int ev;

	return fds_now(&ev) >= 0 && ev > 0;
}

/* The descriptor count once it has not changed for 100 ms (at most 10 s). */
static int settle(void)
{
	int last = count_fds(), same = 0;

	for (int i = 0; i < 1000 && same < 10; i++) {
		int n;
		usleep(10000);
		n = count_fds();
		same = n == last ? same + 1 : 0;
		last = n;
	}
	return last;
}

static int listen_on(const char *port)
{
	struct sockaddr_in a;
	int ls;

	a = loopback4(atoi(port));
	ls = tcp_listen(&a, 0, 8);
	if (ls < 0) {
		perror("emfile_server: bind/listen");
		return -1;
	}
	printf("listening\n");
	return ls;
}

/* Echo until EOF; 1 when the client closed cleanly. */
static int echo(int c)
{
	char buf[4096];
	ssize_t r;

	while ((r = read(c, buf, sizeof buf)) > 0) {
		if (write(c, buf, (size_t)r) != r) {
			printf("write: %s\n", strerror(errno));
			break;
		}
	}
	if (r == 0)
		printf("closed\n");
	else if (r < 0)
		printf("read: %s\n", strerror(errno));
	return r == 0;
}

/* The end checks of both modes: the count back to base, a socketpair on
 * the freed numbers plain.  1 when they hold. */
static int end_checks(int base, int want_eventfd)
{
	int now = count_fds(), sp[2], ok = 1;
	char got[16] = "";

	for (int t = 0; t < 1000 && now != base; t++) {
		usleep(10000);
		now = count_fds();
	}
	printf("fds before %d after %d\n", base, now);
	if (now != base)
		ok = 0;
	if (has_eventfd()) {
		printf("eventfd present\n");
	} else if (want_eventfd) {
		printf("no eventfd (the library's wake-up descriptor was never made)\n");
		ok = 0;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0 && write(sp[0], "plain", 5) == 5 &&
	    read(sp[1], got, sizeof got) == 5 && !memcmp(got, "plain", 5)) {
		printf("socketpair plain ok\n");
	} else {
		printf("socketpair plain FAILED\n");
		ok = 0;
	}
	return ok;
}

static int enfile_main(int argc, char **argv)
{
	int ls = listen_on(argv[2]), ok = 1, base = -1;

	if (ls < 0)
		return 2;
	for (int i = 3; i < argc; i++) {
		struct pollfd p = { .fd = ls, .events = POLLIN };
		int want = atoi(argv[i]), got = 0, c, steady;

		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		steady = settle();
		printf("fds round %d: %d\n", i - 2, steady);
		if (i == argc - 1 && steady != base)
			ok = 0;
		base = steady;
		for (;;) {
			c = (i - 2) % 2 ? accept(ls, NULL, NULL) : accept4(ls, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0)
				break;
			if (errno != ENFILE) {
				printf("accept: %s (want ENFILE or a connection)\n", strerror(errno));
				ok = 0;
				break;
			}
			printf("accept: ENFILE\n");
			got++;
		}
		if (c < 0)
			continue;
		printf("accepted after %d ENFILE\n", got);
		if (got != want)
			ok = 0;
		echo(c);
		close(c);
	}
	return end_checks(base, 0) && ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct rlimit rl = { LIMIT, LIMIT };
	int ls, ok = 1, base = -1;

	if (argc < 4) {
		fprintf(stderr, "usage: emfile_server PORT FREE FREE... | enfile PORT N N...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "enfile"))
		return argc < 5 ? 2 : enfile_main(argc, argv);
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		perror("emfile_server: setrlimit");
		return 2;
	}
	if ((ls = listen_on(argv[1])) < 0)
		return 2;
	for (int i = 2; i < argc; i++) {
		int nfree = atoi(argv[i]), c, steady;
		struct pollfd p = { .fd = ls, .events = POLLIN };

		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		steady = settle();
		printf("fds round %d: %d\n", i - 1, steady);
		/* The library makes its descriptors on first need: the count
		 * may grow while rounds find room for them, but the last two
		 * rounds start alike, and the end is like the last start. */
		if (i == argc - 1 && steady != base)
			ok = 0;
		base = steady;
		fill();
		printf("round %d: %d fillers\n", i - 1, nfill);
		c = accept(ls, NULL, NULL);
		if (c >= 0 || errno != EMFILE) {
			printf("accept: %s (want EMFILE)\n", c >= 0 ? "worked" : strerror(errno));
			ok = 0;
			if (c >= 0)
				close(c);
			unfill(nfill);
			continue;
		}
		printf("accept: EMFILE\n");
		unfill(nfree);
		c = accept(ls, NULL, NULL);
		if (c < 0) {
			printf("accept again: %s\n", strerror(errno));
			ok = 0;
			unfill(nfill);
			continue;
		}
		printf("accepted with %d free\n", nfree);
		echo(c);
		close(c);
		unfill(nfill);
	}
	return end_checks(base, 1) && ok ? 0 : 1;
}
