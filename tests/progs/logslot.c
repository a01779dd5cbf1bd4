/* logslot — the log's private copy of standard error against the
 * program's own use of descriptor numbers.
 *
 *   logslot race PORT SECONDS   another thread dup2()s a socket onto the
 *                               numbers a line's descriptors would take
 *                               (the three lowest free ones past the
 *                               logger's socket), whenever one is open,
 *                               and closes it,
 *                               as fast as it can, while a third makes the
 *                               library log (a connect a deny rule refuses);
 *                               no byte may arrive on the socket (the
 *                               first one ends the run).
 *   logslot fd2 PORT SECONDS    another thread moves the socket onto
 *                               fd 2 and back (an inetd-style service's
 *                               connection on 0, 1 and 2, as the log sees
 *                               it for a moment), as fast as it can, while
 *                               a third makes the library log: no byte may
 *                               arrive on the socket.
 *   logslot once PORT [NOFILE]  one line, the socket's number given to
 *                               tests/progs/preload_slotswap.so, which
 *                               puts it on any low number the library's
 *                               log is handed: nothing may arrive.  With
 *                               NOFILE, the soft RLIMIT_NOFILE is lowered
 *                               to it first (under the base the library
 *                               computed at start-up for its own
 *                               descriptors).
 * PORT: a port a deny rule names.  Exit 0 when fine.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int sp[2], port, slot, saved = -1;
static double until;
static volatile int stop_read, seen;
static unsigned long refusals, flips;
static size_t leaked;
static char first[61];

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int refused_connect(int s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return connect(s, (struct sockaddr *)&a, sizeof a) < 0 && errno == ECONNREFUSED;
}

/* fd2: the socket onto standard error and back. */
static void *flipper2(void *arg)
{
	(void)arg;
	while (!seen && now() < until) {
		if (dup2(sp[0], 2) != 2 || dup2(saved, 2) != 2)
			break;
		flips++;
	}
	return NULL;
}

static void *flipper(void *arg)
{
	int k = slot;

	(void)arg;
	while (!seen && now() < until) {
		/* Only a number something holds now (the program's own are
		 * below slot): what the library took for a moment. */
		if (fcntl(k, F_GETFD) < 0) {
			k = k == slot + 2 ? slot : k + 1;
			continue;
		}
		/* EBUSY: the number is being handed out by another thread's
		 * open or dup at this very moment (Linux): again. */
		if (dup2(sp[0], k) != k) {
			if (errno == EBUSY)
				continue;
			break;
		}
		close(k);
		flips++;
		/* the three lowest free numbers: what a line opens is one */
		k = k == slot + 2 ? slot : k + 1;
	}
	return NULL;
}

static void *logger(void *arg)
{
	(void)arg;
	while (!seen && now() < until) {
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (s < 0)
			break;
		if (refused_connect(s))
			refusals++;
		close(s);
	}
	return NULL;
}

static void *reader(void *arg)
{
	char buf[4096];

	(void)arg;
	for (;;) {
		struct pollfd p = { .fd = sp[1], .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) == 0) {
			if (stop_read)
				break;
			continue;
		}
		n = read(sp[1], buf, sizeof buf);
		if (n <= 0)
			break;
		if (!leaked)
			memcpy(first, buf, (size_t)n < sizeof first - 1 ? (size_t)n : sizeof first - 1);
		leaked += (size_t)n;
		seen = 1;       /* found: the others stop */
	}
	return NULL;
}

static int race(double secs, bool onto2)
{
	pthread_t f, l, r;
	int probe;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 || (onto2 && (saved = dup(2)) < 0)) {
		perror("logslot: setup");
		return 1;
	}
	/* The logger's socket takes the lowest free number, the copy the next. */
	probe = socket(AF_INET, SOCK_STREAM, 0);
	slot = dup(probe);
	close(slot);
	close(probe);
	until = now() + secs;
	pthread_create(&r, NULL, reader, NULL);
	pthread_create(&f, NULL, onto2 ? flipper2 : flipper, NULL);
	pthread_create(&l, NULL, logger, NULL);
	pthread_join(f, NULL);
	pthread_join(l, NULL);
	if (onto2)
		dup2(saved, 2);
	stop_read = 1;
	pthread_join(r, NULL);
	for (char *c = first; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '.';
	printf("refusals %lu flips %lu slot %d leaked %zu\n", refusals, flips, slot, leaked);
	if (leaked)
		printf("first: %s\n", first);
	return leaked || !refusals ? 1 : 0;
}

/* One refused connect (one log line) with the socket's number in
 * TLSSHIM_TEST_SLOTSWAP (tests/progs/preload_slotswap.c): what arrives
 * on it. */
static int once(const char *nofile)
{
	char num[16], buf[4096];
	struct rlimit rl;
	ssize_t n;
	int s;

	if (nofile && (getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
		       (rl.rlim_cur = (rlim_t)atol(nofile), setrlimit(RLIMIT_NOFILE, &rl) != 0))) {
		perror("logslot: setrlimit");
		return 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		perror("logslot: socketpair");
		return 1;
	}
	snprintf(num, sizeof num, "%d", sp[0]);
	setenv("TLSSHIM_TEST_SLOTSWAP", num, 1);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0 || !refused_connect(s)) {
		perror("logslot: connect not refused");
		return 1;
	}
	close(s);
	unsetenv("TLSSHIM_TEST_SLOTSWAP");
	n = recv(sp[1], buf, sizeof buf - 1, MSG_DONTWAIT);
	if (n > 0) {
		buf[n] = 0;
		for (char *c = buf; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '.';
		printf("leaked %zd: %.60s\n", n, buf);
		return 1;
	}
	printf("leaked 0\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 64;
	port = atoi(argv[2]);
	if (!strcmp(argv[1], "race") && argc == 4)
		return race(atof(argv[3]), false);
	if (!strcmp(argv[1], "fd2") && argc == 4)
		return race(atof(argv[3]), true);
	if (!strcmp(argv[1], "once") && argc <= 4)
		return once(argc == 4 ? argv[3] : NULL);
	return 64;
}
