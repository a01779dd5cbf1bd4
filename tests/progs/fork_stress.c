/* fork_stress — fork while another thread is inside the shim.
 *
 *   fork_stress PORT N
 * Listens on PORT, connects to itself and accepts (under an accept rule
 * the accepted fd is a TLS connection whose handshake has not started).
 * One thread polls that fd without pause (the shim takes its locks for
 * each poll) while the main thread forks N times; each child closes the
 * fd (which needs those locks) and exits.  A child that does not exit
 * within 5 s is reported as hung.  Prints "N forks, H hung".
 *
 *   fork_stress walk N
 * One thread walks the loaded objects without pause (dl_iterate_phdr,
 * holding the loader's lock for a millisecond each time), while the main
 * thread forks N times; each child creates a thread, joins it and exits
 * (glibc does not reset that lock in the child).  Same report.
 * Knows nothing about TLS.
 */
#include <errno.h>
#include <link.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common.h"

static int afd;
static atomic_int stop;

static void *poller(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct pollfd p = { .fd = afd, .events = POLLIN };
		poll(&p, 1, 0);
	}
	return NULL;
}

static int slow_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct timespec ts = { 0, 1000000 };

	(void)info, (void)size, (void)data;
	nanosleep(&ts, NULL);
	return 1;
}

static void *walker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		dl_iterate_phdr(slow_cb, NULL);
	return NULL;
}

static void *nothing(void *arg)
{
	return arg;
}

/* The child of each fork: close the TLS fd, or create and join a thread. */
static void child(bool walk)
{
	if (walk) {
		pthread_t t;

		if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0)
			_exit(1);
	} else {
		close(afd);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	int ls, cfd, n, hung = 0;
	pthread_t t;

	bool walk;

	if (argc != 3)
		return 64;
	walk = !strcmp(argv[1], "walk");
	n = atoi(argv[2]);
	if (walk) {
		pthread_create(&t, NULL, walker, NULL);
	} else {
		a = loopback4(atoi(argv[1]));
		ls = tcp_listen(&a, 0, 4);
		if (ls < 0)
			return 1;
		cfd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(cfd, (struct sockaddr *)&a, sizeof a) < 0)
			return 1;
		afd = accept(ls, NULL, NULL);
		if (afd < 0)
			return 1;
		pthread_create(&t, NULL, poller, NULL);
	}
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		int st, waited = 0;

		if (pid == 0)
			child(walk);
		if (pid < 0)
			break;
		while (waitpid(pid, &st, WNOHANG) == 0) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
			if (++waited > 5000) {
				hung++;
				kill(pid, SIGKILL);
				waitpid(pid, &st, 0);
				break;
			}
		}
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("%d forks, %d hung\n", n, hung);
	return hung != 0;
}
