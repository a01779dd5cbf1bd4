/* waitexit — the wait of tests/lib.sh's wait_exit without a sleep
 * forked ten times a second.
 *
 *   waitexit PID MS
 *
 * Until process PID has ended (a zombie or gone: what lib.sh's alive
 * calls not alive), at most MS milliseconds: exit 0 when it has, 1 at the
 * time limit, 2 on a usage error.  It does not reap PID (the shell that
 * started it does).  The end is told by a pidfd (poll says it is readable
 * once the process has exited); without pidfd_open, /proc/PID/stat is
 * read every 100 ms.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* 1 when PID exists and is neither a zombie nor dead. */
static int alive(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X' && p[2] != 0;
}

int main(int argc, char **argv)
{
	char *e1 = NULL, *e2 = NULL;
	long pid = argc == 3 ? strtol(argv[1], &e1, 10) : 0;
	long long ms = argc == 3 ? strtoll(argv[2], &e2, 10) : -1;
	if (argc != 3 || *e1 || *e2 || pid <= 0 || ms < 0) {
		fprintf(stderr, "usage: waitexit PID MS\n");
		return 2;
	}
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (fd < 0 && errno == ESRCH)
		return 0;
	for (;;) {
		if (!alive(pid))
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long long left = ms - ((t.tv_sec - t0.tv_sec) * 1000LL +
				       (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return 1;
		if (fd >= 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			if (poll(&p, 1, left > 1000 ? 1000 : (int)left) < 0 && errno != EINTR)
				fd = -1;
		} else {
			struct timespec pause = { 0, 100 * 1000000 };
			nanosleep(&pause, NULL);
		}
	}
}
