/* duplex_client — a threaded TCP client, for echo servers.
 *
 *   duplex_client HOST PORT duplex BYTES [SEED]
 *       Full duplex on one socket: one thread writes BYTES pseudo-random
 *       bytes (chunks of varying size) and then shutdown(SHUT_WR)s, while
 *       another thread reads the echo concurrently and compares it with
 *       what was sent, to the end of data.  Prints
 *         "duplex ok BYTES sum=HEX"          (FNV-1a of the stream)
 *       or "duplex MISMATCH at OFFSET", "duplex short GOT of BYTES",
 *       "duplex read error: ...", "duplex write error: ...".
 *   duplex_client HOST PORT wake DELAY_MS
 *       Exchange one line, then one thread blocks in read() (the echo
 *       server has nothing to say) while the main thread, after DELAY_MS,
 *       calls shutdown(SHUT_RDWR) and then close() on the fd.  (On Linux a
 *       close() alone does not wake a thread blocked in read(); the
 *       shutdown does.)  Prints "wake: read returned R (ERRNO) after N ms"
 *       once the reader is back, or "wake: read still blocked" when it is
 *       not back 5 s after the close.
 * Exit 0 on success, 1 on failure, 3 on the overall time limit (120 s).
 * Knows nothing about TLS.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fd;
static long long total;
static uint64_t seed;

static uint64_t next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void on_alarm(int sig)
{
	static const char m[] = "duplex_client: time limit reached\n";
	(void)sig;
	(void)!write(2, m, sizeof m - 1);
	_exit(3);
}

static char werr[200];

static void *writer(void *arg)
{
	static char buf[16384];
	uint64_t s = seed, sz = seed ^ 0x9e3779b97f4a7c15ull;
	long long sent = 0;
	(void)arg;
	while (sent < total) {
		size_t n = 1 + (size_t)(next(&sz) % sizeof buf), off = 0;
		if ((long long)n > total - sent)
			n = (size_t)(total - sent);
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)(next(&s) >> 32);
		while (off < n) {
			ssize_t w = write(fd, buf + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				snprintf(werr, sizeof werr, "duplex write error: %s after %lld bytes",
					 w < 0 ? strerror(errno) : "wrote 0", sent);
				return NULL;
			}
			off += (size_t)w;
			sent += w;
		}
	}
	if (shutdown(fd, SHUT_WR) < 0)
		snprintf(werr, sizeof werr, "duplex write error: shutdown: %s", strerror(errno));
	return NULL;
}

static int duplex(void)
{
	static unsigned char buf[65536];
	uint64_t s = seed;
	uint32_t h = 2166136261u;
	long long got = 0;
	pthread_t w;
	ssize_t r;

	if (pthread_create(&w, NULL, writer, NULL) != 0)
		return 1;
	for (;;) {
		r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			if (got + i >= total || buf[i] != (unsigned char)(next(&s) >> 32)) {
				printf("duplex MISMATCH at %lld\n", got + i);
				return 1;
			}
			h = (h ^ buf[i]) * 16777619u;
		}
		got += r;
	}
	if (r < 0) {
		printf("duplex read error: %s after %lld of %lld bytes\n", strerror(errno), got, total);
		return 1;
	}
	pthread_join(w, NULL);
	if (werr[0]) {
		printf("%s\n", werr);
		return 1;
	}
	if (got != total) {
		printf("duplex short %lld of %lld\n", got, total);
		return 1;
	}
	if (close(fd) < 0) {
		printf("duplex close: %s\n", strerror(errno));
		return 1;
	}
	printf("duplex ok %lld sum=%08x\n", got, h);
	return 0;
}

static volatile int woke;
static ssize_t wake_r;
static int wake_errno;
static double wake_at;

static void *blocked_reader(void *arg)
{
	char b[256];
	(void)arg;
	wake_r = read(fd, b, sizeof b);
	wake_errno = errno;
	wake_at = now_ms();
	__atomic_store_n(&woke, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int wake(int delay_ms)
{
	char b[64];
	pthread_t t;
	double t0;

	if (write(fd, "ping\n", 5) != 5 || read(fd, b, sizeof b) != 5 || memcmp(b, "ping\n", 5)) {
		printf("wake: first exchange failed: %s\n", strerror(errno));
		return 1;
	}
	if (pthread_create(&t, NULL, blocked_reader, NULL) != 0)
		return 1;
	usleep((useconds_t)delay_ms * 1000);
	if (__atomic_load_n(&woke, __ATOMIC_SEQ_CST)) {
		printf("wake: read returned %zd before the shutdown (%s)\n", wake_r,
		       wake_r < 0 ? strerror(wake_errno) : "no error");
		return 1;
	}
	t0 = now_ms();
	if (shutdown(fd, SHUT_RDWR) < 0)
		printf("wake: shutdown: %s\n", strerror(errno));
	if (close(fd) < 0)
		printf("wake: close: %s\n", strerror(errno));
	for (int i = 0; i < 500 && !__atomic_load_n(&woke, __ATOMIC_SEQ_CST); i++)
		usleep(10000);
	if (!__atomic_load_n(&woke, __ATOMIC_SEQ_CST)) {
		printf("wake: read still blocked 5 s after shutdown+close\n");
		fflush(stdout);
		_exit(1);
	}
	pthread_join(t, NULL);
	printf("wake: read returned %zd (%s) after %.0f ms\n", wake_r,
	       wake_r < 0 ? strerror(wake_errno) : "no error", wake_at - t0);
	return wake_r > 0;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;

	if (argc < 5 || getaddrinfo(argv[1], argv[2], &hints, &res) != 0) {
		fprintf(stderr, "usage: duplex_client HOST PORT duplex BYTES [SEED] | wake DELAY_MS\n");
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm(120);
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		printf("connect: %s\n", strerror(errno));
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[3], "duplex")) {
		total = atoll(argv[4]);
		seed = argc > 5 ? strtoull(argv[5], NULL, 0) : (uint64_t)getpid();
		if (!seed)
			seed = 1;
		return duplex();
	}
	if (!strcmp(argv[3], "wake"))
		return wake(atoi(argv[4]));
	return 64;
}
