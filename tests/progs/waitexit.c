/* waitexit — the wait of tests/lib.sh's wait_exit (and of its _stop_all,
 * tests/interop/daemons.inc's kill_tree and wait_gone, and the capture's
 * stop in tests/tools/nsrun.sh) without a sleep forked ten times a second.
 *
 *   waitexit PID... MS
 *
 * Until every process PID has ended (a zombie or gone: what lib.sh's
 * alive calls not alive), at most MS milliseconds: exit 0 when they have,
 * 1 at the time limit, 2 on a usage error.  It does not reap them (the
 * shell that started them does).  An end is told by a pidfd (poll says
 * it is readable once the process has exited); without pidfd_open,
 * /proc/PID/stat is read every 100 ms.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "waitproc.h"

#define MAXPIDS 1024

int main(int argc, char **argv)
{
	static long pid[MAXPIDS];
	static struct pollfd pfd[MAXPIDS];
	int n = argc - 2, i;
	char *e = NULL;
	long long ms = argc >= 3 ? strtoll(argv[argc - 1], &e, 10) : -1;
	if (argc < 3 || n > MAXPIDS || *e || ms < 0) {
		fprintf(stderr, "usage: waitexit PID... MS\n");
		return 2;
	}
	for (i = 0; i < n; i++) {
		pid[i] = strtol(argv[i + 1], &e, 10);
		if (*e || pid[i] <= 0) {
			fprintf(stderr, "usage: waitexit PID... MS\n");
			return 2;
		}
		pfd[i].fd = (int)syscall(SYS_pidfd_open, (pid_t)pid[i], 0);
		pfd[i].events = POLLIN;
	}
	long long deadline = now_ms() + ms;
	for (;;) {
		/* the first one still alive; the ones before it have ended */
		int polled = 1;
		while (n > 0 && !alive(pid[0])) {
			if (pfd[0].fd >= 0)
				close(pfd[0].fd);
			n--;
			memmove(pid, pid + 1, n * sizeof pid[0]);
			memmove(pfd, pfd + 1, n * sizeof pfd[0]);
		}
		if (n == 0)
			return 0;
		long long left = deadline - now_ms();
		if (left <= 0)
			return 1;
		if (left > 1000)
			left = 1000;
		if (pfd[0].fd >= 0) {
			/* its pidfd: readable once it has exited */
			if (poll(pfd, 1, (int)left) < 0 && errno != EINTR)
				polled = 0;
		} else {
			polled = 0;
		}
		if (!polled) {
			struct timespec pause = { 0, (left < 100 ? left : 100) * 1000000L };
			nanosleep(&pause, NULL);
		}
	}
}
