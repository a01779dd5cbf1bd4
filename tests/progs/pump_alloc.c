/* pump_alloc — fork with a live connection while another thread allocates.
 *
 *   pump_alloc HOST PORT N [WAIT]
 * N times, one after another: connect to HOST:PORT (an echo server),
 * exchange a line (the connection is in use), fork a child that exits at
 * once, then exchange a second line and close.  Around each fork other
 * threads (two more than the machine's cores) allocate and free 16-17 KiB
 * blocks without pause, so that they hold the allocator's lock much of
 * the time (run it with GLIBC_TUNABLES=glibc.malloc.arena_max=1, or under
 * AddressSanitizer, whose allocator every thread shares).  They start
 * before the fork (the fork waits until they have run a few rounds) and
 * stop after it; between forks they sleep, so that the test costs CPU
 * only where it tests.  The first stall ends the run.
 * A second exchange with no answer within WAIT s (default 10) is reported
 * as stalled; one that fails (a reset, an early end) as failed, with its
 * errno.
 * Prints "N connections forked, S stalled, E failed"; exits 0 when S and E
 * are 0.  Knows nothing about TLS, except with PUMP_ALLOC_ERRQ=1 in the
 * environment: then, as a program using OpenSSL itself may, it leaves an
 * error in its thread's OpenSSL error queue before each fork (found with
 * dlsym in the libcrypto already loaded).
 *
 *   pump_alloc --set-mem
 * Calls CRYPTO_set_mem_functions (found the same way) with functions that
 * abort, and prints what it returned: "set_mem_functions: R".
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Allocating threads: two more than the machine's cores, so that one is
 * often preempted while it holds the lock, as on a loaded machine. */
#define NALLOC_MAX 64

static atomic_int stop, hot;
static atomic_ulong rounds;
static pthread_mutex_t hot_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hot_cv = PTHREAD_COND_INITIALIZER;

static void *allocator(void *arg)
{
	void *p[8];

	(void)arg;
	while (!atomic_load(&stop)) {
		if (!atomic_load(&hot)) {
			pthread_mutex_lock(&hot_mu);
			while (!atomic_load(&hot) && !atomic_load(&stop))
				pthread_cond_wait(&hot_cv, &hot_mu);
			pthread_mutex_unlock(&hot_mu);
			continue;
		}
		for (int i = 0; i < 8; i++) {
			p[i] = malloc(16384 + 64 * (size_t)i);
			if (p[i])
				*(volatile char *)p[i] = 1;
		}
		for (int i = 0; i < 8; i++)
			free(p[i]);
		atomic_fetch_add(&rounds, 1);
	}
	return NULL;
}

/* Start (and see running: a few rounds done) or stop the allocator. */
static void set_hot(int on)
{
	unsigned long r0 = atomic_load(&rounds);

	pthread_mutex_lock(&hot_mu);
	atomic_store(&hot, on);
	pthread_cond_broadcast(&hot_cv);
	pthread_mutex_unlock(&hot_mu);
	if (!on)
		return;
	/* (bounded: 2 s, far more than a few rounds take) */
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (atomic_load(&rounds) < r0 + 4) {
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 2)
			break;
	}
}

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int fd;

	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int wait_ms = 10000;

/* Send line, read it back.  0 ok, 1 no answer in WAIT s, -1 failed. */
static int exchange(int fd, const char *line)
{
	size_t len = strlen(line), got = 0;
	char buf[128];

	if (write(fd, line, len) != (ssize_t)len)
		return -1;
	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;
		int n = poll(&p, 1, wait_ms);

		if (n == 0)
			return 1;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		r = read(fd, buf + got, len - got);
		if (r == 0)
			errno = 0;      /* "end of file" */
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	if (memcmp(buf, line, len) != 0) {
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

static void *never_malloc(size_t n, const char *f, int l)
{
	(void)n; (void)f; (void)l;
	abort();
}

static void *never_realloc(void *p, size_t n, const char *f, int l)
{
	(void)p; (void)n; (void)f; (void)l;
	abort();
}

static void never_free(void *p, const char *f, int l)
{
	(void)p; (void)f; (void)l;
	abort();
}

/* ERR_raise(ERR_LIB_USER, 1), without OpenSSL's headers. */
static void leave_error(void)
{
	void (*err_new)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "ERR_new");
	void (*err_set)(int, int, const char *, ...) =
		(void (*)(int, int, const char *, ...))dlsym(RTLD_DEFAULT, "ERR_set_error");

	if (err_new && err_set) {
		err_new();
		err_set(128, 1, NULL);
	}
}

int main(int argc, char **argv)
{
	bool errq = getenv("PUMP_ALLOC_ERRQ") && atoi(getenv("PUMP_ALLOC_ERRQ"));

	if (argc == 2 && strcmp(argv[1], "--set-mem") == 0) {
		int (*set)(void *, void *, void *) =
			(int (*)(void *, void *, void *))dlsym(RTLD_DEFAULT, "CRYPTO_set_mem_functions");
		printf("set_mem_functions: %d\n",
		       set ? set((void *)never_malloc, (void *)never_realloc, (void *)never_free) : -1);
		return 0;
	}
	pthread_t t[NALLOC_MAX];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int nalloc = ncpu > 0 && ncpu + 2 < NALLOC_MAX ? (int)ncpu + 2 : ncpu > 0 ? NALLOC_MAX : 4;
	int n, stalled = 0, failed = 0, tried = 0;

	if ((argc != 4 && argc != 5) || (n = atoi(argv[3])) <= 0) {
		fprintf(stderr, "usage: pump_alloc HOST PORT N [WAIT]\n");
		return 2;
	}
	if (argc == 5)
		wait_ms = atoi(argv[4]) * 1000;
	for (int i = 0; i < nalloc; i++)
		if (pthread_create(&t[i], NULL, allocator, NULL) != 0)
			return 2;
	for (int i = 0; i < n; i++, tried++) {
		char line[64];
		int fd = dial(argv[1], argv[2]), r;
		pid_t pid;

		if (fd < 0) {
			fprintf(stderr, "pump_alloc: connection %d: connect failed\n", i);
			failed++;
			continue;
		}
		snprintf(line, sizeof line, "before fork %d\n", i);
		if (exchange(fd, line) != 0) {
			fprintf(stderr, "pump_alloc: connection %d: first exchange failed\n", i);
			failed++;
			close(fd);
			continue;
		}
		if (errq)
			leave_error();
		set_hot(1);
		pid = fork();
		if (pid == 0)
			_exit(0);
		set_hot(0);
		if (pid > 0)
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
		snprintf(line, sizeof line, "after fork %d\n", i);
		r = exchange(fd, line);
		if (r == 1) {
			fprintf(stderr, "pump_alloc: connection %d: no answer after the fork within %d s\n", i,
				wait_ms / 1000);
			stalled++;
			/* A pump that hangs once is the failure: stop here, within
			 * the test's time (each further stall would cost WAIT s). */
			close(fd);
			tried++;
			break;
		} else if (r < 0) {
			fprintf(stderr, "pump_alloc: connection %d: exchange after the fork failed: %s\n", i,
				errno ? strerror(errno) : "end of file");
			failed++;
		}
		close(fd);
	}
	pthread_mutex_lock(&hot_mu);
	atomic_store(&stop, 1);
	pthread_cond_broadcast(&hot_cv);
	pthread_mutex_unlock(&hot_mu);
	for (int i = 0; i < nalloc; i++)
		pthread_join(t[i], NULL);
	printf("%d connections forked, %d stalled, %d failed\n", tried, stalled, failed);
	return stalled || failed;
}
