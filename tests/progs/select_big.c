/* select_big — select() with sets larger than FD_SETSIZE, as a program
 * with descriptors past 1023 allocates them (Ruby does).  Knows nothing
 * about TLS.
 *
 *   select_big HOST PORT [JAIL]
 *
 * Connects to HOST:PORT (an echo server), sends "hi-there\n" and keeps the
 * connection at a number below 1024 (LOW) and a copy of it at 1200 (HIGH);
 * an empty pipe's read end sits at 1500.  Then:
 *  1. select(1501) for reading on LOW and the pipe, once the echo is
 *     there: prints "mixed: N low=B pipe=B" (the kernel: 1 low=1 pipe=0);
 *  2. reads one byte from HIGH, then select(1201) for reading on HIGH
 *     alone, with a 10 s bound: prints "high: N high=B" (the rest of the
 *     echo is waiting: 1 high=1).
 * With JAIL: chroot(JAIL) once set up (before the first select): a jail
 * whose proc/self/status a program does not control.
 * Exit 0 when both lines are as the kernel would answer, 1 otherwise.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define BITS (8 * (int)sizeof(unsigned long))
#define SETLONGS (2048 / BITS)
#define HIGH 1200
#define PIPE 1500

static void add(unsigned long *s, int fd)
{
	s[fd / BITS] |= 1UL << (fd % BITS);
}

static int has(const unsigned long *s, int fd)
{
	return (int)((s[fd / BITS] >> (fd % BITS)) & 1);
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	struct rlimit rl;
	unsigned long set[SETLONGS];
	struct timeval tv;
	int fd, p[2], n, ok = 1;
	char c;

	if (argc < 3 || argc > 4 || getaddrinfo(argv[1], argv[2], &hints, &res) != 0)
		return 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <= PIPE) {
		rl.rlim_cur = rl.rlim_max;
		if (rl.rlim_cur <= PIPE || setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			fprintf(stderr, "select_big: cannot have descriptor %d\n", PIPE);
			return 65;
		}
	}
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    write(fd, "hi-there\n", 9) != 9 || pipe(p) < 0 || dup2(p[0], PIPE) != PIPE ||
	    dup2(fd, HIGH) != HIGH) {
		perror("select_big: setting up");
		return 2;
	}
	if (argc == 4 && (chroot(argv[3]) != 0 || chdir("/") != 0)) {
		perror("select_big: chroot");
		return 2;
	}
	/* 1. The echo is there once LOW reads ready (the 10 s bound aside). */
	memset(set, 0, sizeof set);
	add(set, fd);
	add(set, PIPE);
	tv = (struct timeval){ 10, 0 };
	n = select(PIPE + 1, (fd_set *)(void *)set, NULL, NULL, &tv);
	printf("mixed: %d low=%d pipe=%d\n", n, n > 0 && has(set, fd), n > 0 && has(set, PIPE));
	ok &= n == 1 && has(set, fd) && !has(set, PIPE);
	/* 2. One byte read: the rest of the echo is still to be read. */
	if (read(HIGH, &c, 1) != 1) {
		perror("select_big: read");
		return 3;
	}
	memset(set, 0, sizeof set);
	add(set, HIGH);
	tv = (struct timeval){ 10, 0 };
	n = select(HIGH + 1, (fd_set *)(void *)set, NULL, NULL, &tv);
	printf("high: %d high=%d\n", n, n > 0 && has(set, HIGH));
	ok &= n == 1 && has(set, HIGH);
	fflush(stdout);
	return ok ? 0 : 1;
}
