/* accept_canary — an accept() whose address buffer is a bare struct
 * sockaddr (16 bytes) on a dual-stack IPv6 listener, with a canary right
 * after it: the kernel truncates an IPv6 peer's 28-byte address to the
 * buffer and reports its full length, and writes nothing beyond.
 *
 *   accept_canary PORT
 *
 * Prints "listening", then after one accept() "accept len=N canary=M"
 * (M: bytes of the canary overwritten; must be 0).  Knows nothing about
 * TLS.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct {
		struct sockaddr sa;
		unsigned char canary[32];
	} b;
	socklen_t len = sizeof b.sa;
	int l, c, one = 1, bad = 0;

	if (argc != 2)
		return 2;
	s.sin6_port = htons((unsigned short)atoi(argv[1]));
	l = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (l < 0 || bind(l, (struct sockaddr *)&s, sizeof s) || listen(l, 8)) {
		perror("accept_canary: bind");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	memset(&b, 0xAA, sizeof b);
	c = accept(l, &b.sa, &len);
	for (size_t i = 0; i < sizeof b.canary; i++)
		bad += b.canary[i] != 0xAA;
	printf("accept %s len=%u canary=%d\n", c < 0 ? "failed" : "ok", (unsigned)len, bad);
	return bad ? 3 : 0;
}
