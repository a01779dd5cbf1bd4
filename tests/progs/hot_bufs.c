/* hot_bufs — a blocking client's record buffers (tests/preload/idlebufs.sh).
 *
 *   hot_bufs HOST PORT [fork]
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
 */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	size_t hot, now;
	long woke;
	struct timespec t0, t1;
	int fd;

	if (argc < 3 || getaddrinfo(argv[1], argv[2], &hints, &ai)) {
		fprintf(stderr, "usage: hot_bufs HOST PORT [fork]\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		perror("hot_bufs: connect");
		return 1;
	}
	freeaddrinfo(ai);
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
	woke = linger_woke();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int ms = 0;; ms += 20) {
		struct timespec ts = { 0, 20 * 1000000 };

		now = in_use();
		if (now + 16384 <= hot) {
			printf("idle %zu after %d ms\n", now, ms);
			long now_woke = linger_woke();

			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (woke < 0 || now_woke < 0)
				printf("no thread named tlsshim-linger\n");
			else
				printf("wakes %ld in %ld ms\n", now_woke - woke,
				       (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
			break;
		}
		if (ms >= 10000) {
			printf("still %zu\n", now);
			return 1;
		}
		nanosleep(&ts, NULL);
	}
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
