/* fc_log — programs that tidy their descriptors (class 9), as OpenSSH's
 * client and many daemons do, while the shim logs to TLSSHIM_LOG_FILE.
 *
 *   fc_log MODE IP PORT SENTINEL [LOGPATH FILE]
 *
 *   closefrom    closefrom(3) first thing, then a socket (it must get fd 3)
 *   close_range  close_range(3, ~0U, 0), then the same
 *   dup2file     find the fd that names LOGPATH (/proc/self/fd), dup2() FILE
 *                onto that number (must return it), write "PROGRAM DATA\n"
 *                through it, then connect
 *   dup2sock     connect, then dup2() the TLS socket onto that number and
 *                write through the copy
 *   stderr       (no TLSSHIM_LOG_FILE: the log goes to standard error)
 *                close(2) first thing: the socket gets fd 2
 *   stderr-reuse (no TLSSHIM_LOG_FILE) dup2() /dev/null onto fd 2, then
 *                close(2) and open FILE, which gets number 2; writes
 *                "PROGRAM DATA\n" through it (LOGPATH unused: "-")
 * Each then connects to IP:PORT, writes "SENTINEL MODE\n", reads its echo
 * and closes.  Prints "fd N", "log fd N", "step ...: ok|FAIL ..."; exit 0
 * when all steps worked.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>

#include "fc_common.h"

static int failures;

static void step(const char *name, bool ok, const char *why)
{
	printf("step %s: %s%s\n", name, ok ? "ok" : "FAIL ", ok ? "" : why);
	if (!ok)
		failures++;
}

/* The fd whose /proc/self/fd link names path, or -1. */
static int fd_of(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char link[PATH_MAX], p[300];
	int found = -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		ssize_t n;
		snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
		n = readlink(p, link, sizeof link - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (!strcmp(link, path))
			found = atoi(e->d_name);
	}
	closedir(d);
	return found;
}

static void exchange(int fd, const char *sentinel, const char *mode)
{
	char line[256], got[512];
	ssize_t r;

	snprintf(line, sizeof line, "%s %s\n", sentinel, mode);
	if (write_all(fd, line, strlen(line)) < 0) {
		snprintf(got, sizeof got, "write: %s", fc_err(errno));
		step("exchange", false, got);
		return;
	}
	r = fc_read_until(fd, got, sizeof got, line, 10000);
	step("exchange", r > 0 && !strcmp(got, line), got);
}

int main(int argc, char **argv)
{
	const char *mode, *ip, *sentinel;
	int port, fd, logfd = -1;
	char why[300];

	if (argc != 5 && argc != 7) {
		fprintf(stderr, "usage: fc_log MODE IP PORT SENTINEL [LOGPATH FILE]\n");
		return 2;
	}
	mode = argv[1];
	ip = argv[2];
	port = atoi(argv[3]);
	sentinel = argv[4];
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "stderr"))
		close(2);
	else if (!strcmp(mode, "closefrom"))
		closefrom(3);
	else if (!strcmp(mode, "close_range"))
		close_range(3, ~0U, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 7) {
		logfd = fd_of(argv[5]);
		printf("log fd %d\n", logfd);
	}
	if (!strcmp(mode, "stderr-reuse")) {
		int n = open("/dev/null", O_WRONLY), f, r;

		r = n < 0 ? -1 : dup2(n, 2);
		snprintf(why, sizeof why, "dup2 returned %d (%s)", r, fc_err(errno));
		step("dup2-onto-stderr", r == 2, why);
		close(n);
		close(2);
		f = open(argv[6], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		snprintf(why, sizeof why, "open returned %d (%s)", f, fc_err(errno));
		step("file-is-fd-2", f == 2, why);
		r = (int)write(2, "PROGRAM DATA\n", 13);
		snprintf(why, sizeof why, "write returned %d (%s)", r, fc_err(errno));
		step("write-through-it", r == 13, why);
	}
	if (!strcmp(mode, "dup2file")) {
		int f = open(argv[6], O_WRONLY | O_CREAT | O_TRUNC, 0600), r;
		if (logfd < 0 || f < 0) {
			step("dup2-onto-log-fd", false, "no log fd, or cannot open FILE");
			return 1;
		}
		r = dup2(f, logfd);
		snprintf(why, sizeof why, "dup2 returned %d (%s)", r, fc_err(errno));
		step("dup2-onto-log-fd", r == logfd, why);
		close(f);
		r = (int)write(logfd, "PROGRAM DATA\n", 13);
		snprintf(why, sizeof why, "write returned %d (%s)", r, fc_err(errno));
		step("write-through-it", r == 13, why);
	}
	fd = fc_connect(ip, port);
	printf("fd %d\n", fd);
	if (fd < 0) {
		snprintf(why, sizeof why, "connect: %s", fc_err(errno));
		step("connect", false, why);
		return 1;
	}
	if ((!strcmp(mode, "closefrom") || !strcmp(mode, "close_range")) && fd != 3) {
		snprintf(why, sizeof why, "the socket is fd %d, not 3", fd);
		step("socket-is-fd-3", false, why);
	}
	if (!strcmp(mode, "stderr") && fd != 2) {
		snprintf(why, sizeof why, "the socket is fd %d, not 2", fd);
		step("socket-is-fd-2", false, why);
	}
	if (!strcmp(mode, "dup2sock")) {
		int r = logfd < 0 ? -1 : dup2(fd, logfd);
		snprintf(why, sizeof why, "dup2 returned %d (%s)", r, fc_err(errno));
		step("dup2-socket-onto-log-fd", logfd >= 0 && r == logfd, why);
		if (r == logfd) {
			exchange(logfd, sentinel, "through-the-copy");
			close(logfd);
		}
	}
	exchange(fd, sentinel, mode);
	close(fd);
	return failures ? 1 : 0;
}
