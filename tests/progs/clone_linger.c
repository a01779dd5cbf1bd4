/* clone_linger — a copy of the process made with a raw clone right after
 * the first TLS connection (vsftpd: accept(), then
 * syscall(SYS_clone, CLONE_NEWIPC | SIGCHLD) for the session process).
 *
 *   clone_linger PORT syscall|clone
 * Listens on PORT, connects to itself and accepts: under an accept rule
 * the accepted fd is a TLS connection (handshake not started), and the
 * library's linger thread starts.  Then (once the thread holds its lock,
 * under tests/progs/preload_lingerhold.so) clones: syscall(SYS_clone,
 * SIGCHLD) or clone(fn, stack, SIGCHLD).  The child connects and accepts
 * once more (a new TLS connection, which takes the linger thread's lock:
 * vsftpd's passive data connection) and exits.  A child that has not
 * exited within 10 s (x TLSSHIM_TIME_SCALE) is reported as hung and
 * killed.  Prints "child accepted and exited" or "child hung".
 * Knows nothing about TLS.
 */
#include <dlfcn.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static struct sockaddr_in addr;
static int ls;

/* Connect to ourselves and accept: 0, or 1. */
static int self_conn(void)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);

	return c < 0 || connect(c, (struct sockaddr *)&addr, sizeof addr) < 0 ||
	       accept(ls, NULL, NULL) < 0;
}

/* The child's end: every thread (the library's linger thread runs in it
 * too), by the exit_group system call itself on x86-64: on clone()'s
 * stack of ours, the library's _exit() under AddressSanitizer would warn
 * about the stack it cannot place. */
static int child(void *arg)
{
	int st = self_conn();

	(void)arg;
#if defined(__x86_64__)
	__asm__ volatile("syscall" : : "a"((long)SYS_exit_group), "D"((long)st) : "rcx", "r11", "memory");
#endif
	_exit(st);
}

int main(int argc, char **argv)
{
	static char stack[256 * 1024] __attribute__((aligned(16)));
	const char *ts = getenv("TLSSHIM_TIME_SCALE");
	long limit = 10000 * (ts && atol(ts) > 0 ? atol(ts) : 1), waited = 0;
	int st;
	pid_t pid;

	if (argc != 3)
		return 64;
	addr = loopback4(atoi(argv[1]));
	if ((ls = tcp_listen(&addr, 0, 4)) < 0 || self_conn())
		return 1;
	{
		void (*held)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "lingerhold_wait");

		if (held)
			held();
	}
	if (!strcmp(argv[2], "syscall")) {
		pid = (pid_t)syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
		if (pid == 0)
			child(NULL);
	} else {
		pid = clone(child, stack + sizeof stack, SIGCHLD, NULL);
	}
	if (pid < 0) {
		perror("clone");
		return 1;
	}
	while (waitpid(pid, &st, WNOHANG) == 0) {
		struct timespec t = { 0, 1000000 };

		nanosleep(&t, NULL);
		if (++waited > limit) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			printf("child hung\n");
			return 1;
		}
	}
	printf(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "child accepted and exited\n" : "child failed\n");
	return 0;
}
