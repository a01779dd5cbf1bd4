/* hot_bufs — a blocking client's record buffers (tests/preload/idlebufs.sh).
 *
 *   hot_bufs HOST PORT [fork|bulk]
 *
 * Connects, makes 50 round trips of 32 bytes with blocking reads (under
 * the shim the connection then keeps its record buffers from one record
 * to the next), and prints "hot N": the most bytes the heap had in use
 * after each of the last ten.  Then
 * it stays idle, looking every 20 ms for up to 10 s, until the heap has
 * at least 16 KiB (a record buffer) fewer in use (the shim's linger thread gave the
 * idle connection's buffers back): "idle N after MS ms", or "still N"
 * and exit 1; then "wakes W in E ms": how often the shim's linger thread
 * (the thread named "tlsshim-linger") woke meanwhile (its voluntary
 * context switches, from /proc/self/task), and the time that took
 * (CLOCK_MONOTONIC): a thread that ticked every 10 ms while only a
 * watched connection was there would show about E / 10.  Then one more round trip on the same connection: "again
 * ok"; the connection is hot again, and its close() must free at least
 * 16 KiB at once: "close freed N bytes".  With "fork": forks after 40 of
 * the round trips (the session then goes to a pump: both processes hold
 * the socket; the parent's watch lets go of its copy, whose memory the
 * "idle" drop then is: the fork waits for a sweep of the watch first,
 * and "hot" also counts the heap as fork() returns; no close check); the
 * child (which
 * inherits the watched connection) exits 0 at once, and the parent checks
 * its status ("child ok") and goes on.
 *
 * With "bulk" (run with preload_bufcount.so after the shim in LD_PRELOAD
 * and TLSSHIM_TEST_BUFSIZE the four-record buffer's size, RBUF_BULK of
 * core/tls.c): no heap totals, but the live blocks of exactly that size,
 * counted by preload_bufcount.so (bufcount_live), which sees every
 * allocation under every build.  First writes 64 KiB and, once the
 * kernel holds all four records of the echo (its queue in
 * /proc/net/tcp: the shim answers FIONREAD itself), reads them back and
 * checks them ("bulk ok"): a recv fills the one-record read buffer, so
 * the connection's read buffers are of four records from then on
 * (core/tls.c, RBUF_BULK).  Then one read that must wait: SO_RCVTIMEO of
 * 1 ms with nothing sent, EAGAIN ("waited"): the shim keeps the buffers
 * of a reader whose last read had to wait (tls_conn_wait_first), and
 * the bulk reads, which never waited, had made it one that need not.
 * Without that read the connection went hot only if one of the round
 * trips' reads came before its echo, which under AddressSanitizer or
 * ThreadSanitizer (a slower shim, the echo server as fast as ever) was
 * often none of the 50: the buffers were freed after each record and no
 * drop could follow (b5dbf0b, reverted in 17944c0).  Then the round trips:
 * after each, the count must be 1 (the four-record buffer held while the
 * reader works: "held 1 in N of N"); a sample during which the linger
 * thread woke (a sweep, which may let go of the buffers of a connection
 * that a stall of 200 ms left without a read or write) is not counted,
 * and the round trips go on until 40 samples count (at most 200
 * round trips).  Then idle: the count must come to 0 within 10 s ("idle 0
 * after MS ms", and "wakes"), else "still N".  The round trip after it
 * holds the buffer again (count 1: "again ok"), and close() gives it back
 * at once (count 0: "close freed it").
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* AddressSanitizer's allocator: glibc's mallinfo2 does not see it. */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static size_t in_use(void)
{
	if (__sanitizer_get_current_allocated_bytes)
		return __sanitizer_get_current_allocated_bytes();
	return mallinfo2().uordblks;
}

/* Voluntary context switches of the shim's linger thread; -1 when there
 * is no thread of that name. */
static long linger_woke(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	long sum = -1;
	char path[300], line[128];

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (!fgets(line, sizeof line, f) || strcmp(line, "tlsshim-linger\n")) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, "voluntary_ctxt_switches:", 24))
				sum = (sum < 0 ? 0 : sum) + atol(line + 24);
		fclose(f);
	}
	closedir(d);
	return sum;
}

