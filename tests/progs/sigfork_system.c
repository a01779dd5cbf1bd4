/* sigfork_system — a signal handler's fork() inside this thread's
 * system() (tests/preload/sigfork_system.sh, h224).  The shell system()
 * runs sends SIGUSR1 to the program while system() waits for it; the
 * handler forks.  In the child the interrupted system() goes on (its wait
 * finds no child) and ends; the library's count of calls under way must
 * come back to zero there, so that the arrays of later calls are freed.
 * Before h224 the child's count was zeroed at the fork and the resumed
 * call took it to -1: no array freed again, about 40 KiB kept per call.
 * The child makes one system() call, reads the bytes allocated, makes
 * ROUNDS more, reads again, and prints "child grew KIB" (KiB, rounded
 * down) and "child calls ok"; the parent prints "parent status 0" and
 * "child exit 0".  Bytes allocated: the sanitizer's count when one is
 * loaded (ASan), else mallinfo2()'s in-use bytes. */
#include <dlfcn.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 16

static volatile sig_atomic_t forked_pid = -1;

static void on_usr1(int sig)
{
	(void)sig;
	if (forked_pid == -1)
		forked_pid = fork();
}

static size_t allocated(void)
{
	size_t (*san)(void) = (size_t (*)(void))dlsym(RTLD_DEFAULT,
		"__sanitizer_get_current_allocated_bytes");

	if (san)
		return san();
	return mallinfo2().uordblks;
}

int main(void)
{
	struct sigaction sa;
	int r, ok = 1, st;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	r = system("kill -USR1 $PPID");
	if (forked_pid == 0) {
		size_t before, after;

		if (system("true") != 0)
			ok = 0;
		before = allocated();
		for (int i = 0; i < ROUNDS; i++)
			if (system("true") != 0)
				ok = 0;
		after = allocated();
		printf("child grew %zu\n", after > before ? (after - before) / 1024 : 0);
		printf("child calls %s\n", ok ? "ok" : "failed");
		fflush(stdout);
		_exit(0);
	}
	printf("parent status %d\n", r);
	if (forked_pid < 0) {
		printf("no fork\n");
		return 1;
	}
	if (waitpid(forked_pid, &st, 0) != forked_pid)
		return 2;
	printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
