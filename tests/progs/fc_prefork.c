/* fc_prefork — a pre-forked server: the parent accepts, a worker process
 * serves.  The connection reaches the worker by SCM_RIGHTS over a
 * socketpair, or the worker takes it from the parent with pidfd_getfd().
 *
 *   fc_prefork MODE PORT N SENTINEL
 *
 * Listens on 127.0.0.1:PORT, serves N connections one after the other,
 * then exits (0 when every worker step worked).  Modes:
 *   scm         the parent passes each accepted fd to the worker (SCM_RIGHTS)
 *               and closes its copy.  The worker writes the greeting
 *               "SENTINEL worker greeting\n", reads the client's line and
 *               answers "worker read: LINE".
 *   scm-exec    as scm, but the worker is another program image started
 *               with a clean environment (fork, then execle() of this file
 *               as "fc_prefork worker FD N SENTINEL", no LD_PRELOAD): the
 *               socketpair was made by the parent, the worker inherits it.
 *   scm-used    the parent first writes "SENTINEL parent greeting\n" itself
 *               (the session is in use), then passes the fd; the worker
 *               reads the client's line and answers as above.
 *   pidfd       the parent tells the worker the fd number; the worker takes
 *               the fd with pidfd_getfd() and serves as in scm; the parent
 *               closes its copy once the worker has it.
 *   pidfd-used  the parent writes its greeting, then the worker takes the fd
 *               with pidfd_getfd() and tries to write "SENTINEL stolen
 *               write\n" (prints "worker: stolen write: ok|ERRNO"); then the
 *               parent itself reads the client's line and answers
 *               "parent read: LINE".
 *   scm-nofork  as scm-used, but once the worker runs the parent may not
 *               create processes, as Dovecot's login processes: it drops
 *               to uid 65534 and sets RLIMIT_NPROC to 1 (prints "nofork:
 *               unavailable: ..." when it cannot drop).  The session cannot
 *               go to a pump: sendmsg must fail (prints "parent: sendmsg
 *               SCM_RIGHTS: ERRNO"), and the parent's close ends it.
 * Prints what each side did; every wait is bounded (alarm).
 */
#include <fcntl.h>
#include <signal.h>
#include <grp.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "fc_common.h"

static const char *mode, *sentinel;

static int send_fd(int sock, int fd)
{
	char byte = 'F';
	struct iovec iov = { &byte, 1 };
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			    .msg_controllen = sizeof u.b };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);

	memset(&u, 0, sizeof u);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof fd);
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char byte;
	struct iovec iov = { &byte, 1 };
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			    .msg_controllen = sizeof u.b };
	struct cmsghdr *h;
	int fd = -1;

	if (recvmsg(sock, &m, 0) != 1)
		return -1;
	h = CMSG_FIRSTHDR(&m);
	if (h && h->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(h), sizeof fd);
	return fd;
}

/* The worker's part of one connection: greeting (unless the parent gave
 * it), the client's line, the answer. */
