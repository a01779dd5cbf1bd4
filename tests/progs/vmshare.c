/* tests/progs/vmshare.c HOST PORT MODE [LINE] — a second task that shares this
 * process's memory but not its descriptor table changes what a number
 * names in its own table, and this process then writes on the number.
 *
 * Connects to HOST:PORT and exchanges "one" (a blocking connect: the
 * connection is in use), or with MODE ending in "-fresh" only starts a
 * non-blocking connect on a close-on-exec socket (nothing sent yet).
 * Then a task is made with the C library's clone() and a stack of its
 * own, and this thread waits for it (CLONE_VFORK, or waitpid):
 *   thread    CLONE_VM | CLONE_FS | CLONE_SIGHAND | CLONE_THREAD |
 *             CLONE_SYSVSEM | CLONE_VFORK, without CLONE_FILES: a thread
 *             with a descriptor table of its own (as unshare(CLONE_FILES)
 *             in a thread would give it);
 *   vm        CLONE_VM | SIGCHLD, without CLONE_FILES (a child that shares
 *             the memory, waited for with waitpid);
 *   vfork     CLONE_VM | CLONE_VFORK | SIGCHLD (how spawn code is built).
 * The task, in its own table, puts /dev/null on the connection's number
 * (dup2; with "close-" before the mode: close() then open(), which gives
 * the number again), and ends with the exit system call.  With "later-"
 * before the mode (after "close-"), the connection is made after the
 * clone, and the task waits for it (a pipe) before it dup2()s, or (with
 * "close-") opens /dev/null, which its table gives the number of the
 * connection it lacks.  This process,
 * whose number still names the connection, then writes LINE (argument
 * 4, "secret-vmshare" by default) and a newline on it and reads the
 * answer (an echo peer).
 * Prints "clone: refused ERRNO" when clone() fails (then goes on without
 * the task), "task: done" when it ran, and "second: ANSWER" or
 * "second: failed ERRNO" (0: the connection ended).  Knows nothing about TLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static int n;
static bool by_close, later;
static int go[2];
static const char *secret = "secret-vmshare";

/* The exit system call: the library's _exit() under AddressSanitizer
 * would warn about the unknown stack (selfid.c). */
static int task_exit(int code)
{
	return (int)syscall(SYS_exit, code);
}

static int task(void *arg)
{
	int z;

	(void)arg;
	/* "later": the connection is made after the clone; this task's
	 * table lacks it, and open() gives the number again as it is */
	if (later && read(go[0], &(char){ 0 }, 1) != 1)
		return task_exit(4);
	if (by_close && later) {
		if (open("/dev/null", O_WRONLY) != n)
			return task_exit(2);
	} else if (by_close) {
		if (close(n) < 0 || (z = open("/dev/null", O_WRONLY)) != n)
			return task_exit(2);
	} else if ((z = open("/dev/null", O_WRONLY)) < 0 || dup2(z, n) != n) {
		return task_exit(3);
	}
	return task_exit(0);
}

/* The connection on n: in use (one line exchanged), or, fresh, a
 * non-blocking connect on a close-on-exec socket.  0, or -1. */
static int dial(const char *host, const char *port, bool fresh)
{
	if (fresh) {
		struct sockaddr_in a = loopback4(atoi(port));

		n = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (n < 0 || (connect(n, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)) {
			perror("vmshare: connect");
			return -1;
		}
	} else {
		if ((n = dial_host("vmshare", host, port, AF_UNSPEC, SOCK_STREAM)) < 0)
			return -1;
		if (exchange_line(n, stdout, "one\n", "first") < 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char stack[256 * 1024] __attribute__((aligned(16)));
	const char *mode = argc > 3 ? argv[3] : "";
	size_t ml = strlen(mode);
	bool fresh = ml > 6 && strcmp(mode + ml - 6, "-fresh") == 0;
	char msg[256];
	int flags, st;
	pid_t pid;

	if (argc != 4 && argc != 5)
		return 64;
	if (argc == 5)
		secret = argv[4];
	if (strncmp(mode, "close-", 6) == 0) {
		by_close = true;
		mode += 6;
	}
	if (strncmp(mode, "later", 5) == 0) {
		later = true;
		mode += 5;
		if (*mode == '-')
			mode++;
	}
	if (strncmp(mode, "thread", 6) == 0)
		flags = CLONE_VM | CLONE_FS | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_VFORK;
	else if (strncmp(mode, "vm", 2) == 0)
		flags = CLONE_VM | SIGCHLD;
	else if (strncmp(mode, "vfork", 5) == 0)
		flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
	else
		return 64;
	if (!later && dial(argv[1], argv[2], fresh) < 0)
		return 2;
	fflush(stdout);
	if (later && pipe(go) < 0)
		return 4;
	pid = clone(task, stack + sizeof stack, flags, NULL);
	if (later && dial(argv[1], argv[2], fresh) < 0)
		return 2;
	if (later && pid > 0 && write(go[1], "g", 1) != 1)
		return 4;
	if (pid < 0) {
		printf("clone: refused %d\n", errno);
	} else {
		if (!(flags & CLONE_VFORK))
			while (waitpid(pid, &st, __WALL) < 0)
				if (errno != EINTR) {
					perror("vmshare: waitpid");
					return 4;
				}
		printf("task: done\n");
	}
	fflush(stdout);
	if (fresh) {
		struct pollfd p = { .fd = n, .events = POLLOUT };

		/* the connect completes (bounded: 10 s) */
		if (poll(&p, 1, 10000) != 1)
			printf("poll: %s\n", strerror(errno));
		(void)fcntl(n, F_SETFL, fcntl(n, F_GETFL) & ~O_NONBLOCK);
	}
	snprintf(msg, sizeof msg, "%s\n", secret);
	if (exchange_line(n, stdout, msg, "second") < 0)
		printf("second: failed %d\n", errno);
	close(n);
	return 0;
}
