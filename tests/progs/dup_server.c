/* dup_server — accepts one connection and talks through copies of it:
 * dup(), fcntl(F_DUPFD_CLOEXEC) and dup2() onto fd 30, closing the
 * original first; then echoes on fd 30 until end of file.
 *
 *   dup_server PORT
 * Knows nothing about TLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common.h"

static void say(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		fprintf(stderr, "dup_server: write on fd %d: %s\n", fd, strerror(errno));
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	int ls, c, d1, d2, d3;
	char buf[4096];
	ssize_t r;

	if (argc != 2)
		return 64;
	a = loopback4(atoi(argv[1]));
	ls = tcp_listen(&a, 0, 4);
	if (ls < 0)
		return 1;
	printf("listening\n");
	fflush(stdout);
	c = accept(ls, NULL, NULL);
	d1 = dup(c);
	d2 = fcntl(c, F_DUPFD_CLOEXEC, 20);
	d3 = dup2(c, 30);
	if (c < 0 || d1 < 0 || d2 < 20 || d3 != 30)
		return 2;
	close(c);              /* the original goes first: the copies live on */
	say(d1, "via dup\n");
	close(d1);
	say(d2, "via F_DUPFD_CLOEXEC\n");
	close(d2);
	say(30, "via dup2\n");
	while ((r = read(30, buf, sizeof buf)) > 0)
		say(30, "echo\n");
	if (r < 0)
		fprintf(stderr, "dup_server: read: %s\n", strerror(errno));
	close(30);             /* the last copy: close_notify now */
	return r < 0;
}
