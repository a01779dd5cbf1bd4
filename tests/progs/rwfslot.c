/* rwfslot — the probe of a pwritev2() flag against the program's own
 * descriptor numbers.
 *
 *   rwfslot HOST PORT     connects to HOST:PORT (a TLS echo under a
 *                         connect rule), gives a socket pair's end to
 *                         tests/progs/preload_slotswap.so
 *                         (TLSSHIM_TEST_SLOTSWAP), and writes "hi\n" with
 *                         pwritev2(RWF_NOSIGNAL), a flag the library tries
 *                         on a socket pair of its own first: the injector
 *                         dup2()s the program's end onto that pair's
 *                         number before the probe's write.  Prints
 *                         "leaked N echo B"; exit 0 when nothing arrived
 *                         on the program's pair and the echo came back.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef RWF_NOSIGNAL
#define RWF_NOSIGNAL 0x100
#endif

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	struct iovec v = { "hi\n", 3 };
	char num[16], buf[64];
	int fd, sp[2], echo = 0;
	size_t got = 0;
	ssize_t n, leaked;

	if (argc != 3 || getaddrinfo(argv[1], argv[2], &hints, &res) != 0)
		return 64;
	if ((fd = socket(res->ai_family, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		perror("rwfslot: setting up");
		return 2;
	}
	snprintf(num, sizeof num, "%d", sp[0]);
	setenv("TLSSHIM_TEST_SLOTSWAP", num, 1);
	n = pwritev2(fd, &v, 1, -1, RWF_NOSIGNAL);
	unsetenv("TLSSHIM_TEST_SLOTSWAP");
	if (n != 3) {
		perror("rwfslot: pwritev2");
		return 2;
	}
	while (got < 3 && (n = read(fd, buf + got, sizeof buf - got)) > 0)
		got += (size_t)n;
	echo = got == 3 && !memcmp(buf, "hi\n", 3);
	leaked = recv(sp[1], buf, sizeof buf, MSG_DONTWAIT);
	if (leaked < 0)
		leaked = 0;
	printf("leaked %zd echo %d\n", leaked, echo);
	return !leaked && echo ? 0 : 1;
}
