/* fc_tables — the calls that would give a thread or a child a descriptor
 * table apart from the process's, and Linux native aio, each tried once:
 * prints "NAME: ok" or "NAME: ERRNO-NAME".
 *   unshare(CLONE_FILES), syscall(SYS_unshare, CLONE_FILES),
 *   close_range(CLOSE_RANGE_UNSHARE) on an fd above every open one,
 *   clone(CLONE_FILES) without CLONE_VM (the child _exits at once),
 *   syscall(SYS_io_setup) (destroyed again when it worked),
 *   unshare(CLONE_FS) (always allowed: a control).
 * Run under the shim with a policy with TLS rules (all but the control
 * refused) and with one without (all ok).
 *
 *   fc_tables listener PORT [mptcp|bound]: a listening socket on
 *   127.0.0.1:PORT (an accept rule names it; MPTCP, protocol 262, with
 *   "mptcp"; with "bound", a TCP socket only bound there, never listening:
 *   the program it goes to may listen()), on fd 3 without FD_CLOEXEC; then
 *     posix_spawn of /bin/sh, dup2-ing it to the child, environment clean:
 *       prints "spawn-dup2: ok" or "spawn-dup2: ERRNO-NAME"; the same with
 *       a memcpy() of the file actions object ("spawn-copied-actions"),
 *       and of one over an object with as many actions
 *       ("spawn-copied-same-count"); after a posix_spawn without file
 *       actions: "after-spawn: inheritable|close-on-exec";
 *     fork + execve of /bin/sh with the clean environment, and with this
 *       one (the shim named): each prints "clean: inherited|withheld" and
 *       "kept: ..." from whether the shell has fd 3. */
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fc_common.h"

static void say(const char *name, long r)
{
	printf("%s: %s\n", name, r < 0 ? fc_err(errno) : "ok");
}

/* Ends without a noreturn call: AddressSanitizer's __asan_handle_no_return
 * would not know this stack. */
static int child(void *arg)
{
	(void)arg;
	syscall(SYS_exit, 0);
	return 0;
}

static char stack[1 << 16] __attribute__((aligned(16)));

extern char **environ;

static int listener(int port, int proto, bool bound)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	char *clean[] = { "PATH=/usr/bin:/bin", NULL };
	char *look[] = { "sh", "-c", "if [ -e /proc/self/fd/3 ]; then echo inherited; else echo withheld; fi",
			 NULL };
	posix_spawn_file_actions_t fa;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, proto), one = 1, r, st;
	pid_t pid;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || (!bound && listen(ls, 4) < 0) ||
	    (ls != 3 && dup2(ls, 3) != 3) || fcntl(3, F_SETFD, 0) < 0) {
		printf("listen: %s\n", fc_err(errno));
		return 1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, 3, 4);
	r = posix_spawn(&pid, "/bin/sh", &fa, NULL, look, clean);
	posix_spawn_file_actions_destroy(&fa);
	errno = r;
	say("spawn-dup2", r ? -1 : 0);
	if (!r)
		waitpid(pid, NULL, 0);
	/* A copy of the object: its actions are not the ones the library
	 * counted for it (none), so it may pass the listener on. */
	{
		posix_spawn_file_actions_t fa1, fa2;

		posix_spawn_file_actions_init(&fa1);
		posix_spawn_file_actions_adddup2(&fa1, 3, 4);
		memcpy(&fa2, &fa1, sizeof fa1);
		r = posix_spawn(&pid, "/bin/sh", &fa2, NULL, look, clean);
		errno = r;
		say("spawn-copied-actions", r ? -1 : 0);
		if (!r)
			waitpid(pid, NULL, 0);
		posix_spawn_file_actions_destroy(&fa1);
		/* A copy over an object with as many actions of its own. */
		posix_spawn_file_actions_init(&fa1);
		posix_spawn_file_actions_init(&fa2);
		posix_spawn_file_actions_adddup2(&fa1, 3, 4);
		posix_spawn_file_actions_addclose(&fa2, 99);
		memcpy(&fa2, &fa1, sizeof fa1);
		r = posix_spawn(&pid, "/bin/sh", &fa2, NULL, look, clean);
		errno = r;
		say("spawn-copied-same-count", r ? -1 : 0);
		if (!r)
			waitpid(pid, NULL, 0);
		posix_spawn_file_actions_destroy(&fa1);
	}
	/* A spawn without file actions withholds the listener for its child
	 * only: inheritable here again once it returned. */
	r = posix_spawn(&pid, "/bin/true", NULL, NULL, look, clean);
	if (!r)
		waitpid(pid, NULL, 0);
	printf("after-spawn: %s\n", fcntl(3, F_GETFD) & FD_CLOEXEC ? "close-on-exec" : "inheritable");
	for (int k = 0; k < 2; k++) {
		char **env = k ? environ : clean;
		printf("%s: ", k ? "kept" : "clean");
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			execve("/bin/sh", look, env);
			_exit(127);
		}
		waitpid(pid, &st, 0);
		/* The first exec made fd 3 close-on-exec for good: the second
		 * looks at it as it is now, so put it back first. */
		fcntl(3, F_SETFD, 0);
	}
	return 0;
}

int main(int argc, char **argv)
{
	aio_context_t ctx = 0;
	long r;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "listener"))
		return listener(atoi(argv[2]), argc == 4 && !strcmp(argv[3], "mptcp") ? 262 : 0,
				argc == 4 && !strcmp(argv[3], "bound"));
	say("unshare-files", unshare(CLONE_FILES));
	say("syscall-unshare-files", syscall(SYS_unshare, CLONE_FILES));
	say("close_range-unshare", close_range(900, 1000, CLOSE_RANGE_UNSHARE));
	pid = clone(child, stack + sizeof stack, CLONE_FILES | SIGCHLD, NULL);
	say("clone-files", pid);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	r = syscall(SYS_io_setup, 8, &ctx);
	say("io_setup", r);
	if (r == 0)
		syscall(SYS_io_destroy, ctx);
	say("unshare-fs", unshare(CLONE_FS));
	return 0;
}
