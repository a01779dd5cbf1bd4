/* tests/progs/fdcount.h — a test program's descriptor count, for "nothing
 * leaked" checks (halfopen.c, emfile_server.c), and its eventfds
 * (cancel_client.c).
 * Eventfds are counted apart: a plain program has none of its own, and
 * the TLS library's per-thread wake-up eventfd is made at the thread's
 * first wait, whenever that comes (a read whose data is already there
 * does not wait; on a loaded machine a whole warm-up may not), so a count
 * taken before it and one after would differ by one with nothing leaked. */
#ifndef TLSSHIM_TESTS_FDCOUNT_H
#define TLSSHIM_TESTS_FDCOUNT_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The process's descriptors (not the directory's own), or -1; *evfds:
 * how many of them are eventfds, the first max of whose numbers go to
 * list (when not NULL). */
static inline int fds_scan(int *evfds, int *list, int max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	*evfds = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char p[300], l[64];
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		n++;
		snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
		k = readlink(p, l, sizeof l - 1);
		if (k > 0) {
			l[k] = 0;
			if (strstr(l, "eventfd")) {
				if (list && *evfds < max)
					list[*evfds] = atoi(e->d_name);
				++*evfds;
			}
		}
	}
	closedir(d);
	return n - 1;
}

static inline int fds_now(int *evfds)
{
	return fds_scan(evfds, NULL, 0);
}

/* The descriptors, eventfds left out. */
static inline int count_fds(void)
{
	int ev, n = fds_now(&ev);

	return n < 0 ? n : n - ev;
}

#endif
