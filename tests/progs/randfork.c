/* randfork — OpenSSL's random generator after fork, and getpid(), under
 * the shim (which answers libcrypto's getpid() calls from a page the
 * kernel wipes in every child: shim/getpid.c).
 *
 *   randfork
 * The parent draws 32 random bytes (its generator is seeded), then for
 * each of fork(), _Fork(), syscall(SYS_fork), the C library's clone()
 * without CLONE_VM, and the fork system call made inline (x86-64: no C
 * library, nothing the shim sees; the page is then only wiped by the
 * kernel): the child draws 32 bytes and sends them, with its getpid() and
 * the kernel's answer, to the parent, which draws 32 bytes of its own.
 * The two draws must differ (a child that did not notice the fork would
 * repeat the parent's next bytes), and every getpid() must be the
 * kernel's answer.  Last, a child made with clone(CLONE_VM), sharing the
 * parent's memory, reports its getpid(): its own id, not the parent's;
 * and one made with CLONE_VM|CLONE_VFORK draws random bytes (in the
 * generator it shares with the parent), which the parent's next draw must
 * not repeat.
 * Prints "KIND: differ, getpid ok" per case and "randfork ok"; any
 * failure is printed and the exit status is 1.
 *
 *   randfork newpid   (see newpid_p below: needs a pid namespace)
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "raw_fork.h"

struct report {
	unsigned char bytes[32];
	pid_t said, kernel;
};

static int failures;

static pid_t kernel_pid(void)
{
	return (pid_t)syscall(SYS_getpid);
}

static char stack[256 * 1024] __attribute__((aligned(16)));

/* The child's part: draw and report; returns its exit status (a clone()
 * child returns it from here: the library's _exit() under AddressSanitizer
 * would warn about the unknown stack). */
static int report(void *arg)
{
	int fd = *(int *)arg;
	struct report r = { 0 };

	if (RAND_bytes(r.bytes, sizeof r.bytes) != 1)
		return 3;
	r.said = getpid();
	r.kernel = kernel_pid();
	return write(fd, &r, sizeof r) == (ssize_t)sizeof r ? 0 : 4;
}


static void one(const char *kind, int how)
{
	int p[2];
	pid_t pid;
	struct report r = { 0 };
	unsigned char mine[32];

	if (pipe(p) < 0) {
		perror("pipe");
		exit(2);
	}
	switch (how) {
	case 0: pid = fork(); break;
	case 1: pid = _Fork(); break;
	case 2: pid = (pid_t)syscall(SYS_fork); break;
	case 3: pid = clone(report, stack + sizeof stack, SIGCHLD, &p[1]); break;
	default: {
		long rf = raw_fork();

		if (rf < 0)
			errno = (int)-rf;
		pid = rf < 0 ? -1 : (pid_t)rf;
		break;
	}
	}
	if (pid < 0) {
		perror(kind);
		exit(2);
	}
	if (pid == 0) {
		close(p[0]);
		_exit(report(&p[1]));
	}
	close(p[1]);
	if (RAND_bytes(mine, sizeof mine) != 1) {
		printf("%s: RAND_bytes failed in the parent\n", kind);
		failures++;
	}
	if (read(p[0], &r, sizeof r) != (ssize_t)sizeof r) {
		printf("%s: no report from the child\n", kind);
		failures++;
	} else if (!memcmp(r.bytes, mine, sizeof mine)) {
		printf("%s: child and parent drew the SAME bytes\n", kind);
		failures++;
	} else if (r.said != r.kernel || r.said != pid || getpid() != kernel_pid()) {
		printf("%s: getpid %d in the child (kernel %d, fork said %d), parent %d (kernel %d)\n", kind,
		       (int)r.said, (int)r.kernel, (int)pid, (int)getpid(), (int)kernel_pid());
		failures++;
	} else {
		printf("%s: differ, getpid ok\n", kind);
	}
	close(p[0]);
	waitpid(pid, NULL, 0);
}

static volatile pid_t vm_said, vm_kernel;
static unsigned char vm_bytes[32];
static volatile int vm_drew;

static int vm_child(void *arg)
{
	(void)arg;
	vm_said = getpid();
	vm_kernel = kernel_pid();
	return 0;
}

static int vfork_child(void *arg)
{
	(void)arg;
	vm_drew = RAND_bytes(vm_bytes, sizeof vm_bytes);
	return 0;
}

/* randfork newpid: a CLONE_VM child C that forks.  C shares P's memory,
 * so it reads P's id in the library's page; it is made with CLONE_NEWPID,
 * so it is 1 in a new pid namespace and its first fork child G is 2,
 * P's own id in the namespace this program makes for P (P is 2 there).
 * C draws (its OpenSSL must see C's id, not P's: it reseeds), forks G,
 * G draws, C draws again: G must not repeat C's bytes.  Once with
 * CLONE_VFORK, once without. */
