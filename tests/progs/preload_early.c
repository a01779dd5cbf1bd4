/* preload_early.so — a library whose constructor runs before the shim's
 * and makes a child with CLONE_VM|CLONE_VFORK (sharing the process's
 * memory) that is the first to call into the shim: the shim initialises
 * in that child.  The shim must not keep the child's process id as the
 * process's own (core/self.c: the page for the id is made by the shim's
 * constructor only).
 *
 *   LD_PRELOAD="libtlsshim.so preload_early.so" PRELOAD_EARLY_PORT=N prog
 * The child prints "E <pid>" and connects once to 127.0.0.1:N (a port the
 * test's policy denies: one log line under the child's id).  Listed after
 * the shim, its constructor runs first (the C library initialises the
 * preloaded libraries last to first).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char stack[1 << 17] __attribute__((aligned(16)));
static int port;

static int child(void *arg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	char buf[32];
	int n = snprintf(buf, sizeof buf, "E %ld\n", (long)syscall(SYS_getpid)), fd;

	(void)arg;
	(void)!write(1, buf, (size_t)n);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	(void)connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	return 0;
}

__attribute__((constructor)) static void early(void)
{
	const char *p = getenv("PRELOAD_EARLY_PORT");
	pid_t c;

	if (!p || (port = atoi(p)) <= 0)
		return;
	c = clone(child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
	if (c > 0)
		waitpid(c, NULL, 0);
}
