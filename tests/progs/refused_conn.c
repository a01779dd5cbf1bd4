/* refused_conn — what a program can still do with a connection the
 * library refused (tests/preload/bypass.sh).
 *
 *   refused_conn PORT PRELOAD SENTINEL aio|exec|scm
 *
 * Without the library: connects to 127.0.0.1:PORT and sends one byte
 * ("x"), so the connection has carried bytes outside the library, then
 * runs itself again with LD_PRELOAD=PRELOAD, the connection inherited.
 * There (the library refuses the number: it already carried plaintext
 * where the policy says TLS) it tries write() of "SENTINEL write\n" and
 * prints "write: ERRNO-NAME" (or "write: N"), then
 *  - aio: aio_write() of "SENTINEL aio\n"; prints "aio_write: ERRNO-NAME"
 *    or, when the request was taken, "aio_write: N" with its result once
 *    done (at most 10 s);
 *  - exec: prints "exec", and runs /bin/sh without LD_PRELOAD (a program
 *    that does not run the library) to write "SENTINEL exec\n" on the
 *    connection's number;
 *  - scm: starts itself without LD_PRELOAD (a process that does not run
 *    the library) as "refused_conn receive SOCK SENTINEL" on one end of a
 *    socketpair, and passes the connection to it with SCM_RIGHTS; prints
 *    "sendmsg: ERRNO-NAME" (or "sendmsg: N"), then closes its end and
 *    waits for the receiver (at most 10 s), which writes
 *    "SENTINEL scm\n" on what it got and prints "receiver: wrote N" (or
 *    "receiver: nothing": no descriptor came).
 * Exit 0 unless the set-up failed (exec: the shell's status).
 */
#include <aio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fc_common.h"

static const char *sentinel_arg;

static int by_aio(int fd, const char *sentinel)
{
	char line[256];
	struct aiocb cb;
	const struct aiocb *list[1] = { &cb };
	struct timespec limit = { 10, 0 };

	snprintf(line, sizeof line, "%s aio\n", sentinel);
	memset(&cb, 0, sizeof cb);
	cb.aio_fildes = fd;
	cb.aio_buf = line;
	cb.aio_nbytes = strlen(line);
	if (aio_write(&cb) < 0) {
		printf("aio_write: %s\n", fc_err(errno));
		return 0;
	}
	if (aio_suspend(list, 1, &limit) < 0)
		printf("aio_write: taken, not done (%s)\n", fc_err(errno));
	else
		printf("aio_write: %zd\n", aio_return(&cb));
	return 0;
}

static int by_exec(int fd, const char *sentinel)
{
	char cmd[320];
	char *env[] = { (char *)"PATH=/usr/bin:/bin", NULL };

	snprintf(cmd, sizeof cmd, "printf '%%s exec\\n' '%s' >&%d", sentinel, fd);
	printf("exec\n");
	execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, env);
	perror("exec /bin/sh");
	return 1;
}

/* The receiver (no library): the descriptor that comes on sock gets
 * "SENTINEL scm\n". */
static int receive(int sock, const char *sentinel)
{
	char byte, line[256], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof cbuf };
	struct cmsghdr *h;
	int fd;

	if (recvmsg(sock, &m, 0) <= 0 || !(h = CMSG_FIRSTHDR(&m)) || h->cmsg_type != SCM_RIGHTS) {
		printf("receiver: nothing\n");
		return 0;
	}
	memcpy(&fd, CMSG_DATA(h), sizeof fd);
	snprintf(line, sizeof line, "%s scm\n", sentinel);
	printf("receiver: wrote %zd\n", write(fd, line, strlen(line)));
	return 0;
}

static int by_scm(int fd, const char *self)
{
	char num[16], byte = 0, cbuf[CMSG_SPACE(sizeof(int))];
	char *env[] = { (char *)"PATH=/usr/bin:/bin", NULL };
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof cbuf };
	struct cmsghdr *h;
	double end = fc_now() + 10;
	int sv[2], st = 0;
	pid_t pid;
	ssize_t r;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || (pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		close(sv[0]);
		snprintf(num, sizeof num, "%d", sv[1]);
		execle("/proc/self/exe", self, "receive", num, sentinel_arg, (char *)NULL, env);
		_exit(127);
	}
	close(sv[1]);
	memset(cbuf, 0, sizeof cbuf);
	h = CMSG_FIRSTHDR(&m);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof fd);
	r = sendmsg(sv[0], &m, 0);
	if (r < 0)
		printf("sendmsg: %s\n", fc_err(errno));
	else
		printf("sendmsg: %zd\n", r);
	close(sv[0]);
	while (waitpid(pid, &st, WNOHANG) == 0 && fc_now() < end) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	char line[256], num[16];
	ssize_t w;
	int fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5) {
		if ((fd = fc_connect("127.0.0.1", atoi(argv[1]))) < 0 || write_all(fd, "x", 1) < 0) {
			perror("connect");
			return 1;
		}
		snprintf(num, sizeof num, "%d", fd);
		if (setenv("LD_PRELOAD", argv[2], 1) < 0)
			return 1;
		execl("/proc/self/exe", argv[0], num, argv[3], argv[4], (char *)NULL);
		perror("exec");
		return 1;
	}
	if (argc == 4 && !strcmp(argv[1], "receive"))
		return receive(atoi(argv[2]), argv[3]);
	if (argc != 4 || (strcmp(argv[3], "aio") && strcmp(argv[3], "exec") && strcmp(argv[3], "scm"))) {
		fprintf(stderr, "usage: refused_conn PORT PRELOAD SENTINEL aio|exec|scm\n");
		return 2;
	}
	fd = atoi(argv[1]);
	snprintf(line, sizeof line, "%s write\n", argv[2]);
	w = write(fd, line, strlen(line));
	if (w < 0)
		printf("write: %s\n", fc_err(errno));
	else
		printf("write: %zd\n", w);
	sentinel_arg = argv[2];
	if (!strcmp(argv[3], "scm"))
		return by_scm(fd, argv[0]);
	return !strcmp(argv[3], "aio") ? by_aio(fd, argv[2]) : by_exec(fd, argv[2]);
}