static pid_t target;
static unsigned char *g_bytes;
static volatile int c_said; /* 1 differ, 2 same, 3 G had another id, 4 failed */

static int newpid_c(void *arg)
{
	unsigned char x[32], again[32];
	int st;
	pid_t g;

	(void)arg;
	if (RAND_bytes(x, sizeof x) != 1 || (g = fork()) < 0) {
		c_said = 4;
		return 0;
	}
	if (g == 0) {
		/* The exit system call itself: the library's _exit() under
		 * AddressSanitizer would warn about this stack. */
		if (getpid() != target)
			syscall(SYS_exit, 3);
		syscall(SYS_exit, RAND_bytes(g_bytes, 32) == 1 ? 0 : 4);
	}
	if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		c_said = WIFEXITED(st) && WEXITSTATUS(st) == 3 ? 3 : 4;
		return 0;
	}
	if (RAND_bytes(again, sizeof again) != 1)
		c_said = 4;
	else
		c_said = memcmp(again, g_bytes, sizeof again) ? 1 : 2;
	return 0;
}

static int newpid_p(void)
{
	static const char *said[] = { "nothing", "differ", "the SAME bytes", "G's id is not P's", "failed" };
	unsigned char seed[32];
	int bad = 0;

	target = getpid();
	g_bytes = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_bytes == MAP_FAILED || RAND_bytes(seed, sizeof seed) != 1)
		return 4;
	for (int vf = 1; vf >= 0; vf--) {
		pid_t c;

		c_said = 0;
		c = clone(newpid_c, stack + sizeof stack,
			  CLONE_VM | CLONE_NEWPID | (vf ? CLONE_VFORK : 0) | SIGCHLD, NULL);
		if (c < 0) {
			printf("clone(CLONE_VM|CLONE_NEWPID): %s\n", strerror(errno));
			return 4;
		}
		waitpid(c, NULL, 0);
		printf("clone(CLONE_VM|CLONE_NEWPID%s), its fork child with the parent's id: %s\n",
		       vf ? "|CLONE_VFORK" : "", said[c_said]);
		bad |= c_said != 1;
	}
	return bad;
}

static int newpid(void)
{
	pid_t init, p;
	int st;

	if (unshare(CLONE_NEWPID) < 0 && unshare(CLONE_NEWUSER | CLONE_NEWPID) < 0) {
		printf("newpid: no pid namespace: %s\n", strerror(errno));
		return 2;
	}
	/* 1 in the new namespace; its child P is 2. */
	init = fork();
	if (init == 0) {
		p = fork();
		if (p == 0)
			_exit(newpid_p());
		_exit(p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) ? 5 : WEXITSTATUS(st));
	}
	if (init < 0 || waitpid(init, &st, 0) != init || !WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("newpid: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		return 1;
	}
	printf("randfork ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	unsigned char seed[32], mine[32];
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "newpid"))
		return newpid();
	if (RAND_bytes(seed, sizeof seed) != 1) {
		printf("RAND_bytes failed\n");
		return 1;
	}
	one("fork", 0);
	one("_Fork", 1);
	one("syscall(SYS_fork)", 2);
	one("clone(SIGCHLD)", 3);
	one("inline fork system call", 4);
	pid = clone(vm_child, stack + sizeof stack, CLONE_VM | SIGCHLD, NULL);
	if (pid < 0) {
		perror("clone");
		return 2;
	}
	waitpid(pid, NULL, 0);
	if (vm_said != pid || vm_kernel != pid) {
		printf("clone(CLONE_VM): getpid %d in the child, kernel %d, clone said %d\n", (int)vm_said,
		       (int)vm_kernel, (int)pid);
		failures++;
	} else {
		printf("clone(CLONE_VM): getpid ok\n");
	}
	pid = clone(vfork_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
	if (pid < 0) {
		perror("clone(CLONE_VM|CLONE_VFORK)");
		return 2;
	}
	waitpid(pid, NULL, 0);
	if (vm_drew != 1 || RAND_bytes(mine, sizeof mine) != 1) {
		printf("clone(CLONE_VM|CLONE_VFORK): RAND_bytes failed\n");
		failures++;
	} else if (!memcmp(vm_bytes, mine, sizeof mine)) {
		printf("clone(CLONE_VM|CLONE_VFORK): child and parent drew the SAME bytes\n");
		failures++;
	} else {
		printf("clone(CLONE_VM|CLONE_VFORK): differ\n");
	}
	if (failures)
		return 1;
	printf("randfork ok\n");
	return 0;
}
