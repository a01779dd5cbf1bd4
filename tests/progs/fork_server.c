/* fork_server — the classic forking TCP echo server: accept, fork, the
 * child serves the connection, the parent closes its copy at once.
 *
 *   fork_server PORT CONNS     (exits after CONNS connections were served)
 * Knows nothing about TLS.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common.h"

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	int ls, n, bad = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: fork_server PORT CONNS\n");
		return 64;
	}
	a = loopback4(atoi(argv[1]));
	n = atoi(argv[2]);
	ls = tcp_listen(&a, 0, 16);
	if (ls < 0) {
		perror("fork_server: bind/listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		int c = accept(ls, NULL, NULL), st;
		pid_t pid;

		if (c < 0)
			continue;
		pid = fork();
		if (pid == 0) {
			char buf[4096];
			ssize_t r;
			close(ls);
			while ((r = read(c, buf, sizeof buf)) > 0)
				if (write(c, buf, (size_t)r) != r)
					_exit(1);
			if (r < 0)
				fprintf(stderr, "fork_server: child read: %s\n", strerror(errno));
			close(c);
			_exit(r < 0);
		}
		close(c);   /* the parent never used it: must send nothing */
		if (pid > 0 && waitpid(pid, &st, 0) == pid && (!WIFEXITED(st) || WEXITSTATUS(st)))
			bad++;
	}
	return bad ? 1 : 0;
}