static int serve(int fd, bool greet, const char *who)
{
	char buf[512], ans[700];
	ssize_t r;

	if (greet) {
		snprintf(buf, sizeof buf, "%s %s greeting\n", sentinel, who);
		if (write_all(fd, buf, strlen(buf)) < 0) {
			printf("%s: greeting: %s\n", who, fc_err(errno));
			return 1;
		}
	}
	r = fc_read_until(fd, buf, sizeof buf, "\n", 10000);
	if (r <= 0) {
		printf("%s: read: %zd %s\n", who, r, r == -1 ? fc_err(errno) : r == -2 ? "timeout" : "EOF");
		return 1;
	}
	printf("%s got: %s", who, buf);
	snprintf(ans, sizeof ans, "%s read: %s", who, buf);
	if (write_all(fd, ans, strlen(ans)) < 0) {
		printf("%s: answer: %s\n", who, fc_err(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int ls, sp[2], n, bad = 0, st;
	pid_t worker, parent = getpid();

	if (argc == 5 && !strcmp(argv[1], "worker")) {
		/* The exec'd worker of scm-exec: fds arrive on argv[2]. */
		int s = atoi(argv[2]), wbad = 0;

		n = atoi(argv[3]);
		sentinel = argv[4];
		setvbuf(stdout, NULL, _IOLBF, 0);
		fc_alarm(60);
		for (int i = 0; i < n; i++) {
			int fd = recv_fd(s);
			if (fd < 0) {
				wbad++;
				continue;
			}
			wbad += serve(fd, true, "worker");
			close(fd);
		}
		return wbad ? 1 : 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: fc_prefork scm|scm-exec|scm-used|scm-nofork|pidfd|pidfd-used PORT N SENTINEL\n");
		return 2;
	}
	mode = argv[1];
	n = atoi(argv[3]);
	sentinel = argv[4];
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	fc_alarm(60);
	a.sin_port = htons((unsigned short)atoi(argv[2]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = tcp_listen(&a, 0, 16);
	if (ls < 0) {
		printf("listen: %s\n", fc_err(errno));
		return 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		return 1;
	printf("listening\n");
	worker = fork();
	if (worker == 0) {
		/* The worker. */
		int pidfd = -1, wbad = 0;

		close(sp[0]);
		close(ls);
		if (!strcmp(mode, "scm-exec")) {
			char fdarg[16], narg[16], self[4096];
			char *env[] = { "PATH=/usr/bin:/bin", NULL };
			ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
			if (l <= 0)
				_exit(1);
			self[l] = 0;
			snprintf(fdarg, sizeof fdarg, "%d", sp[1]);
			snprintf(narg, sizeof narg, "%d", n);
			execle(self, "fc_prefork", "worker", fdarg, narg, sentinel, (char *)NULL, env);
			_exit(127);
		}
		if (!strncmp(mode, "pidfd", 5) && (pidfd = pidfd_open(parent, 0)) < 0) {
			printf("worker: pidfd_open: %s\n", fc_err(errno));
			_exit(1);
		}
		for (int i = 0; i < n; i++) {
			int fd;

			if (!strncmp(mode, "scm", 3)) {
				fd = recv_fd(sp[1]);
			} else {
				int num;
				if (read(sp[1], &num, sizeof num) != sizeof num)
					_exit(1);
				fd = pidfd_getfd(pidfd, num, 0);
				if (fd < 0)
					printf("worker: pidfd_getfd: %s\n", fc_err(errno));
			}
			if (fd < 0) {
				wbad++;
				(void)!write(sp[1], "N", 1);
				continue;
			}
			if (!strcmp(mode, "pidfd-used")) {
				char buf[256];
				ssize_t r;
				snprintf(buf, sizeof buf, "%s stolen write\n", sentinel);
				r = write(fd, buf, strlen(buf));
				printf("worker: stolen write: %s\n", r == (ssize_t)strlen(buf) ? "ok" :
				       r < 0 ? fc_err(errno) : "short");
				close(fd);
				(void)!write(sp[1], "D", 1);
				continue;
			}
			if (!strcmp(mode, "pidfd"))
				(void)!write(sp[1], "G", 1);     /* got it: the parent may close */
			wbad += serve(fd, strcmp(mode, "scm-used") && strcmp(mode, "scm-nofork"), "worker");
			close(fd);
		}
		_exit(wbad ? 1 : 0);
	}
	close(sp[1]);
	if (!strcmp(mode, "scm-nofork")) {
		struct rlimit one_proc = { 1, 1 };

		if (getuid() == 0 && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
			printf("nofork: unavailable: cannot drop to uid 65534: %s\n", fc_err(errno));
		else if (setrlimit(RLIMIT_NPROC, &one_proc) < 0)
			printf("nofork: unavailable: setrlimit: %s\n", fc_err(errno));
	}
	for (int i = 0; i < n; i++) {
		int c = accept(ls, NULL, NULL);
		char ack;

		if (c < 0) {
			printf("accept: %s\n", fc_err(errno));
			bad++;
			break;
		}
		if (!strcmp(mode, "scm-used") || !strcmp(mode, "scm-nofork") || !strcmp(mode, "pidfd-used")) {
			char g[256];
			snprintf(g, sizeof g, "%s parent greeting\n", sentinel);
			if (write_all(c, g, strlen(g)) < 0) {
				printf("parent: greeting: %s\n", fc_err(errno));
				bad++;
			}
		}
		if (!strncmp(mode, "scm", 3)) {
			if (send_fd(sp[0], c) < 0) {
				printf("parent: sendmsg SCM_RIGHTS: %s\n", fc_err(errno));
				bad++;
			}
		} else {
			if (write(sp[0], &c, sizeof c) != sizeof c || read(sp[0], &ack, 1) != 1) {
				printf("parent: no answer from the worker\n");
				bad++;
			} else if (!strcmp(mode, "pidfd-used")) {
				bad += serve(c, false, "parent");
			}
		}
		close(c);
	}
	close(sp[0]);
	while (waitpid(worker, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		bad++;
	printf("done %s bad=%d worker=%d\n", mode, bad, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return bad ? 1 : 0;
}
