/* stdio_server — serves one connection through stdio: fdopen() the
 * socket, fgets() a line, fprintf() it back, fclose().
 *
 *   stdio_server PORT
 * Knows nothing about TLS.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common.h"

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	int ls, c;
	char line[512];
	FILE *f;

	if (argc != 2)
		return 64;
	a = loopback4(atoi(argv[1]));
	ls = tcp_listen(&a, 0, 4);
	if (ls < 0)
		return 1;
	printf("listening\n");
	fflush(stdout);
	c = accept(ls, NULL, NULL);
	f = fdopen(c, "r+");
	if (!f) {
		fprintf(stderr, "stdio_server: fdopen: %s\n", strerror(errno));
		close(c);
		return 2;
	}
	if (fgets(line, sizeof line, f))
		fprintf(f, "stdio says: %s", line);
	fclose(f);
	return 0;
}
