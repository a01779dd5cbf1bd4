/* rsync_like — a client that shares one connection between two processes,
 * as rsync's client does: connect, exchange a greeting, fork; then one
 * process writes lines while the other reads the echoed replies, both on
 * the same inherited socket fd, at the same time.
 *
 *   rsync_like HOST PORT LINES [parent-writes|child-writes]
 *   rsync_like --expect LINES   (print what an echo peer must receive)
 *   rsync_like HOST PORT exec PROG [ARGS...]
 *       exchange the greeting, then exec PROG with the connection on its
 *       stdin and stdout (as a remote shell's helper would), so a session
 *       already in use crosses execve()
 *
 * For an echo server.  Steps:
 *   1. write "greeting from rsync_like\n", read the echo;   "greeting ok"
 *   2. fork.  The writer (the parent by default) writes LINES lines
 *      "line NNNNNN ...\n" and then "END\n"; the reader reads the echo and
 *      checks every line, in order:     "reader (child): LINES lines in order"
 *   3. the parent waits for the child, which closes its copy and exit()s,
 *      then writes "after child\n" and reads the echo itself, to show the
 *      connection outlived the child:  "parent: after child ok"
 *   4. the parent closes the socket.
 * Exit 0 when every step worked; otherwise 1, with the reason printed.
 * Knows nothing about TLS.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static const char greeting[] = "greeting from rsync_like\n";
static const char after[] = "after child\n";

static int make_line(char *buf, size_t size, int i)
{
	int n = snprintf(buf, size, "line %06d ", i);
	for (int k = 0; k < 60 + i % 37; k++)
		buf[n++] = (char)('a' + (i * 7 + k) % 26);
	buf[n++] = '\n';
	buf[n] = 0;
	return n;
}

/* Buffered line reader on a raw fd (no stdio: glibc's internals would not
 * be what we test here). */
static char rbuf[65536];
static size_t rlen, rpos;

static int read_line(int fd, char *line, size_t size)
{
	size_t n = 0;
	for (;;) {
		if (rpos == rlen) {
			ssize_t r = read(fd, rbuf, sizeof rbuf);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return r < 0 ? -1 : (int)n;
			rlen = (size_t)r;
			rpos = 0;
		}
		if (n + 1 >= size)
			return -2;
		line[n++] = rbuf[rpos++];
		if (line[n - 1] == '\n') {
			line[n] = 0;
			return (int)n;
		}
	}
}

static int writer(int fd, int lines, const char *who)
{
	char line[256];
	for (int i = 0; i < lines; i++) {
		int n = make_line(line, sizeof line, i);
		if (write_all(fd, line, (size_t)n) < 0) {
			printf("writer (%s): write of line %d failed: %s\n", who, i, strerror(errno));
			return 1;
		}
	}
	if (write_all(fd, "END\n", 4) < 0) {
		printf("writer (%s): write of END failed: %s\n", who, strerror(errno));
		return 1;
	}
	printf("writer (%s): wrote %d lines\n", who, lines);
	return 0;
}

static int reader(int fd, int lines, const char *who)
{
	char want[256], got[256];
	for (int i = 0; i <= lines; i++) {
		int r = read_line(fd, got, sizeof got);
		if (i == lines)
			strcpy(want, "END\n");
		else
			make_line(want, sizeof want, i);
		if (r <= 0 || strcmp(want, got)) {
			printf("reader (%s): line %d: %s\n", who, i,
			       r < 0 ? strerror(errno) : r == 0 ? "end of data" : "wrong content");
			return 1;
		}
	}
	printf("reader (%s): %d lines in order\n", who, lines);
	return 0;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	char line[256];
	int fd, lines, st, rc = 0, child_writes;
	pid_t pid;

	if (argc == 3 && !strcmp(argv[1], "--expect")) {
		lines = atoi(argv[2]);
		fputs(greeting, stdout);
		for (int i = 0; i < lines; i++) {
			make_line(line, sizeof line, i);
			fputs(line, stdout);
		}
		fputs("END\n", stdout);
		fputs(after, stdout);
		return 0;
	}
	if (argc < 4 || (argc > 5 && strcmp(argv[3], "exec")) || getaddrinfo(argv[1], argv[2], &hints, &res) != 0) {
		fprintf(stderr, "usage: rsync_like HOST PORT LINES [parent-writes|child-writes]\n");
		return 64;
	}
	lines = strcmp(argv[3], "exec") ? atoi(argv[3]) : 0;
	child_writes = argc == 5 && !strcmp(argv[4], "child-writes");
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	alarm(60);
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		printf("connect: %s\n", strerror(errno));
		return 2;
	}
	if (write_all(fd, greeting, strlen(greeting)) < 0 || read_line(fd, line, sizeof line) <= 0 ||
	    strcmp(line, greeting)) {
		printf("greeting failed: %s\n", strerror(errno));
		return 1;
	}
	printf("greeting ok\n");
	if (!strcmp(argv[3], "exec")) {
		if (argc < 5 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0) {
			printf("exec: no program, or dup2 failed\n");
			return 1;
		}
		if (fd > 1)
			close(fd);
		execv(argv[4], argv + 4);
		fprintf(stderr, "rsync_like: exec %s: %s\n", argv[4], strerror(errno));
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		int r = child_writes ? writer(fd, lines, "child") : reader(fd, lines, "child");
		if (close(fd) < 0) {
			printf("child: close: %s\n", strerror(errno));
			r = 1;
		}
		exit(r);        /* exit(), not _exit(): atexit handlers run */
	}
	rc |= child_writes ? reader(fd, lines, "parent") : writer(fd, lines, "parent");
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("parent: the child failed (status 0x%x)\n", st);
		rc = 1;
	}
	if (write_all(fd, after, strlen(after)) < 0 || read_line(fd, line, sizeof line) <= 0 ||
	    strcmp(line, after)) {
		printf("parent: after child failed: %s\n", strerror(errno));
		rc = 1;
	} else {
		printf("parent: after child ok\n");
	}
	if (close(fd) < 0) {
		printf("parent: close: %s\n", strerror(errno));
		rc = 1;
	}
	return rc;
}
