/* waitlines — tests/lib.sh's wait_for and tests/preload/common.inc's
 * wait_lines in one process instead of a grep and a sleep ten times a
 * second (those forks were about a fifth of the suite's test CPU).
 *
 *   waitlines [-i] [-p PID] FILE ERE N MS
 *
 * Until at least N lines of FILE match the extended regular expression
 * ERE (what "grep -c -E -e ERE FILE" counts; -i: case-blind, grep -i),
 * at most MS milliseconds.  Exit 0 as soon as they do; 1 at the time
 * limit (a missing or unreadable FILE counts as no line); 2 on a usage
 * error or a bad ERE (said on standard error).  -p PID: also 1 as soon as
 * process PID has ended (a zombie or gone) without the lines being there
 * (tests/interop/daemons.inc's wait_ready: a daemon that died).
 *
 * The whole file is read again at each look, as grep read it: a file
 * rewritten or truncated is seen as it is now, a last line without its
 * newline counts, and any number of waiters may watch one file.  A look
 * is made when inotify says that something in FILE's directory changed
 * (at most one look per 10 ms: a busy log does not cost a read per
 * write) and in any case every 100 ms, and only when FILE's identity,
 * size or modification time differ from the last look's, or 100 ms have
 * passed since it (a rewrite within one timestamp tick).
 */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "waitproc.h"

/* The number of lines of PATH that match RE, counting up to WANT. */
static long count_lines(const char *path, const regex_t *re, long want)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long n = 0;
	while (n < want && (len = getline(&line, &cap, f)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			len--;
		regmatch_t m = { .rm_so = 0, .rm_eo = len };
		if (regexec(re, line, 1, &m, REG_STARTEND) == 0)
			n++;
	}
	free(line);
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	int flags = REG_EXTENDED | REG_NOSUB;
	long pid = 0;
	for (;;) {
		if (argc > 1 && strcmp(argv[1], "-i") == 0) {
			flags |= REG_ICASE;
			argv++;
			argc--;
		} else if (argc > 2 && strcmp(argv[1], "-p") == 0) {
			char *e;
			pid = strtol(argv[2], &e, 10);
			if (*e || pid <= 0)
				argc = 0;       /* a usage error */
			argv += 2;
			argc -= 2;
		} else {
			break;
		}
	}
	char *end1, *end2;
	long want = argc == 5 ? strtol(argv[3], &end1, 10) : 0;
	long long ms = argc == 5 ? strtoll(argv[4], &end2, 10) : 0;
	if (argc != 5 || *end1 || *end2 || want < 0 || ms < 0) {
		fprintf(stderr, "usage: waitlines [-i] [-p PID] FILE ERE N MS\n");
		return 2;
	}
	if (want == 0)
		return 0;
	const char *path = argv[1];
	setlocale(LC_ALL, "");
	regex_t re;
	int rc = regcomp(&re, argv[2], flags);
	if (rc != 0) {
		char msg[256];
		regerror(rc, &re, msg, sizeof msg);
		fprintf(stderr, "waitlines: %s: %s\n", argv[2], msg);
		return 2;
	}

	/* inotify on FILE's directory: FILE may not exist yet, or be
	 * replaced by a rename.  Without it, the 100-ms looks remain. */
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in >= 0) {
		char dir[PATH_MAX];
		const char *slash = strrchr(path, '/');
		if (!slash)
			snprintf(dir, sizeof dir, ".");
		else if (slash == path)
			snprintf(dir, sizeof dir, "/");
		else
			snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
		if (inotify_add_watch(in, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO |
				      IN_CLOSE_WRITE | IN_ATTRIB) < 0) {
			close(in);
			in = -1;
		}
	}

	long long deadline = now_ms() + ms, last = 0;
	struct stat seen = { 0 };
	int looked = 0;
	for (;;) {
		long long t = now_ms();
		struct stat st;
		int have = stat(path, &st) == 0;
		int changed = !looked || t - last >= 100 || !have ||
			st.st_dev != seen.st_dev || st.st_ino != seen.st_ino ||
			st.st_size != seen.st_size ||
			st.st_mtim.tv_sec != seen.st_mtim.tv_sec ||
			st.st_mtim.tv_nsec != seen.st_mtim.tv_nsec;
		if (changed) {
			if (have)
				seen = st;
			looked = 1;
			last = t;
			if (have && count_lines(path, &re, want) >= want)
				return 0;
		}
		if (pid > 0 && !alive(pid))   /* a last look: its last words */
			return count_lines(path, &re, want) >= want ? 0 : 1;
		if (t >= deadline)
			return 1;
		long long wait = deadline - t < 100 ? deadline - t : 100;
		struct pollfd p = { .fd = in, .events = POLLIN };
		if (poll(&p, in >= 0, (int)wait) > 0) {
			char buf[4096];
			while (read(in, buf, sizeof buf) > 0)
				;
			/* coalesce a burst of writes into one look */
			struct timespec pause = { 0, 10 * 1000000 };
			if (deadline - now_ms() > 10)
				nanosleep(&pause, NULL);
		}
	}
}
