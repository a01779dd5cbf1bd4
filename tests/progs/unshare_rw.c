/* tests/progs/unshare_rw.c HOST PORT MODE LINE — a thread of this program
 * asks for a descriptor table of its own, then closes the TLS
 * connection's number and opens /dev/null there; the main thread then
 * writes LINE on the number.
 *
 * Connects to HOST:PORT (an echo peer) and exchanges "one" (in use), or
 * with MODE ending in "-fresh" only starts a non-blocking connect on a
 * close-on-exec socket.  A second thread then tries, by MODE:
 *   unshare      unshare(CLONE_FILES)
 *   sysunshare   syscall(SYS_unshare, CLONE_FILES)
 *   closerange   close_range(n, n, CLOSE_RANGE_UNSHARE): unshares the
 *                table, then closes the number in the thread's copy
 *   clonefiles   no thread: clone(CLONE_FILES | SIGCHLD), a child that
 *                shares the descriptor table but not the memory (refused:
 *                "unshare: refused 22", and this process closes and
 *                reopens; "unshare: ok" when the child was made, which
 *                closes and reopens in the shared table, waited for)
 * prints "unshare: ok" or "unshare: refused ERRNO", closes the number
 * (but after closerange's success, which closed it) and opens /dev/null
 * there ("reopened: same number" or "reopened: N").  Then the main
 * thread, once the other has ended, writes LINE and a newline on its
 * number and prints "main: wrote" or "main: failed ERRNO".  Where the
 * table is refused, the close was the program's: the connection ended
 * (close_notify) and LINE goes to /dev/null.  Had the thread got a table
 * of its own, the main thread's number would still be the connection,
 * and LINE would have to leave over TLS or not at all.  Knows nothing
 * about TLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static int n;
static const char *mode;

/* The clone(CLONE_FILES) child: close, /dev/null at the number. */
static int files_child(void *arg)
{
	(void)arg;
	close(n);
	return open("/dev/null", O_WRONLY) == n ? 0 : 1;
}

static void *thread(void *arg)
{
	bool closed = false;
	long r;
	int z;

	(void)arg;
	if (strncmp(mode, "unshare", 7) == 0) {
		r = unshare(CLONE_FILES);
	} else if (strncmp(mode, "sysunshare", 10) == 0) {
		r = syscall(SYS_unshare, CLONE_FILES);
	} else {
		r = close_range((unsigned)n, (unsigned)n, CLOSE_RANGE_UNSHARE);
		closed = r == 0;
	}
	if (r == 0)
		printf("unshare: ok\n");
	else
		printf("unshare: refused %d\n", errno);
	if (!closed)
		close(n);
	z = open("/dev/null", O_WRONLY);
	if (z == n)
		printf("reopened: same number\n");
	else
		printf("reopened: %d\n", z);
	fflush(stdout);
	return NULL;
}

int main(int argc, char **argv)
{
	size_t ml;
	bool fresh;
	char line[256];
	pthread_t t;

	if (argc != 5)
		return 64;
	mode = argv[3];
	ml = strlen(mode);
	fresh = ml > 6 && strcmp(mode + ml - 6, "-fresh") == 0;
	if (fresh) {
		struct sockaddr_in a = loopback4(atoi(argv[2]));

		n = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (n < 0 ||
		    (connect(n, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)) {
			perror("unshare_rw: connect");
			return 2;
		}
	} else {
		if ((n = dial_host("unshare_rw", argv[1], argv[2], AF_UNSPEC, SOCK_STREAM)) < 0)
			return 2;
		if (exchange_line(n, stdout, "one\n", "first") < 0)
			return 2;
	}
	fflush(stdout);
	if (strncmp(mode, "clonefiles", 10) == 0) {
		static char stack[64 * 1024] __attribute__((aligned(16)));
		int st;
		pid_t c = clone(files_child, stack + sizeof stack, CLONE_FILES | SIGCHLD, NULL);

		if (c < 0) {
			printf("unshare: refused %d\n", errno);
			close(n);
			printf("reopened: %s\n",
			       open("/dev/null", O_WRONLY) == n ? "same number" : "another");
		} else {
			printf("unshare: ok\n");
			while (waitpid(c, &st, 0) < 0 && errno == EINTR)
				;
			printf("reopened: %s\n", st == 0 ? "same number" : "another");
		}
		fflush(stdout);
	} else if (pthread_create(&t, NULL, thread, NULL) != 0 || pthread_join(t, NULL) != 0) {
		return 4;
	}
	if (fresh) {
		/* a connect under way: let it complete (bounded) */
		struct pollfd p = { .fd = n, .events = POLLOUT };

		(void)poll(&p, 1, 2000);
	}
	snprintf(line, sizeof line, "%s\n", argv[4]);
	if (write_all_wait(n, line, strlen(line)) < 0)
		printf("main: failed %d\n", errno);
	else
		printf("main: wrote\n");
	close(n);
	return 0;
}
