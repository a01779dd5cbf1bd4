/* tests/progs/vmrw.c HOST PORT MODE — a child that shares this process's
 * memory writes on and reads from this process's connection, closes it
 * and execs, while this process does the same.
 *
 * Connects to HOST:PORT (an echo peer) and exchanges "one" (a blocking
 * connect: the connection is in use), or with MODE ending in "-fresh"
 * only starts a non-blocking connect on a close-on-exec socket (nothing
 * sent yet).  Then a child is made, which writes "child\n" on the
 * connection's number, reads until the two lines below have come back
 * (counted in the memory both share), closes the number and execs
 * /bin/true (the exit system call when the exec fails).  MODE says how:
 *   vm           clone(CLONE_VM | SIGCHLD), a stack of its own: the child
 *                runs beside this process, which writes "parent\n" at
 *                once and reads its share of the echo;
 *   vmfiles      clone(CLONE_VM | CLONE_FILES | SIGCHLD): the same, the
 *                descriptor table shared too (this process goes on with
 *                a dup() of the number it made before the clone);
 *   vmvfork      clone(CLONE_VM | CLONE_VFORK | SIGCHLD): this process
 *                waits until the child has exec'd, then writes "parent";
 *   sysvfork     syscall(SYS_clone, CLONE_VM | CLONE_VFORK | SIGCHLD, 0):
 *                no stack of its own, as vfork() is built; the child
 *                runs on this process's stack until it execs;
 *   c3vfork      syscall(SYS_clone3) with CLONE_VM | CLONE_VFORK, no stack
 *                (the same through clone3);
 *   c3bigvfork   c3vfork with a struct clone_args of 256 bytes (its tail
 *                zero, which the kernel takes: up to a page);
 *   c3race       syscall(SYS_clone3) of a plain copy (no flags), whose
 *                flags another thread changes to CLONE_VM | CLONE_VFORK
 *                after the library's look (TLSSHIM_TEST_CLONE3_AT names
 *                the struct for tests/progs/preload_clone3race.so): the
 *                kernel must make the copy the library judged;
 *   sysvforkfiles, c3vforkfiles  sysvfork and c3vfork with CLONE_FILES
 *                (this process goes on with a dup() of the number, as in
 *                vmfiles).
 * Then this process (once the child has ended: waitpid) writes "two\n",
 * reads until "two" has come back, and closes.
 * Prints "child: made" (or "child: refused ERRNO", then goes on alone),
 * "parent: ok" or "parent: failed ERRNO", and "second: ok" or
 * "second: failed ERRNO" (0: the connection ended).  The peer must have
 * received the lines "one", "child", "parent", "two" (the first three in
 * any order), decrypted without error.  Knows nothing about TLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fc_common.h"

#define ECHO_LEN (sizeof "child\n" - 1 + sizeof "parent\n" - 1)

static int n;                   /* the connection's number, the child's */
static _Atomic long echoed;     /* bytes of the two lines read back, by both */
static bool vfork_like;         /* the parent writes only once the child has gone */
/* The child's id: not in main()'s frame, which a child on this stack
 * (sysvfork, c3vfork, c3bigvfork) would write its 0 over. */
static volatile long pid;

/* Read the echo of both lines until both tasks together have it all
 * (bounded: 10 s); 0, or an errno (EPIPE: the connection ended). */
static int read_share(int fd)
{
	struct timespec t0, t;
	char buf[64];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (echoed < (long)ECHO_LEN) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10)
			return ETIMEDOUT;
		if (poll(&p, 1, 50) <= 0)
			continue;
		r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			return r < 0 ? errno : EPIPE;
		echoed += r;
	}
	return 0;
}

static int child_exit(int code)
{
	return (int)syscall(SYS_exit, code);
}

/* The child: its line, its share of the echo, close, exec. */
static int child(void *arg)
{
	char *const argv[] = { (char *)"true", NULL };

	(void)arg;
	if (write_all_wait(n, "child\n", 6) < 0)
		return child_exit(2);
	if (!vfork_like && read_share(n) != 0)
		return child_exit(3);
	if (close(n) < 0)
		return child_exit(4);
	execv("/bin/true", argv);
	return child_exit(5);
}

static bool race;               /* c3race */

