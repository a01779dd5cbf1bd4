/*
 * lat — plain (no TLS) programs for the latency and thread benchmarks.
 *
 *   lat server PORT          iterative: accept a connection on 127.0.0.1:PORT,
 *                            echo 32-byte messages until EOF, close, accept
 *                            the next
 *   lat client HOST PORT N   one kept-open connection: 200 warm-up round
 *                            trips, then N timed round trips of 32 bytes
 *                            each way (or fewer: it stops after
 *                            LAT_MAX_SECONDS, default 60); prints
 *                            "rtt n N p50 X p99 Y p999 Z mean M max W us rate R/s"
 *   lat thr-server PORT      one detached thread per accepted connection:
 *                            echo until EOF, close (the "legacy threaded
 *                            server" of the thread benchmark)
 *
 * Both ends set TCP_NODELAY (as a latency-sensitive program does; native.c
 * does the same in its lat-* modes). Every process ends itself after
 * LAT_TIMEOUT seconds (default 600). Knows nothing about TLS: run under the
 * shim, behind stunnel, or as is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../tests/progs/common.h"

#define MSG 32
#define WARM 200

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int listen_on(const char *port)
{
	struct sockaddr_in sa = loopback4(atoi(port));
	int fd = tcp_listen(&sa, 0, 128);

	if (fd < 0) {
		perror("lat: listen");
		exit(1);
	}
	return fd;
}

static void echo(int fd)
{
	char buf[16384];
	ssize_t n;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && write_all(fd, buf, (size_t)n) < 0)
			break;
	close(fd);
}

static void *echo_thread(void *arg)
{
	echo((int)(long)arg);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Percentile p (0..1) of n sorted values: the nearest rank. */
static double pct(const double *v, long n, double p)
{
	long i = (long)(p * (double)n + 0.999999) - 1;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static int client(const char *host, const char *port, long n)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	int rc = getaddrinfo(host, port, &hints, &ai), one = 1;
	if (rc) {
		fprintf(stderr, "lat: %s: %s\n", host, gai_strerror(rc));
		return 2;
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		perror("lat: connect");
		return 1;
	}
	freeaddrinfo(ai);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	const char *ms = getenv("LAT_MAX_SECONDS");
	double limit = ms ? atof(ms) : 60;
	double *rtt = malloc(sizeof *rtt * (size_t)(n > 0 ? n : 1));
	char ping[MSG], pong[MSG];
	long done = 0;
	if (!rtt)
		return 1;
	double t0 = now(), tstart = 0;
	for (long i = 0; i < WARM + n; i++) {
		memset(ping, 'a' + (int)(i % 26), MSG);
		double a = now();
		if (i == WARM)
			tstart = a;
		if (write_all(fd, ping, MSG) < 0 || read_full(fd, pong, MSG) != 1) {
			fprintf(stderr, "lat: round trip %ld: %s\n", i, errno ? strerror(errno) : "EOF");
			return 1;
		}
		double b = now();
		if (memcmp(ping, pong, MSG)) {
			fprintf(stderr, "lat: bad echo at %ld\n", i);
			return 1;
		}
		if (i >= WARM)
			rtt[done++] = (b - a) * 1e6;
		if (b - t0 > limit)
			break;
	}
	double dt = now() - tstart;
	close(fd);
	qsort(rtt, (size_t)done, sizeof *rtt, cmp_double);
	double sum = 0;
	for (long i = 0; i < done; i++)
		sum += rtt[i];
	printf("rtt n %ld p50 %.1f p99 %.1f p999 %.1f mean %.1f max %.1f us rate %.1f/s\n", done,
	       pct(rtt, done, 0.50), pct(rtt, done, 0.99), pct(rtt, done, 0.999),
	       done ? sum / (double)done : 0, done ? rtt[done - 1] : 0, done / dt);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	const char *t = getenv("LAT_TIMEOUT");
	alarm(t ? (unsigned)atoi(t) : 600);
	if (argc == 3 && !strcmp(argv[1], "server")) {
		int lfd = listen_on(argv[2]);
		for (long i = 0; i < 1000000; i++) {
			int fd = accept(lfd, NULL, NULL);
			if (fd >= 0)
				echo(fd);
			else if (errno != EINTR && errno != ECONNABORTED)
				return 1;
		}
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "thr-server")) {
		int lfd = listen_on(argv[2]);
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, 256 * 1024);
		for (long i = 0; i < 10000000; i++) {
			int fd = accept(lfd, NULL, NULL);
			pthread_t th;
			if (fd < 0) {
				if (errno != EINTR && errno != ECONNABORTED)
					return 1;
				continue;
			}
			if (pthread_create(&th, &at, echo_thread, (void *)(long)fd))
				close(fd);
		}
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "client"))
		return client(argv[2], argv[3], atol(argv[4]));
	fprintf(stderr, "usage: lat server PORT | lat client HOST PORT N | lat thr-server PORT\n");
	return 2;
}
