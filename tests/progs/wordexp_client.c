/* tests/progs/wordexp_client.c HOST PORT LINE MODE — wordexp() with a
 * command substitution that writes on this process's TLS connection.
 *
 * Connects to HOST:PORT (an echo peer) and exchanges "one" (the
 * connection is in use, its fd inheritable).  Then wordexp() of
 * "$(printf '%s\n' LINE >&FD; echo rc=$?)": the C library spawns /bin/sh
 * itself, and the shell writes LINE on the connection's number.  MODE:
 *   clean   LD_PRELOAD taken out of the environment first (the shell
 *           runs without the library);
 *   shim    the environment as it is (the shell runs the library);
 *   plain   wordexp() of "$HOME" instead (no shell runs).
 * Then writes "two\n" and reads until "two" came back.  Prints
 * "wordexp: R WORD" (R wordexp's answer, WORD the first word: "rc=0"
 * when the shell's write worked) and "second: ok" or "second: failed
 * ERRNO".  The peer must have received "one", LINE (not with plain),
 * "two", over TLS.  Knows nothing about TLS.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wordexp.h>

#include "fc_common.h"

/* Until "two" has come back (after whatever came before it): 0, or an
 * errno (ETIMEDOUT, EPIPE: the end first). */
static int read_two(int fd)
{
	char buf[512];
	ssize_t r = fc_read_until(fd, buf, sizeof buf, "two\n", 10000);

	return r >= 0 ? 0 : r == -1 ? errno : r == -2 ? ETIMEDOUT : EPIPE;
}

int main(int argc, char **argv)
{
	char words[512];
	wordexp_t we;
	int fd, r, e;

	if (argc != 5)
		return 64;
	if ((fd = dial_host("wordexp_client", argv[1], argv[2], AF_UNSPEC, SOCK_STREAM)) < 0)
		return 2;
	if (exchange_line(fd, stdout, "one\n", "first") < 0)
		return 2;
	if (strcmp(argv[4], "clean") == 0)
		unsetenv("LD_PRELOAD");
	if (strcmp(argv[4], "plain") == 0)
		snprintf(words, sizeof words, "$HOME");
	else
		snprintf(words, sizeof words, "$(printf '%%s\\n' '%s' >&%d; echo rc=$?)",
			 argv[3], fd);
	r = wordexp(words, &we, 0);
	printf("wordexp: %d %s\n", r, r == 0 && we.we_wordc ? we.we_wordv[0] : "-");
	if (r == 0)
		wordfree(&we);
	fflush(stdout);
	if (write_all(fd, "two\n", 4) < 0)
		printf("second: failed %d\n", errno);
	else if ((e = read_two(fd)) != 0)
		printf("second: failed %d\n", e);
	else
		printf("second: ok\n");
	close(fd);
	return 0;
}
