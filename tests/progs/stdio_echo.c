/* stdio_echo — a line echo service written with stdio only: fgets() a
 * line, printf() it back with a prefix, fflush(); until end of input.
 *
 *   stdio_echo                inetd style: the connection is stdin/stdout
 *   stdio_echo --listen PORT  accept one connection on 127.0.0.1:PORT and
 *                             serve it through two streams, as many old
 *                             servers do: fdopen(fd, "r") for input and
 *                             fdopen(dup(fd), "w") for output; prints
 *                             "listening" on stdout once bound
 * Each reply is "stdio_echo: " followed by the line.  Exit 0 at end of
 * input after every reply was flushed, 1 on an error.
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

static int serve(FILE *in, FILE *out)
{
	char line[1024];

	while (fgets(line, sizeof line, in)) {
		if (fprintf(out, "stdio_echo: %s", line) < 0 || fflush(out) == EOF)
			return 1;
	}
	return ferror(in) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	int ls, c, rc;
	FILE *in, *out;

	if (argc == 1)
		return serve(stdin, stdout);
	if (argc != 3 || strcmp(argv[1], "--listen"))
		return 64;
	a = loopback4(atoi(argv[2]));
	ls = tcp_listen(&a, 0, 4);
	if (ls < 0)
		return 1;
	printf("listening\n");
	fflush(stdout);
	c = accept(ls, NULL, NULL);
	if (c < 0)
		return 1;
	in = fdopen(c, "r");
	out = in ? fdopen(dup(c), "w") : NULL;
	if (!in || !out) {
		fprintf(stderr, "stdio_echo: fdopen: %s\n", strerror(errno));
		return 2;
	}
	rc = serve(in, out);
	if (fclose(out) == EOF) {
		fprintf(stderr, "stdio_echo: fclose(out): %s\n", strerror(errno));
		rc = 1;
	}
	if (fclose(in) == EOF) {
		fprintf(stderr, "stdio_echo: fclose(in): %s\n", strerror(errno));
		rc = 1;
	}
	return rc;
}
