/* jail_server — a plain echo server that changes what paths name after it
 * started, as daemons that confine themselves do (tests/preload/jail.sh).
 *
 *   jail_server PORT chroot DIR        chroot(DIR), chdir("/")
 *   jail_server PORT mount DIR DST     unshare(CLONE_NEWNS), then DIR
 *                                      bind-mounted over DST
 *   jail_server PORT exec DIR PROG...  chroot(DIR), chdir("/"), then
 *                                      execv(PROG, PROG...) (no listening)
 *   jail_server PORT pass DIR NAME     listens, connects to the abstract
 *                                      unix socket NAME, writes
 *                                      DIR/proc/PID/maps (PID: the peer's)
 *                                      naming LD_PRELOAD's files, as if
 *                                      the peer ran them, chroot(DIR), then
 *                                      passes the listener with SCM_RIGHTS:
 *                                      "sent", or "sendmsg: ..." (exit 1)
 *   jail_server PORT connect DIR       chroot(DIR), chdir("/"), then a
 *                                      client: connects to 127.0.0.1:PORT,
 *                                      sends "SECRET-connect", prints
 *                                      "reply: ..." (exit 0) or why not (1)
 *   jail_server PORT log DIR LOGPATH   finds the library's descriptor of
 *                                      LOGPATH (/proc/self/fd), chroot(DIR),
 *                                      closes it with a raw close system
 *                                      call (x86_64; no wrapper sees it),
 *                                      then connects to 127.0.0.1:PORT (a
 *                                      deny rule's: the library logs):
 *                                      "closed fd N, connect: ERR" (exit 0)
 *
 * Listens on 127.0.0.1:PORT first ("listening" on standard output), then
 * confines itself ("jailed"), then for each connection: one read, written
 * back, closed.  Exit 1 with a line on standard error when a step fails.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"

static int die(const char *what)
{
	perror(what);
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int s;

	if (argc < 4)
		return fprintf(stderr, "usage: jail_server PORT chroot|mount|exec DIR [DST|PROG...]\n"), 2;
	if (!strcmp(argv[2], "exec")) {
		if (argc < 5)
			return 2;
		if (chroot(argv[3]) != 0 || chdir("/") != 0)
			return die("chroot");
		execv(argv[4], argv + 4);
		return die("execv");
	}
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!strcmp(argv[2], "log") && argc > 4) {
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;
		char link[PATH_MAX], p[300];
		int fd = -1;
		long r = -1;

		while (d && (e = readdir(d))) {
			ssize_t n;
			snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
			if ((n = readlink(p, link, sizeof link - 1)) > 0) {
				link[n] = 0;
				if (!strcmp(link, argv[4]))
					fd = atoi(e->d_name);
			}
		}
		if (d)
			closedir(d);
		if (fd < 0)
			return fprintf(stderr, "jail_server: no descriptor names %s\n", argv[4]), 1;
		if (chroot(argv[3]) != 0 || chdir("/") != 0)
			return die("chroot");
#if defined(__x86_64__)
		__asm__ volatile("syscall" : "=a"(r) : "0"(3L /* close */), "D"((long)fd) : "rcx", "r11", "memory");
#endif
		if (r != 0)
			return fprintf(stderr, "jail_server: raw close(%d): %ld\n", fd, r), 1;
		if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			return die("socket");
		r = connect(s, (struct sockaddr *)&a, sizeof a);
		printf("closed fd %d, connect: %s\n", fd, r == 0 ? "ok" : strerror(errno));
		return 0;
	}
	if (!strcmp(argv[2], "connect")) {
		static const char line[] = "SECRET-connect\n";
		char buf[256];
		size_t got = 0;
		ssize_t n;

		if (chroot(argv[3]) != 0 || chdir("/") != 0)
			return die("chroot");
		if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0)
			return die("connect");
		if (write(s, line, sizeof line - 1) != (ssize_t)sizeof line - 1)
			return die("write");
		while (got < sizeof buf - 1 && (n = read(s, buf + got, sizeof buf - 1 - got)) > 0) {
			got += (size_t)n;
			if (memchr(buf, '\n', got))
				break;
		}
		if (!got)
			return die("read");
		buf[got] = '\0';
		printf("reply: %s", buf);
		return 0;
	}
	if ((s = tcp_listen(&a, 0, 16)) < 0)
		return die("listen");
	printf("listening on port %s\n", argv[1]);
	fflush(stdout);
	if (!strcmp(argv[2], "pass") && argc > 4) {
		struct sockaddr_un u = { .sun_family = AF_UNIX };
		char path[4096], cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, *pl = getenv("LD_PRELOAD");
		struct iovec iov = { .iov_base = "L", .iov_len = 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		struct ucred cr;
		socklen_t l = sizeof cr;
		FILE *f;
		int us;

		snprintf(u.sun_path + 1, sizeof u.sun_path - 1, "%s", argv[4]);
		if ((us = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
		    connect(us, (struct sockaddr *)&u, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(argv[4]))) != 0 ||
		    getsockopt(us, SOL_SOCKET, SO_PEERCRED, &cr, &l) != 0)
			return die("unix connect");
		snprintf(path, sizeof path, "%s/proc/%d", argv[3], (int)cr.pid);
		mkdir(argv[3], 0755);
		snprintf(path, sizeof path, "%s/proc", argv[3]);
		mkdir(path, 0755);
		snprintf(path, sizeof path, "%s/proc/%d", argv[3], (int)cr.pid);
		mkdir(path, 0755);
		snprintf(path, sizeof path, "%s/proc/%d/maps", argv[3], (int)cr.pid);
		if (!(f = fopen(path, "w")))
			return die("maps");
		for (char *p = pl ? strtok(pl, " :") : NULL; p; p = strtok(NULL, " :"))
			fprintf(f, "7f0000000000-7f0000001000 r-xp 00000000 00:00 0 %s\n", p);
		fclose(f);
		if (chroot(argv[3]) != 0 || chdir("/") != 0)
			return die("chroot");
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &s, sizeof s);
		if (sendmsg(us, &m, 0) != 1)
			return die("sendmsg");
		printf("sent\n");
		return 0;
	}
	if (!strcmp(argv[2], "chroot")) {
		if (chroot(argv[3]) != 0 || chdir("/") != 0)
			return die("chroot");
	} else if (!strcmp(argv[2], "mount") && argc > 4) {
		if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount(argv[3], argv[4], NULL, MS_BIND, NULL) != 0)
			return die("mount");
	} else {
		return fprintf(stderr, "jail_server: unknown mode %s\n", argv[2]), 2;
	}
	printf("jailed\n");
	fflush(stdout);
	for (;;) {
		char buf[4096];
		ssize_t n;
		int c = accept(s, NULL, NULL);

		if (c < 0)
			continue;
		n = read(c, buf, sizeof buf);
		if (n > 0 && write(c, buf, (size_t)n) != n)
			perror("jail_server: write");
		else if (n < 0)
			perror("jail_server: read");
		else if (n == 0)
			fprintf(stderr, "jail_server: read: end of file\n");
		close(c);
	}
}