static long c3(uint64_t flags, bool big)
{
	union {
		struct clone_args a;
		char bytes[256];
	} u;

	char at[32];
	long r;

	memset(&u, 0, sizeof u);
	u.a.flags = flags;
	u.a.exit_signal = SIGCHLD;
	snprintf(at, sizeof at, "%p", (void *)&u.a);
	if (race && setenv("TLSSHIM_TEST_CLONE3_AT", at, 1) < 0)
		return -1;
	r = syscall(SYS_clone3, &u, big ? sizeof u : sizeof u.a);
	if (race && r != 0)
		unsetenv("TLSSHIM_TEST_CLONE3_AT");
	return r;
}

/* Until "two" has come back (after whatever came before it): 0, or an
 * errno (ETIMEDOUT, EPIPE: the end first). */
static int read_two(int fd)
{
	char buf[512];
	ssize_t r = fc_read_until(fd, buf, sizeof buf, "two\n", 10000);

	return r >= 0 ? 0 : r == -1 ? errno : r == -2 ? ETIMEDOUT : EPIPE;
}

int main(int argc, char **argv)
{
	static char stack[256 * 1024] __attribute__((aligned(16)));
	const char *mode = argc > 3 ? argv[3] : "";
	size_t ml = strlen(mode);
	bool fresh = ml > 6 && strcmp(mode + ml - 6, "-fresh") == 0;
	int flags = 0, mine, e, st;
	long files;

	if (argc != 4)
		return 64;
	if (fresh) {
		struct sockaddr_in a = loopback4(atoi(argv[2]));

		n = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (n < 0 || (connect(n, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)) {
			perror("vmrw: connect");
			return 2;
		}
	} else {
		if ((n = dial_host("vmrw", argv[1], argv[2], AF_UNSPEC, SOCK_STREAM)) < 0)
			return 2;
		if (exchange_line(n, stdout, "one\n", "first") < 0)
			return 2;
	}
	mine = n;
	fflush(stdout);
	files = strstr(mode, "vforkfiles") ? CLONE_FILES : 0;
	if (strncmp(mode, "vmfiles", 7) == 0 || files) {
		flags = mode[0] == 'v' ? CLONE_VM | CLONE_FILES | SIGCHLD : 0;
		if ((mine = dup(n)) < 0)
			return 4;
	} else if (strncmp(mode, "vmvfork", 7) == 0) {
		flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
	} else if (strncmp(mode, "vm", 2) == 0) {
		flags = CLONE_VM | SIGCHLD;
	} else if (strncmp(mode, "sysvfork", 8) != 0 && strncmp(mode, "c3vfork", 7) != 0 &&
		   strncmp(mode, "c3bigvfork", 10) != 0 && !(race = strncmp(mode, "c3race", 6) == 0)) {
		return 64;
	}
	vfork_like = (flags & CLONE_VFORK) || !flags;
	if (flags) {
		pid = clone(child, stack + sizeof stack, flags, NULL);
	} else {
		if (mode[0] == 's')
			pid = syscall(SYS_clone, CLONE_VM | CLONE_VFORK | files | SIGCHLD, 0, 0, 0, 0);
		else
			pid = c3(race ? 0 : CLONE_VM | CLONE_VFORK | (uint64_t)files, mode[2] == 'b');
		if (pid == 0)
			child(NULL);
	}
	if (pid < 0) {
		printf("child: refused %d\n", errno);
		vfork_like = true;
	} else {
		printf("child: made\n");
	}
	fflush(stdout);
	if (fresh || vfork_like) {
		/* the connect completes (bounded: 10 s) before the blocking write */
		struct pollfd p = { .fd = mine, .events = POLLOUT };

		if (poll(&p, 1, 10000) != 1)
			printf("poll: %s\n", strerror(errno));
	}
	if (write_all_wait(mine, "parent\n", 7) < 0)
		printf("parent: failed %d\n", errno);
	else if (pid < 0 && write_all_wait(mine, "child\n", 6) < 0)  /* the child's line */
		printf("parent: failed %d\n", errno);
	else if ((e = read_share(mine)) != 0)
		printf("parent: failed %d\n", e);
	else
		printf("parent: ok\n");
	fflush(stdout);
	if (pid > 0)
		while (waitpid((pid_t)pid, &st, __WALL) < 0)
			if (errno != EINTR) {
				perror("vmrw: waitpid");
				return 4;
			}
	if (pid > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		printf("child: status %#x\n", st);
	if (write_all_wait(mine, "two\n", 4) < 0)
		printf("second: failed %d\n", errno);
	else if ((e = read_two(mine)) != 0)
		printf("second: failed %d\n", e);
	else
		printf("second: ok\n");
	fflush(stdout);
	close(mine);
	return 0;
}
