/* tests/progs/vmchild_dgram.c IP PORT [clone|vfork|listen] — a child that
 * shares this process's memory but not its descriptor table
 * (clone(CLONE_VM) without CLONE_FILES, through the C library's clone();
 * "vfork": with CLONE_VFORK) teaches the library a number's kind that is
 * true in the child's table only:
 *   this process makes a TCP socket (one the fault injector makes say
 *   SCTP: tests/preload/faults_foreign.sh) at number n;
 *   the child, against the rule that it only execs or exits, dup2()s a
 *   UDP socket onto n in its own table and sends a datagram from n to
 *   IP:PORT (a datagram socket: let through), then exits;
 *   this process, its own n still the "SCTP" socket, sends a line to
 *   IP:PORT from n with sendto().
 * Prints "sent", or "refused ERRNO" when that sendto() fails.
 * "listen": this process makes socket(AF_INET, SOCK_SEQPACKET, 132) (the
 * injector's ",socket" fakes it) at n; the child closes n in its own
 * table and makes a TCP socket there with socket(); this process binds
 * its n to IP:PORT and listens: prints "listening" or "refused ERRNO".
 * Knows nothing about TLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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

static struct sockaddr_in to;
static int n;

/* The child ends with the exit system call: the library's _exit() under
 * AddressSanitizer would warn about the unknown stack (selfid.c). */
static int child_exit(int code)
{
	return (int)syscall(SYS_exit, code);
}

static int child_tcp(void *arg)
{
	(void)arg;
	if (close(n) < 0 || socket(AF_INET, SOCK_STREAM, 0) != n)
		return child_exit(2);
	return child_exit(0);
}

static int child(void *arg)
{
	int u = socket(AF_INET, SOCK_DGRAM, 0);

	(void)arg;
	if (u < 0 || dup2(u, n) != n)
		return child_exit(2);
	for (int i = 0; i < 3; i++)
		if (sendto(n, "datagram\n", 9, 0, (struct sockaddr *)&to, sizeof to) != 9)
			return child_exit(3);
	return child_exit(0);
}

int main(int argc, char **argv)
{
	static char stack[256 * 1024] __attribute__((aligned(16)));
	const char line[] = "foreign-secret-vmchild\n";
	int flags = CLONE_VM | SIGCHLD, st;
	bool lst = argc > 3 && strcmp(argv[3], "listen") == 0;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: vmchild_dgram IP PORT [clone|vfork|listen]\n");
		return 2;
	}
	if (argc > 3 && strcmp(argv[3], "vfork") == 0)
		flags |= CLONE_VFORK;
	to.sin_family = AF_INET;
	to.sin_port = htons((unsigned short)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1)
		return 2;
	if ((n = lst ? socket(AF_INET, SOCK_SEQPACKET, 132) : socket(AF_INET, SOCK_STREAM, 0)) < 0) {
		perror("socket");
		return 1;
	}
	if ((pid = clone(lst ? child_tcp : child, stack + sizeof stack, flags, NULL)) < 0) {
		perror("clone");
		return 1;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("waitpid");
			return 1;
		}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "child failed: status %#x\n", st);
		return 1;
	}
	if (lst) {
		if (bind(n, (struct sockaddr *)&to, sizeof to) < 0 || listen(n, 5) < 0)
			printf("refused %d\n", errno);
		else
			printf("listening\n");
		return 0;
	}
	if (sendto(n, line, sizeof line - 1, 0, (struct sockaddr *)&to, sizeof to) < 0)
		printf("refused %d\n", errno);
	else
		printf("sent\n");
	return 0;
}
