/*
 * waitcost — what a second descriptor in a blocking wait costs: a loopback
 * TCP ping-pong of 32-byte messages (TCP_NODELAY) between two threads of
 * one process, the reader on each side waiting in one of three ways:
 *
 *   a  blocking recv() (native OpenSSL's way: the read is the wait)
 *   b  ppoll() on the socket alone, then recv()
 *   c  ppoll() on the socket and an eventfd of the thread's own (never
 *      written), then recv() (shim/wait.c's way)
 *   d  ppoll() on the socket alone with a signal mask (one that unblocks
 *      SIGUSR2 for the wait: how a signal could wake it), then recv()
 *
 *   waitcost [-n N] [-r ROUNDS] [-s] [-t SECONDS] [-v VARIANTS]
 *
 * VARIANTS (default abc) alternate in rounds (abcabc...), N timed round trips each
 * (default 20,000, after 500 untimed), ROUNDS rounds (default 7); -s pins
 * the two threads to the first two CPUs of the process's affinity set
 * (taskset -c 0,1), otherwise they share whatever taskset gave. Per round
 * and variant: the median round trip (clock_gettime around each), and the
 * process's CPU per round trip from getrusage (user + system) and from
 * CLOCK_PROCESS_CPUTIME_ID. At the end, per variant: the median over the
 * rounds and the range; then each variant less the one before it in
 * VARIANTS (b-a and c-b by default; -v abdc gives d-b), taken within each
 * round (the load of the moment weighs on both), median and range.
 * Stops after SECONDS (default 120) whatever is left, and reports what it
 * has. No TLS, no shim: the kernel's cost alone.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 32
#define WARM 500
#define MAXR 64
#define STOP 'x'
#define NV 4

static int split;
static sigset_t wait_mask;      /* d's: the thread's mask less SIGUSR2 */

static double now(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void pin(int nth)
{
	cpu_set_t set, one;
	int seen = 0;

	if (!split || sched_getaffinity(0, sizeof set, &set) < 0)
		return;
	CPU_ZERO(&one);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set) && seen++ == nth) {
			CPU_SET(i, &one);
			if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0)
				die("waitcost: affinity");
			return;
		}
}

