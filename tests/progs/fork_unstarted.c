/* fork_unstarted — a connection that nobody has used yet (the library's
 * handshake not started) is copied by fork(), then BOTH processes use it:
 * each writes a line of its own ("parent\n", "child\n") and reads once.
 *
 *   fork_unstarted connect HOST PORT    a client: a non-blocking connect()
 *                                       (a blocking one runs the handshake
 *                                       in connect), fork() at once, then
 *                                       each process makes it blocking
 *   fork_unstarted accept PORT          a server: prints "listening",
 *                                       accept(), fork()
 *
 *   fork_unstarted connect HOST PORT dupclose|reconnect|pump|fsconfig
 *                                       in order: the parent uses it first,
 *                                       then closes a dup() of it
 *                                       (dupclose) or calls connect() again
 *                                       on it (reconnect: 0 or EISCONN, on
 *                                       a copy the library holds and
 *                                       closes) or forks a child that
 *                                       exits at once (pump: the library
 *                                       hands the live session to a pump
 *                                       first) or calls fsconfig's
 *                                       FSCONFIG_SET_FD with it (fsconfig:
 *                                       refused with EPERM, after the
 *                                       library judged a copy it closes),
 *                                       then the child uses it,
 *                                       then the parent once more (a line
 *                                       "again: write ok; read again" when
 *                                       its session still serves it)
 *   fork_unstarted accept PORT spawn    a server, in order: accept(),
 *                                       fork() a child that waits, fork()
 *                                       a second child that runs
 *                                       posix_spawn /bin/true with no
 *                                       environment (its session, inherited
 *                                       through fork and never used, goes
 *                                       to a pump), then the first child
 *                                       uses its copy, then the second
 *                                       its fd ("again"); the parent never
 *                                       uses it
 *
 * Each process prints one line, in either order: "WHO: write ok|<error>;
 * read <line>|eof|<error>" (what one read got, up to its first newline).
 * Exit 0 once both have reported (the parent waits for the child; a child
 * that ended without reporting is reported by the parent as "child: exit
 * N" or "child: signal N").  SIGPIPE is ignored (a write on a connection
 * the peer reset fails with EPIPE, as in most servers).
 * Knows nothing about TLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void use(int fd, const char *who)
{
	char line[64], got[256];
	const char *w = "ok";
	ssize_t r;

	/* (the connect was non-blocking: wait in write and read now) */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	snprintf(line, sizeof line, "%s\n", who);
	if (write(fd, line, strlen(line)) < 0)
		w = strerror(errno);
	r = read(fd, got, sizeof got - 1);
	if (r > 0) {
		got[r] = 0;
		got[strcspn(got, "\n")] = 0;
	} else {
		snprintf(got, sizeof got, "%s", r == 0 ? "eof" : strerror(errno));
	}
	printf("%s: write %s; read %s\n", who, w, got);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int fd, st;
	pid_t pid;
	int rep[2], go[2] = { -1, -1 };
	char b;
	const char *after = NULL;
	struct sockaddr_storage to;
	socklen_t tolen = 0;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 5 && !strcmp(argv[1], "connect") &&
	    (!strcmp(argv[4], "dupclose") || !strcmp(argv[4], "reconnect") ||
	     !strcmp(argv[4], "pump") || !strcmp(argv[4], "fsconfig")))
		after = argv[4];
	if (argc == 4 && !strcmp(argv[1], "accept") && !strcmp(argv[3], "spawn"))
		after = argv[3];
	if ((argc == 4 || after) && !strcmp(argv[1], "connect")) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;

		if (getaddrinfo(argv[2], argv[3], &hints, &res) != 0)
			return 64;
		fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (fd < 0 || (connect(fd, res->ai_addr, res->ai_addrlen) < 0 &&
			       errno != EINPROGRESS)) {
			perror("fork_unstarted: connect");
			return 2;
		}
		memcpy(&to, res->ai_addr, res->ai_addrlen);
		tolen = res->ai_addrlen;
		freeaddrinfo(res);
	} else if ((argc == 3 || after) && !strcmp(argv[1], "accept")) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((unsigned short)atoi(argv[2])),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

		if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
		    bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0) {
			perror("fork_unstarted: listen");
			return 2;
		}
		printf("listening\n");
		fflush(stdout);
		fd = accept(l, NULL, NULL);
		if (fd < 0) {
			perror("fork_unstarted: accept");
			return 2;
		}
		close(l);
	} else {
		fprintf(stderr, "usage: fork_unstarted connect HOST PORT | accept PORT\n");
		return 64;
	}
	if (pipe(rep) < 0 || (after && pipe(go) < 0))
		return 5;
	pid = fork();
	if (pid < 0) {
		perror("fork_unstarted: fork");
		return 5;
	}
	if (pid == 0) {
		close(rep[0]);
		if (after) {
			close(go[1]);
			if (read(go[0], &b, 1) != 1)
				_exit(7);
		}
		use(fd, "child");
		(void)!write(rep[1], "r", 1);
		close(fd);
		_exit(0);
	}
	close(rep[1]);
	if (strcmp(after ? after : "", "spawn"))
		use(fd, "parent");
	if (after) {
		int d;

		close(go[0]);
		if (!strcmp(after, "spawn")) {
			char *av[] = { "true", NULL }, *ev[] = { NULL };
			pid_t p2 = fork(), p3;

			if (p2 == 0) {
				errno = posix_spawn(&p3, "/bin/true", NULL, NULL, av, ev);
				if (errno || waitpid(p3, &st, 0) != p3)
					printf("spawner: spawn %s\n", strerror(errno));
				fflush(stdout);
				(void)!write(go[1], "g", 1);
				if (read(rep[0], &b, 1) != 1)
					printf("spawner: no report from the child\n");
				use(fd, "again");
				_exit(0);
			}
			close(go[1]);
			close(fd);
			if (p2 < 0 || waitpid(p2, &st, 0) != p2 || waitpid(pid, &st, 0) != pid)
				return 6;
			return 0;
		} else if (!strcmp(after, "pump")) {
			pid_t p2 = fork();

			if (p2 == 0)
				_exit(0);
			if (p2 < 0 || waitpid(p2, &st, 0) != p2)
				printf("parent: second fork %s\n", strerror(errno));
		} else if (!strcmp(after, "fsconfig")) {
			/* (FSCONFIG_SET_FD, 5: the key is no descriptor key) */
			if (syscall(SYS_fsconfig, -1, 5, "source", NULL, fd) == 0 || errno != EPERM)
				printf("parent: fsconfig not refused: %s\n", strerror(errno));
		} else if (!strcmp(after, "dupclose")) {
			if ((d = dup(fd)) < 0 || close(d) < 0)
				printf("parent: dupclose %s\n", strerror(errno));
		} else if (connect(fd, (struct sockaddr *)&to, tolen) < 0 && errno != EISCONN) {
			printf("parent: connect again %s\n", strerror(errno));
		}
		fflush(stdout);
		(void)!write(go[1], "g", 1);
		close(go[1]);
	}
	if (waitpid(pid, &st, 0) != pid)
		return 6;
	if (read(rep[0], &b, 1) != 1) {
		if (WIFSIGNALED(st))
			printf("child: signal %d\n", WTERMSIG(st));
		else
			printf("child: exit %d\n", WEXITSTATUS(st));
	}
	if (after)
		use(fd, "again");
	close(fd);
	return 0;
}