static int round_trip(int fd, int i)
{
	char ping[32], pong[32];
	size_t got = 0;

	memset(ping, 'a' + i % 26, sizeof ping);
	if (write(fd, ping, sizeof ping) != (ssize_t)sizeof ping)
		return -1;
	while (got < sizeof pong) {
		ssize_t n = read(fd, pong + got, sizeof pong - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return memcmp(ping, pong, sizeof ping) ? -1 : 0;
}

/* The child exits at once; its status is checked.  *hot: the heap in
 * use as fork() returns, before the wait.  The parent's copy of the
 * connection is let go at the watch's next sweep (every 200 ms), and the
 * drop must come after the samples: on a loaded machine a sweep that
 * came during the fork (the pump's start-up) or before the next round
 * trip ended put it behind them (found twice beside check-stress: "still
 * N", the level after the drop).  So the fork waits for a sweep first
 * (the linger thread's wake-up: the only ones while nothing lingers),
 * which leaves 200 ms to the next; at most 500 ms, and not at all
 * without the thread (the "wakes" line then says so).  The heap just
 * before the fork counts too: a fork slower than those 200 ms (an ASan
 * build on a machine loaded by a clean CI run beside four other suites)
 * met the sweep before fork() returned, and "hot" was the level after
 * the drop ("still N" with N the same as "hot"). */
static int forked(size_t *hot)
{
	size_t before;
	int st;
	long w = linger_woke();
	pid_t p;

	for (int ms = 0; w >= 0 && ms < 500 && linger_woke() == w; ms++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	before = in_use();
	p = fork();

	if (p == 0)
		_exit(0);
	*hot = in_use();
	if (before > *hot)
		*hot = before;
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("child failed\n");
		return -1;
	}
	printf("child ok\n");
	return 0;
}

/* The kernel's receive queue of fd, from /proc/net/tcp (the shim answers
 * FIONREAD itself, in plaintext, and decrypts to do so): -1 if unknown. */
static long kernel_inq(int fd)
{
	struct sockaddr_in me;
	socklen_t ml = sizeof me;
	char line[512];
	long q = -1;
	FILE *f;

	if (getsockname(fd, (struct sockaddr *)&me, &ml) < 0 || !(f = fopen("/proc/net/tcp", "r")))
		return -1;
	while (fgets(line, sizeof line, f)) {
		unsigned lport, tx, rx;

		if (sscanf(line, " %*d: %*x:%x %*x:%*x %*x %x:%x", &lport, &tx, &rx) == 3 &&
		    lport == ntohs(me.sin_port)) {
			q = (long)rx;
			break;
		}
	}
	fclose(f);
	return q;
}

/* 64 KiB out, and back once the kernel holds all of it (four records of
 * 16,406 bytes, TLS 1.3): 0, or -1. */
static int bulk(int fd)
{
	static char out[65536], in[65536];
	size_t got = 0;
	long q = 0;

	for (size_t i = 0; i < sizeof out; i++)
		out[i] = (char)(i * 7 + 3);
	if (write(fd, out, sizeof out) != (ssize_t)sizeof out) {
		perror("hot_bufs: bulk: write");
		return -1;
	}
	for (int ms = 0; ms < 10000; ms++) {
		struct timespec ts = { 0, 1000000 };

		if ((q = kernel_inq(fd)) < 0) {
			fprintf(stderr, "hot_bufs: bulk: no queue in /proc/net/tcp\n");
			return -1;
		}
		if (q >= 4 * 16406)
			break;
		nanosleep(&ts, NULL);
	}
	while (got < sizeof in) {
		ssize_t n = read(fd, in + got, sizeof in - got < 16384 ? sizeof in - got : 16384);

		if (n <= 0) {
			fprintf(stderr, "hot_bufs: bulk: read %zd after %zu: %s\n", n, got,
				strerror(errno));
			return -1;
		}
		got += (size_t)n;
	}
	if (q < 4 * 16406 || memcmp(out, in, sizeof in)) {
		fprintf(stderr, "hot_bufs: bulk: the kernel held %ld bytes; %s\n", q,
			memcmp(out, in, sizeof in) ? "the echo differs" : "the echo is the same");
		return -1;
	}
	printf("bulk ok\n");
	return 0;
}

/* Idle: looks every 20 ms, for up to 10 s, until idle(&now) says the
 * buffers went: "idle NOW after MS ms" and "wakes W in E ms" (see the
 * top), 0; else "still NOW", -1. */
static int await_idle(bool (*idle)(long *now))
{
	long woke = linger_woke(), now = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int ms = 0;; ms += 20) {
		struct timespec ts = { 0, 20 * 1000000 };

		if (idle(&now)) {
			printf("idle %ld after %d ms\n", now, ms);
			long now_woke = linger_woke();

			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (woke < 0 || now_woke < 0)
				printf("no thread named tlsshim-linger\n");
			else
				printf("wakes %ld in %ld ms\n", now_woke - woke,
				       (long)((t1.tv_sec - t0.tv_sec) * 1000 +
					      (t1.tv_nsec - t0.tv_nsec) / 1000000));
			return 0;
		}
		if (ms >= 10000) {
			printf("still %ld\n", now);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
}

/* The heap 16 KiB (a record buffer) below hot_level. */
static size_t hot_level;

static bool heap_dropped(long *now)
{
	size_t n = in_use();

	*now = (long)n;
	return n + 16384 <= hot_level;
}

/* No four-record buffer left (bufcount_live of preload_bufcount.so). */
static int (*live)(void);

static bool none_live(long *now)
{
	*now = live();
	return *now == 0;
}

/* One read that waits and gets nothing: SO_RCVTIMEO of 1 ms, nothing
 * sent (the echo server sends only what it was sent). */
static int waited(int fd)
{
	struct timeval tv = { 0, 1000 }, none = { 0, 0 };
	char c;
	ssize_t n;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
		return -1;
	n = read(fd, &c, 1);
	if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
		fprintf(stderr, "hot_bufs: the read that waits: %zd (%s)\n", n,
			n < 0 ? strerror(errno) : "data");
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none) < 0)
		return -1;
	printf("waited\n");
	return 0;
}

/* The bulk case (see the top): the four-record buffers counted. */
static int bulk_case(int fd)
{
	int held = 0, samples = 0, n = -1, trips = 0;

	live = (int (*)(void))dlsym(RTLD_DEFAULT, "bufcount_live");
	if (!live || live() < 0) {
		printf("no count: preload_bufcount.so with TLSSHIM_TEST_BUFSIZE is needed\n");
		return 1;
	}
	if (bulk(fd) < 0 || waited(fd) < 0)
		return 1;
	while (samples < 40 && trips < 200) {
		long w = linger_woke();

		if (round_trip(fd, trips++) < 0) {
			fprintf(stderr, "hot_bufs: round trip %d: %s\n", trips - 1, strerror(errno));
			return 1;
		}
		n = live();
		if (w < 0 || linger_woke() != w)
			continue;
		samples++;
		held += n == 1;
	}
	printf("held 1 in %d of %d (%d round trips; last count %d)\n", held, samples, trips, n);
	if (held != samples || samples < 40)
		return 1;
	if (await_idle(none_live) < 0)
		return 1;
	if (round_trip(fd, 0) < 0) {
		fprintf(stderr, "hot_bufs: the round trip after idle: %s\n", strerror(errno));
		return 1;
	}
	if ((n = live()) != 1) {
		printf("again: count %d\n", n);
		return 1;
	}
	printf("again ok\n");
	close(fd);
	if ((n = live()) != 0) {
		printf("close left %d\n", n);
		return 1;
	}
	printf("close freed it\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	size_t hot, now;
	int fd;

	if (argc < 3 || getaddrinfo(argv[1], argv[2], &hints, &ai)) {
		fprintf(stderr, "usage: hot_bufs HOST PORT [fork|bulk]\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		perror("hot_bufs: connect");
		return 1;
	}
	freeaddrinfo(ai);
	if (argc > 3 && !strcmp(argv[3], "bulk"))
		return bulk_case(fd);
	hot = 0;
	for (int i = 0; i < 50; i++) {
		if (round_trip(fd, i) < 0) {
			fprintf(stderr, "hot_bufs: round trip %d: %s\n", i, strerror(errno));
			return 1;
		}
		if (i == 39 && argc > 3 && !strcmp(argv[3], "fork") && forked(&hot) < 0)
			return 1;
		/* The most in use after each of the last ten: on a loaded
		 * machine a stall of 200 ms between two round trips lets the
		 * watcher free the buffers (and the next wait keeps them
		 * again). */
		if (i >= 40 && in_use() > hot)
			hot = in_use();
	}
	printf("hot %zu\n", hot);
	fflush(stdout);
	hot_level = hot;
	if (await_idle(heap_dropped) < 0)
		return 1;
	if (round_trip(fd, 0) < 0) {
		fprintf(stderr, "hot_bufs: the round trip after idle: %s\n", strerror(errno));
		return 1;
	}
	printf("again ok\n");
	/* Hot again: its close frees the buffers and the session at once,
	 * not at the watcher's next sweep. */
	hot = in_use();
	close(fd);
	now = in_use();
	if (argc > 3) {
		printf("close done\n");    /* the pump's plaintext socket */
		return 0;
	}
	if (now + 16384 > hot) {
		printf("close freed only %zd bytes\n", (ssize_t)hot - (ssize_t)now);
		return 1;
	}
	printf("close freed %zu bytes\n", hot - now);
	return 0;
}
