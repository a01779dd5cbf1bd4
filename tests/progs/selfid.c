/* selfid — whose process id does the library take for this process's own,
 * after forks it cannot see and children that share memory?  (The id
 * decides which process may use a TLS session, and prefixes log lines:
 * core/self.c.)
 *
 *   selfid PORT N
 * PORT is one a policy rule denies: every connect() to 127.0.0.1:PORT is
 * refused with one log line, prefixed with the id the library holds for
 * the caller.  Three processes connect:
 *   P  made by an inline fork system call (no C library wrapper, no atfork
 *      handler: the library's page for its id reads 0 there).  Before P
 *      itself asks anything, P makes
 *   G  with CLONE_VM|CLONE_VFORK (an inline clone system call on x86-64,
 *      the C library's clone() elsewhere): G shares P's memory, connects
 *      once and exits; then
 *   H  the same through the C library's clone() (the library's wrapper).
 *      Then P connects N times.
 *   C  made by the C library's clone() without CLONE_VM; connects N times.
 *   M  this process, last: connects once.
 * Prints "P pid", "G pid", "H pid", "C pid", "M pid", and for P and C
 * "getpid X calls N":
 * how many times the library called getpid() for those N connects (this
 * program's getpid, which counts; exported with -rdynamic, it is the one
 * the library's calls bind to).
 * Knows nothing about TLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "raw_fork.h"

static volatile long getpid_calls;

pid_t getpid(void)
{
	getpid_calls++;
	return (pid_t)syscall(SYS_getpid);
}

static pid_t own_pid(void)
{
	return (pid_t)syscall(SYS_getpid);
}

static int port, n;

static void say(const char *who, long a, long b)
{
	char buf[64];
	int len = b < 0 ? snprintf(buf, sizeof buf, "%s %ld\n", who, a)
			: snprintf(buf, sizeof buf, "getpid %s %ld %ld\n", who, a, b);

	if (write(1, buf, (size_t)len) != len)
		_exit(3);
}

/* One connect to the denied port: must fail with ECONNREFUSED. */
static int denied(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), r, e;

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	e = errno;
	close(fd);
	return r < 0 && e == ECONNREFUSED ? 0 : -1;
}

static void connects(const char *who)
{
	getpid_calls = 0;
	for (int i = 0; i < n; i++)
		if (denied() < 0)
			_exit(4);
	say(who, getpid_calls, n);
}

/* G and H: run on their own stack in P's memory, P suspended
 * (CLONE_VFORK).  They end with the exit system call itself: the
 * library's _exit() under AddressSanitizer would warn about the unknown
 * stack. */
static const char *g_name = "G";

__attribute__((noreturn, used)) static void g_main(void)
{
	say(g_name, own_pid(), -1);
	syscall(SYS_exit, denied() < 0 ? 5 : 0);
	__builtin_unreachable();
}

static int g_fn(void *unused)
{
	(void)unused;
	g_main();
}


/* G, made so that the shim's code runs in it first. */
static long make_g(char *stack_top)
{
#if defined(__x86_64__)
	register long flags __asm__("rdi") = CLONE_VM | CLONE_VFORK | SIGCHLD;
	register char *sp __asm__("rsi") = stack_top;
	register long z1 __asm__("rdx") = 0, z2 __asm__("r10") = 0, z3 __asm__("r8") = 0;
	long r;

	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "call g_main\n\t"
			 "hlt\n"
			 "1:"
			 : "=a"(r)
			 : "0"((long)SYS_clone), "r"(flags), "r"(sp), "r"(z1), "r"(z2), "r"(z3)
			 : "rcx", "r11", "memory");
	return r;
#else
	int r = clone(g_fn, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
	return r < 0 ? -errno : r;
#endif
}

static int reap(long pid)
{
	int st;

	while (waitpid((pid_t)pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int c_fn(void *unused)
{
	(void)unused;
	say("C", own_pid(), -1);
	connects("C");
	return 0;
}

int main(int argc, char **argv)
{
	static char stack[1 << 16] __attribute__((aligned(16)));
	static char stack_h[1 << 16] __attribute__((aligned(16)));
	long pid;
	int rc;

	if (argc != 3 || (port = atoi(argv[1])) <= 0 || (n = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: selfid PORT N\n");
		return 2;
	}
	pid = raw_fork();
	if (pid < 0) {
		fprintf(stderr, "selfid: fork: %s\n", strerror((int)-pid));
		return 1;
	}
	if (pid == 0) {
		long g = make_g(stack + sizeof stack);

		if (g < 0 || reap(g) != 0)
			_exit(6);
		g_name = "H";
		/* A stack of its own: G left AddressSanitizer's marks on its
		 * (it ends with the exit system call, its frames never return). */
		g = clone(g_fn, stack_h + sizeof stack_h, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
		if (g < 0 || reap(g) != 0)
			_exit(7);
		say("P", own_pid(), -1);
		connects("P");
		_exit(0);
	}
	if ((rc = reap(pid)) != 0) {
		fprintf(stderr, "selfid: P exited %d\n", rc);
		return 1;
	}
	pid = clone(c_fn, stack + sizeof stack, SIGCHLD, NULL);
	if ((rc = reap(pid)) != 0) {
		fprintf(stderr, "selfid: C: %s, exit %d\n", pid < 0 ? strerror(errno) : "made", rc);
		return 1;
	}
	/* This process too: one connect. */
	say("M", own_pid(), -1);
	if (denied() < 0)
		return 1;
	/* glibc's probe for clone3: no arguments, EINVAL; and arguments at a
	 * bad address, EFAULT (the library must not read them first). */
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != EINVAL) {
		fprintf(stderr, "selfid: clone3(NULL, 0) did not fail with EINVAL\n");
		return 1;
	}
	if (syscall(SYS_clone3, (void *)16, 88) != -1 || errno != EFAULT) {
		fprintf(stderr, "selfid: clone3(a bad address, 88) did not fail with EFAULT\n");
		return 1;
	}
	/* ... and arguments whose flags run into an unmapped page. */
	{
		long pg = sysconf(_SC_PAGESIZE);
		char *two = mmap(NULL, (size_t)(2 * pg), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				 -1, 0);

		if (two == MAP_FAILED || munmap(two + pg, (size_t)pg) != 0) {
			perror("selfid: mmap");
			return 1;
		}
		if (syscall(SYS_clone3, two + pg - 4, 88) != -1 || errno != EFAULT) {
			fprintf(stderr, "selfid: clone3(flags across a page end, 88) did not fail with EFAULT\n");
			return 1;
		}
	}
	return 0;
}
