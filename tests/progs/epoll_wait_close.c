/*
 * epoll_wait_close N — an epoll instance closed (and its number taken by a
 * new one) while other threads wait on it and change its registrations
 * (tests/preload/epoll_nested.sh).  Two threads epoll_wait on the current
 * instance (one with time-out 0, one sleeping 1 ms in it), one adds,
 * modifies and removes a pipe in it; the main thread creates an instance,
 * registers a pipe (readable every other round) with the round's number as
 * data, publishes it and closes it, N times.  Legal (the kernel keeps the
 * closed instance for its waiters); under the shim the waits and
 * epoll_ctl locked an instance that the close had freed.  An event's data
 * must be a round's number (never another registration's bytes).
 * Prints "ok N" and exits 0; 1 on a wrong event.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

static atomic_int stop, bad;
static atomic_int cur = -1;
static atomic_long round_no;
static int full[2], empty[2], extra[2];
static long rounds;

static void check(const struct epoll_event *ev, int k)
{
	for (int i = 0; i < k; i++) {
		uint64_t d = ev[i].data.u64;
		if (d != UINT64_MAX && (d < 1 || d > (uint64_t)rounds))
			atomic_store(&bad, 1);
	}
}

static void *waiter(void *arg)
{
	int timeout = (int)(intptr_t)arg;

	while (!atomic_load(&stop)) {
		struct epoll_event ev[4];
		int fd = atomic_load(&cur), k;
		if (fd < 0)
			continue;
		k = epoll_wait(fd, ev, 4, timeout);
		if (k > 0)
			check(ev, k);
	}
	return NULL;
}

static void *changer(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct epoll_event e = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
		int fd = atomic_load(&cur);
		if (fd < 0)
			continue;
		(void)epoll_ctl(fd, EPOLL_CTL_ADD, extra[0], &e);
		e.events = EPOLLIN | EPOLLET;
		(void)epoll_ctl(fd, EPOLL_CTL_MOD, extra[0], &e);
		(void)epoll_ctl(fd, EPOLL_CTL_DEL, extra[0], NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[3];

	rounds = argc > 1 ? atol(argv[1]) : 20000;
	if (pipe(full) || pipe(empty) || pipe(extra) || write(full[1], "x", 1) != 1) {
		perror("pipe");
		return 1;
	}
	if (pthread_create(&t[0], NULL, waiter, (void *)(intptr_t)0) ||
	    pthread_create(&t[1], NULL, waiter, (void *)(intptr_t)1) ||
	    pthread_create(&t[2], NULL, changer, NULL)) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	for (long i = 1; i <= rounds; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
		int fd = epoll_create1(0);

		if (fd < 0) {
			perror("epoll_create1");
			return 1;
		}
		if (epoll_ctl(fd, EPOLL_CTL_ADD, (i & 1) ? full[0] : empty[0], &e) < 0) {
			perror("epoll_ctl");
			return 1;
		}
		atomic_store(&round_no, i);
		atomic_store(&cur, fd);
		close(fd);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	if (atomic_load(&bad)) {
		printf("bad event data\n");
		return 1;
	}
	printf("ok %ld\n", rounds);
	return 0;
}
