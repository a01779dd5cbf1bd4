/* fork_client — connects, exchanges a line, then forks.  The child tries
 * to write on the inherited socket and reports what happened; the parent
 * then exchanges a second line, so we see the connection survived.
 * With "raw", a fork the shim cannot see: the child is made by the fork
 * system call itself (an inline `syscall` instruction: no C library
 * wrapper, no atfork handler, no interposed fork or syscall();
 * raw_fork.h).
 *
 * With "pty", the child is made by forkpty() (the C library forks
 * inside it, and the child's standard streams are the new terminal): the
 * child writes a line on the connection and reads the echo, and reports
 * on a pipe, which the parent prints ("child: <echo>" or "child write:
 * <error>").
 *
 *   fork_client HOST PORT [raw|pty]
 * Prints: "first: ...", "child write: <result>", "second: ...".
 * Knows nothing about TLS.
 */
#include <errno.h>
#include <netdb.h>
#include <pty.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "raw_fork.h"

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int fd, st, master = -1, rep[2] = { -1, -1 };
	bool pty = argc == 4 && !strcmp(argv[3], "pty");
	long pid;

	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "raw") && !pty) ||
	    getaddrinfo(argv[1], argv[2], &hints, &res) != 0)
		return 64;
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		perror("fork_client: connect");
		return 2;
	}
	if (exchange_line(fd, stdout, "one\n", "first") < 0)
		return 3;
	if (pty) {
		if (pipe(rep) < 0)
			return 5;
		pid = forkpty(&master, NULL, NULL, NULL);
		if (pid < 0)
			pid = -errno;
		if (pid == 0) {
			FILE *r = fdopen(rep[1], "w");

			if (!r)
				_exit(1);
			if (exchange_line(fd, r, "child\n", "child") < 0)
				fprintf(r, "child write: %s\n", strerror(errno));
			fclose(r);
			close(fd);
			_exit(0);
		}
	} else if (argc == 4) {
		pid = raw_fork();
	} else {
		pid = fork();
		if (pid < 0)
			pid = -errno;
	}
	if (pid < 0) {
		fprintf(stderr, "fork_client: fork: %s\n", strerror((int)-pid));
		return 5;
	}
	if (pid == 0) {
		ssize_t w = write(fd, "child\n", 6);
		printf("child write: %s\n", w < 0 ? strerror(errno) : "succeeded");
		fflush(stdout);
		close(fd);
		_exit(0);
	}
	waitpid((pid_t)pid, &st, 0);
	if (pty) {
		char buf[256];
		ssize_t n;

		close(rep[1]);
		while ((n = read(rep[0], buf, sizeof buf)) > 0)
			fwrite(buf, 1, (size_t)n, stdout);
		fflush(stdout);
		close(rep[0]);
		close(master);
	}
	if (exchange_line(fd, stdout, "two\n", "second") < 0) {
		perror("fork_client: second");
		return 4;
	}
	close(fd);
	return 0;
}
