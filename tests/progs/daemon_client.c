/* daemon_client — connects, exchanges a line, calls daemon(), and the
 * surviving (daemonised) process exchanges a second line and closes.
 *
 *   daemon_client HOST PORT OUTFILE
 * Writes what it received to OUTFILE ("first: ...", "second: ...").
 * Knows nothing about TLS.
 */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	FILE *out;
	int fd;

	if (argc != 4 || getaddrinfo(argv[1], argv[2], &hints, &res) != 0 || !(out = fopen(argv[3], "w")))
		return 64;
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0 || exchange_line(fd, out, "one\n", "first") < 0)
		return 2;
	if (daemon(1, 1) < 0)
		return 3;
	if (exchange_line(fd, out, "two\n", "second") < 0)
		fprintf(out, "second: failed\n");
	close(fd);
	fclose(out);
	return 0;
}
