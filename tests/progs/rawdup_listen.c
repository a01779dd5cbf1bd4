/* tests/progs/rawdup_listen.c IP PORT — a TCP socket that socket() made,
 * then replaced, at its number, by another socket with a dup3 the
 * library cannot see (an inline `syscall` instruction: no C library
 * wrapper, no interposed dup2 or syscall()), then bound to IP:PORT and
 * listened on.  The other socket is socket(AF_INET, SOCK_SEQPACKET, 132):
 * SCTP's one-to-many style (under preload_lookupfail.so with
 * TLSSHIM_TEST_LOOKUPFAIL=protocol=132,type=5,socket a TCP socket that
 * answers as one).  Prints "listening", or "refused ERRNO".  Elsewhere
 * than x86-64 (not the test machines) the dup3 goes through syscall(),
 * which the library sees. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static long raw_dup3(int from, int to)
{
#if defined(__x86_64__)
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "0"((long)SYS_dup3), "D"((long)from), "S"((long)to), "d"(0L)
			 : "rcx", "r11", "memory");
	return r;
#else
	long r = syscall(SYS_dup3, from, to, 0);

	return r < 0 ? -errno : r;
#endif
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int t, s;
	long r;

	if (argc != 3 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
		fprintf(stderr, "usage: rawdup_listen IP PORT\n");
		return 2;
	}
	a.sin_port = htons((unsigned short)atoi(argv[2]));
	if ((t = socket(AF_INET, SOCK_STREAM, 0)) < 0 || (s = socket(AF_INET, SOCK_SEQPACKET, 132)) < 0) {
		perror("socket");
		return 1;
	}
	if ((r = raw_dup3(s, t)) != t) {
		fprintf(stderr, "dup3: %ld\n", r);
		return 1;
	}
	close(s);
	if (bind(t, (struct sockaddr *)&a, sizeof a) < 0 || listen(t, 5) < 0)
		printf("refused %d\n", errno);
	else
		printf("listening\n");
	return 0;
}
