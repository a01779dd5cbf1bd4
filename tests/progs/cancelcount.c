/* cancelcount — how often the library changes the calling thread's
 * cancellation state on the pass-through path.
 *
 *   cancelcount N     N loopback connections to itself, one at a time:
 *                     socket, connect, accept, 32 bytes each way, close
 *                     both ends
 *
 * The program defines pthread_setcancelstate() (a symbol of the program
 * comes before the preloaded library's and the C library's), counts the
 * calls and passes them on.  It prints
 *     connections N setcancelstate C
 * where C counts the calls made during the N connections (after one
 * warm-up connection), and exits 0; 1 on a failed call (a line on
 * standard error), 2 on usage.  A plain socket's accept, connect and
 * close take no lock that reaches a cancellation point, so under a policy
 * whose rules name other ports C is 0 (tests/preload/passthrough.sh).
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define PING 32

static unsigned long calls;

int pthread_setcancelstate(int state, int *old)
{
	static int (*next)(int, int *);

	if (!next)
		next = (int (*)(int, int *))dlsym(RTLD_NEXT, "pthread_setcancelstate");
	__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
	return next ? next(state, old) : 0;
}

static int full(int fd, char *buf, size_t len, int out)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = out ? write(fd, buf + done, len - done) : read(fd, buf + done, len - done);
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static int one(int lfd, const struct sockaddr_in *sa)
{
	char ping[PING], pong[PING];
	int c, a;

	memset(ping, 'p', sizeof ping);
	if ((c = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
		perror("cancelcount: socket");
		return -1;
	}
	if (connect(c, (const struct sockaddr *)sa, sizeof *sa) < 0) {
		perror("cancelcount: connect");
		close(c);
		return -1;
	}
	if ((a = accept(lfd, NULL, NULL)) < 0) {
		perror("cancelcount: accept");
		close(c);
		return -1;
	}
	if (full(c, ping, sizeof ping, 1) < 0 || full(a, pong, sizeof pong, 0) < 0 ||
	    full(a, pong, sizeof pong, 1) < 0 || full(c, pong, sizeof pong, 0) < 0 ||
	    memcmp(ping, pong, sizeof ping) != 0) {
		fprintf(stderr, "cancelcount: the 32 bytes did not go round\n");
		close(a);
		close(c);
		return -1;
	}
	close(a);
	close(c);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	unsigned long before;
	long n;
	int lfd;

	if (argc != 2 || (n = atol(argv[1])) < 1) {
		fprintf(stderr, "usage: cancelcount N\n");
		return 2;
	}
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = tcp_listen(&sa, 0, 8)) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("cancelcount: listen");
		return 1;
	}
	if (one(lfd, &sa) < 0)
		return 1;
	before = __atomic_load_n(&calls, __ATOMIC_RELAXED);
	for (long i = 0; i < n; i++)
		if (one(lfd, &sa) < 0)
			return 1;
	printf("connections %ld setcancelstate %lu\n", n, __atomic_load_n(&calls, __ATOMIC_RELAXED) - before);
	return 0;
}
