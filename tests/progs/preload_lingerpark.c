/* preload_lingerpark.so — a test-only fault injector that holds the shim's
 * linger thread between copying its list of lingering sockets and
 * polling them (tests/preload/linger.sh, linger_dup2_during_poll).
 *
 * Loaded after libtlsshim.so, so that the library's poll() (found with
 * dlsym RTLD_NEXT) comes here.  With LINGERPARK_DIR set, the first poll of
 * the thread named tlsshim-linger that looks at lingering sockets (no
 * wait, its first entry asking POLLRDHUP) writes the number it is about to
 * poll to DIR/parked and waits (at most 60 s) for DIR/release to exist,
 * then polls.  The thread's next poll (its sleep: the answers have been
 * acted on) creates DIR/drained.  Every other poll goes straight through.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static int (*real_poll)(struct pollfd *, nfds_t, int);
static int state;               /* 0 armed, 1 released (next: drained), 2 done */

__attribute__((constructor)) static void init(void)
{
	real_poll = (int (*)(struct pollfd *, nfds_t, int))dlsym(RTLD_NEXT, "poll");
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof path, "%s/%s.tmp", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return;
	(void)!write(fd, text, strlen(text));
	close(fd);
	{
		char final[PATH_MAX];
		snprintf(final, sizeof final, "%s/%s", dir, name);
		rename(path, final);
	}
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	const char *dir = getenv("LINGERPARK_DIR");
	char name[16] = "";

	if (dir && state < 2 && prctl(PR_GET_NAME, name) == 0 && !strcmp(name, "tlsshim-linger")) {
		if (state == 1) {
			state = 2;
			put(dir, "drained", "");
		} else if (timeout == 0 && n >= 1 && (fds[0].events & POLLRDHUP)) {
			char text[32], rel[PATH_MAX];

			snprintf(text, sizeof text, "%d\n", fds[0].fd);
			put(dir, "parked", text);
			snprintf(rel, sizeof rel, "%s/release", dir);
			for (int i = 0; i < 6000 && access(rel, F_OK) != 0; i++) {
				struct timespec ts = { 0, 10 * 1000000 };
				nanosleep(&ts, NULL);
			}
			state = 1;
		}
	}
	return real_poll ? real_poll(fds, n, timeout) : -1;
}