/* One whole message, waiting the variant's way. */
static int get(int fd, int evfd, char v, char *buf)
{
	size_t got = 0;

	while (got < MSG) {
		ssize_t n;

		if (v != 'a') {
			struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
					       { .fd = evfd, .events = POLLIN } };
			if (ppoll(p, v == 'c' ? 2 : 1, NULL, v == 'd' ? &wait_mask : NULL) < 0)
				die("waitcost: ppoll");
			if (p[1].revents)
				die("waitcost: the eventfd woke");
			n = recv(fd, buf + got, MSG - got, MSG_DONTWAIT);
			if (n < 0 && errno == EAGAIN)
				continue;
		} else {
			n = recv(fd, buf + got, MSG - got, 0);
		}
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static void put(int fd, const char *buf)
{
	if (send(fd, buf, MSG, MSG_NOSIGNAL) != MSG)
		die("waitcost: send");
}

/* The echoing side: waits for each message the way its first byte says. */
static void *server(void *arg)
{
	int fd = *(int *)arg;
	int evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	char buf[MSG], v = 'a';

	pin(1);
	for (;;) {
		if (get(fd, evfd, v, buf) < 0 || buf[0] == STOP)
			break;
		put(fd, buf);
		v = buf[0];
	}
	close(evfd);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double rus(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int main(int argc, char **argv)
{
	int n = 20000, rounds = 7, limit = 120, opt, one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int lfd, cfd, sfd, evfd;
	pthread_t th;
	double *rtt, res[NV][4][MAXR];   /* variant, {p50, rusage, cputime, p99}, round */
	int done = 0;
	double t_end;
	char buf[MSG];

	const char *vs = "abc";
	int nv;
	sigset_t usr2;

	while ((opt = getopt(argc, argv, "n:r:st:v:")) != -1) {
		if (opt == 'n')
			n = atoi(optarg);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 's')
			split = 1;
		else if (opt == 't')
			limit = atoi(optarg);
		else if (opt == 'v')
			vs = optarg;
		else
			return 2;
	}
	nv = (int)strlen(vs);
	if (n < 100 || rounds < 1 || rounds > MAXR || nv < 1 || nv > NV ||
	    strspn(vs, "abcd") != strlen(vs))
		return 2;
	/* Both threads block SIGUSR2; d's wait unblocks it (nothing sends it). */
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr2, &wait_mask);
	sigdelset(&wait_mask, SIGUSR2);
	if (!(rtt = malloc(sizeof *rtt * (size_t)n)))
		die("waitcost: malloc");
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
		die("waitcost: listen");
	if ((cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(cfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    (sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		die("waitcost: connect");
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if ((evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		die("waitcost: eventfd");
	if (pthread_create(&th, NULL, server, &sfd) != 0)
		die("waitcost: thread");
	pin(0);
	t_end = now(CLOCK_MONOTONIC) + limit * 1e6;

	for (int r = 0; r < rounds && now(CLOCK_MONOTONIC) < t_end; r++) {
		for (int k = 0; k < nv; k++) {
			char v = vs[k];
			double ru0, cpu0;

			memset(buf, v, sizeof buf);
			for (int i = 0; i < WARM; i++) {
				put(cfd, buf);
				if (get(cfd, evfd, v, buf) < 0)
					die("waitcost: echo");
			}
			ru0 = rus();
			cpu0 = now(CLOCK_PROCESS_CPUTIME_ID);
			for (int i = 0; i < n; i++) {
				double t0 = now(CLOCK_MONOTONIC);

				put(cfd, buf);
				if (get(cfd, evfd, v, buf) < 0)
					die("waitcost: echo");
				rtt[i] = now(CLOCK_MONOTONIC) - t0;
			}
			res[k][1][r] = (rus() - ru0) / n;
			res[k][2][r] = (now(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / n;
			res[k][0][r] = median(rtt, n);
			res[k][3][r] = rtt[n * 99 / 100];
			printf("round %d %c: rtt p50 %.2f p99 %.2f us, cpu/rt rusage %.2f "
			       "cputime %.2f us\n", r + 1, v, res[k][0][r], res[k][3][r],
			       res[k][1][r], res[k][2][r]);
			fflush(stdout);
		}
		done = r + 1;
	}
	memset(buf, STOP, sizeof buf);
	put(cfd, buf);
	pthread_join(th, NULL);

	static const char *what[4] = { "rtt p50", "cpu/rt (rusage)", "cpu/rt (cputime)",
				       "rtt p99" };
	printf("%d rounds of %d round trips, threads %s\n", done, n,
	       split ? "on two CPUs" : "sharing the affinity set");
	for (int m = 0; m < 4; m++)
		for (int k = 0; k < nv && done; k++) {
			double lo, hi, med, v[MAXR];

			memcpy(v, res[k][m], sizeof v);
			med = median(v, done);
			lo = v[0];
			hi = v[done - 1];
			printf("%c %-17s median %6.2f us  range %6.2f-%6.2f\n", vs[k],
			       what[m], med, lo, hi);
		}
	/* The same round's variants side by side: the load of the moment
	 * weighs on both alike. */
	for (int m = 0; m < 3 && done; m++)
		for (int k = 1; k < nv; k++) {
			double d[MAXR], med;

			for (int r = 0; r < done; r++)
				d[r] = res[k][m][r] - res[k - 1][m][r];
			med = median(d, done);
			printf("%c-%c %-15s median %+6.2f us  range %+6.2f-%+6.2f (per round)\n",
			       vs[k], vs[k - 1], what[m], med, d[0], d[done - 1]);
		}
	return 0;
}
