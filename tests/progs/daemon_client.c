/* daemon_client — connects, exchanges a line, calls daemon(), and the
 * surviving (daemonised) process exchanges a second line and closes.
 *
 *   daemon_client HOST PORT OUTFILE [stdout]
 * Writes what it received to OUTFILE ("first: ...", "second: ...").
 * With "stdout": the connection is on standard output too (dup2), and
 * daemon() puts /dev/null there; then "stdout: ERRNO-NAME" says what
 * getpeername() answers on descriptor 1 (the kernel: ENOTSOCK).
 * Knows nothing about TLS.
 */
#include <errno.h>
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

	bool on_stdout = argc == 5 && strcmp(argv[4], "stdout") == 0;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	if ((argc != 4 && !on_stdout) || getaddrinfo(argv[1], argv[2], &hints, &res) != 0 || !(out = fopen(argv[3], "w")))
		return 64;
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0 || exchange_line(fd, out, "one\n", "first") < 0)
		return 2;
	if ((on_stdout && dup2(fd, 1) != 1) || daemon(1, !on_stdout) < 0)
		return 3;
	if (exchange_line(fd, out, "two\n", "second") < 0)
		fprintf(out, "second: failed\n");
	if (on_stdout)
		fprintf(out, "stdout: %s\n", getpeername(1, (struct sockaddr *)&ss, &sl) < 0 ?
			strerrorname_np(errno) : "a socket");
	close(fd);
	fclose(out);
	return 0;
}
