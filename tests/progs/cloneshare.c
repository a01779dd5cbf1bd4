/* tests/progs/cloneshare.c HOST PORT MODE — a second process gets this
 * process's connection, in use, and writes on it before it would exec.
 *
 * Connects to HOST:PORT (an echo peer) and exchanges "one".  Then a child
 * is made, which writes "child\n" on the connection's number and ends
 * with _exit(0); this process waits for it, then writes "two\n", reads
 * until it has seen "two" come back, and closes.  MODE says how:
 *   vfork        vfork()
 *   sysclone     syscall(SYS_clone, SIGCHLD, 0, ...)
 *   vforkcopy    syscall(SYS_clone, CLONE_VFORK | SIGCHLD, 0, ...): a vfork
 *                that copies the memory
 *   c3pidfd      syscall(SYS_clone3) with CLONE_PIDFD
 *   c3clear      syscall(SYS_clone3) with CLONE_CLEAR_SIGHAND
 *   c3vfork      syscall(SYS_clone3) with CLONE_VFORK, no CLONE_VM
 *   c3settid     syscall(SYS_clone3) with set_tid (the id after the
 *                kernel's last one; "child: made no child ERRNO" when the
 *                kernel refuses, e.g. without CAP_SYS_ADMIN)
 *   c3cgroup     syscall(SYS_clone3) with CLONE_INTO_CGROUP (this process's
 *                own cgroup; the same when refused)
 * Prints "child: made" (or "child: made no child ERRNO", then goes on) and
 * "second: ok" or "second: failed ERRNO".  The peer must have received
 * "one\nchild\ntwo\n", decrypted without error.  Knows nothing about TLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

static int fd;

static void child_writes(void)
{
	(void)!write(fd, "child\n", 6);
	_exit(0);
}

static long c3(uint64_t flags, pid_t *tid, int cgroup)
{
	struct clone_args a = { .flags = flags, .exit_signal = SIGCHLD };
	int pidfd = -1;

	if (flags & CLONE_PIDFD)
		a.pidfd = (uint64_t)(uintptr_t)&pidfd;
	if (tid) {
		a.set_tid = (uint64_t)(uintptr_t)tid;
		a.set_tid_size = 1;
	}
	if (cgroup >= 0)
		a.cgroup = (uint64_t)cgroup;
	return syscall(SYS_clone3, &a, sizeof a);
}

static long next_pid(void)
{
	FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "r");
	long last = -1;

	if (f) {
		if (fscanf(f, "%ld", &last) != 1)
			last = -1;
		fclose(f);
	}
	return last < 0 ? -1 : last + 100;
}

static int own_cgroup(void)
{
	char line[512], path[600];
	FILE *f = fopen("/proc/self/cgroup", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = 0;
			snprintf(path, sizeof path, "/sys/fs/cgroup%s", line + 3);
			fclose(f);
			return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		}
	fclose(f);
	return -1;
}

/* "two" written, read until it came back (the echo of "child" comes
 * first; bounded by the buffer). */
static int second(void)
{
	char buf[256];
	size_t got = 0;

	if (write_all(fd, "two\n", 4) < 0) {
		printf("second: failed %d\n", errno);
		return 0;
	}
	while (got < sizeof buf - 1) {
		ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);

		if (r <= 0) {
			printf("second: failed %d\n", r < 0 ? errno : 0);
			return 0;
		}
		got += (size_t)r;
		buf[got] = 0;
		if (strstr(buf, "two\n"))
			break;
	}
	printf("second: %s\n", strstr(buf, "two\n") ? "ok" : "no two");
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *m = argc == 4 ? argv[3] : "";
	long pid;
	int st;

	if (argc != 4)
		return 64;
	if ((fd = dial_host("cloneshare", argv[1], argv[2], AF_UNSPEC, SOCK_STREAM)) < 0)
		return 2;
	if (exchange_line(fd, stdout, "one\n", "first") < 0)
		return 3;
	if (strcmp(m, "vfork") == 0)
		pid = vfork();
	else if (strcmp(m, "sysclone") == 0)
		pid = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
	else if (strcmp(m, "vforkcopy") == 0)
		pid = syscall(SYS_clone, (long)(CLONE_VFORK | SIGCHLD), 0L, 0L, 0L, 0L);
	else if (strcmp(m, "c3pidfd") == 0)
		pid = c3(CLONE_PIDFD, NULL, -1);
	else if (strcmp(m, "c3clear") == 0)
		pid = c3(CLONE_CLEAR_SIGHAND, NULL, -1);
	else if (strcmp(m, "c3vfork") == 0)
		pid = c3(CLONE_VFORK, NULL, -1);
	else if (strcmp(m, "c3settid") == 0) {
		pid_t want = (pid_t)next_pid();

		pid = want > 0 ? c3(0, &want, -1) : (errno = ENOENT, -1);
	} else if (strcmp(m, "c3cgroup") == 0) {
		int cg = own_cgroup();

		pid = cg >= 0 ? c3(CLONE_INTO_CGROUP, NULL, cg) : (errno = ENOENT, -1);
	} else
		return 64;
	if (pid == 0)
		child_writes();
	if (pid < 0) {
		printf("child: made no child %d\n", errno);
		(void)!write(fd, "child\n", 6);   /* (the line the peer expects) */
	} else {
		while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR)
			;
		printf("child: made\n");
	}
	fflush(stdout);
	return second();
}
