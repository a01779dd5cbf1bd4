/* rtt_client — request and response on one kept-open connection, of the
 * old school (blocking write, then read until the answer is whole).
 *
 *   rtt_client HOST PORT N   N round trips of 32 bytes against an echo
 *                            server; prints "rtt ok N" and exits 0, or
 *                            "rtt_client: round trip I: ..." and exits 1
 *                            (2: usage, connect).
 *
 * Knows nothing about TLS: tests/preload/hotpath.sh runs it under the
 * shim (and valgrind) to count what one round trip costs the library.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define MSG 32

int main(int argc, char **argv)
{
	char ping[MSG], pong[MSG];
	long n;
	int fd, one = 1;

	if (argc != 4 || (n = atol(argv[3])) < 0) {
		fprintf(stderr, "usage: rtt_client HOST PORT N\n");
		return 2;
	}
	if ((fd = dial_host("rtt_client", argv[1], argv[2], AF_INET, SOCK_STREAM)) < 0)
		return 2;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	for (long i = 0; i < n; i++) {
		int r;

		memset(ping, 'a' + (int)(i % 26), MSG);
		if (write_all(fd, ping, MSG) < 0 || (r = read_full(fd, pong, MSG)) != 1) {
			fprintf(stderr, "rtt_client: round trip %ld: %s\n", i, errno ? strerror(errno) : "EOF");
			return 1;
		}
		if (memcmp(ping, pong, MSG)) {
			fprintf(stderr, "rtt_client: round trip %ld: not the bytes sent\n", i);
			return 1;
		}
	}
	close(fd);
	printf("rtt ok %ld\n", n);
	return 0;
}
