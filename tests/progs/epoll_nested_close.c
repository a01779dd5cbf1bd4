/*
 * epoll_nested_close N — an epoll instance closed in one thread while other
 * threads wait for it from outside (tests/preload/epoll_nested.sh): one
 * poll()s its number, one waits on an outer instance it is registered in.
 * The main thread creates the inner instance, registers it in the outer
 * one and closes it, N times.  Under the shim both waits ask the inner
 * instance for plain text held inside (shim_epoll_pending), which used a
 * freed instance when the close won the race.  Prints "ok N" and exits 0.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

static atomic_int stop;
static atomic_int inner = -1;
static int outer;

static void *poller(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct pollfd p = { .fd = atomic_load(&inner), .events = POLLIN };
		if (p.fd >= 0)
			(void)poll(&p, 1, 0);
	}
	return NULL;
}

static void *outer_waiter(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct epoll_event ev[4];
		(void)epoll_wait(outer, ev, 4, 0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	pthread_t t[2];

	if ((outer = epoll_create1(0)) < 0) {
		perror("epoll_create1");
		return 1;
	}
	if (pthread_create(&t[0], NULL, poller, NULL) || pthread_create(&t[1], NULL, outer_waiter, NULL)) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	for (long i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN };
		int fd = epoll_create1(0);

		if (fd < 0) {
			perror("epoll_create1");
			return 1;
		}
		atomic_store(&inner, fd);
		if (epoll_ctl(outer, EPOLL_CTL_ADD, fd, &e) < 0) {
			perror("epoll_ctl");
			return 1;
		}
		close(fd);
	}
	atomic_store(&stop, 1);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	printf("ok %ld\n", n);
	return 0;
}
