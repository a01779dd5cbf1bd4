/* lograce — the log's check of standard error against another thread's
 * dup2() onto it.  One thread moves a socket onto fd 2 and back (what an
 * inetd-style service's connection on 0, 1 and 2 looks like to the log
 * for a moment), as fast as it can; another makes the library log a line
 * each time round (a connect() that a deny rule refuses); a third reads
 * the socket's other end.  No log line may ever land on the socket.
 *
 *   lograce PORT SECONDS
 *
 * PORT: a port a deny rule names (nothing listens: the library refuses
 * before the kernel is asked).  Prints "refusals N flips N leaked BYTES"
 * and, when BYTES > 0, "first: ..." (what arrived, up to 60 bytes).
 * Exit 0 when nothing leaked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int sp[2], saved = -1, port;
static double until;
static volatile int stop_read;
static unsigned long refusals, flips;
static size_t leaked;
static char first[61];

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *flipper(void *arg)
{
	(void)arg;
	while (now() < until) {
		if (dup2(sp[0], 2) != 2 || dup2(saved, 2) != 2)
			break;
		flips++;
	}
	return NULL;
}

static void *logger(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };

	(void)arg;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (now() < until) {
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (s < 0)
			break;
		if (connect(s, (struct sockaddr *)&a, sizeof a) < 0)
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
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t f, l, r;

	if (argc != 3)
		return 64;
	port = atoi(argv[1]);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 || (saved = dup(2)) < 0) {
		perror("lograce: setup");
		return 1;
	}
	until = now() + atof(argv[2]);
	pthread_create(&r, NULL, reader, NULL);
	pthread_create(&f, NULL, flipper, NULL);
	pthread_create(&l, NULL, logger, NULL);
	pthread_join(f, NULL);
	pthread_join(l, NULL);
	dup2(saved, 2);
	stop_read = 1;
	pthread_join(r, NULL);
	for (char *c = first; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '.';
	printf("refusals %lu flips %lu leaked %zu\n", refusals, flips, leaked);
	if (leaked)
		printf("first: %s\n", first);
	return leaked ? 1 : 0;
}
